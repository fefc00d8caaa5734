package tomldoc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
)

// TypeName names the type of a value as toml.Unmarshal or encoding/json
// (with UseNumber) decode it into an any, without its content (values may
// be secrets): "a string", "an integer", "a float", "a number"
// (json.Number), "a boolean", "an array", "a table", "null", "a date/time".
func TypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "null"
	default:
		if IsDateTime(v) {
			return "a date/time"
		}
		return fmt.Sprintf("a %T", v)
	}
}

// IsDateTime reports whether v is one of TOML's date and time values.
func IsDateTime(v any) bool {
	switch v.(type) {
	case time.Time, toml.LocalDate, toml.LocalTime, toml.LocalDateTime:
		return true
	}
	return false
}

// Suggest returns the name in names closest to the unknown key k (compared
// in lower case) when it is a likely typo (edit distance below 3), or "".
func Suggest(k string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := EditDistance(strings.ToLower(k), n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, in bytes; a
// string longer than 64 bytes is far from everything (1<<30), which keeps
// the cost bounded.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Join appends key to the dotted path prefix as it is ("" prefix: key).
func Join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// Elem is the path of element i of the array at path: "path[i]".
func Elem(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
