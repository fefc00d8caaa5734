package tomldoc

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Positions maps a key path ("smtp.max_recipients", "account[1].address",
// "rules[1].conditions[0].regex") to the 1-based line where it is written.
// What a path that is not written maps to is the reader's choice (its own
// line method): Positions only records what is in the document.
type Positions map[string]int

// Options tune Lines.
type Options struct {
	// Join appends one key to a path; nil means Join (keys as written,
	// unquoted).
	Join func(prefix, key string) string
	// MaxKeysPerTable, when positive, makes Lines report the first table
	// with more distinct keys than this (go-toml's duplicate-key check is
	// quadratic in the keys of one table: a reader refuses such a
	// document before decoding it).
	MaxKeysPerTable int
}

// Lines records the line of every table header, key and array element of a
// syntactically valid TOML document (up to the first syntax error). It
// uses go-toml's AST (package unstable) only for positions; values come
// from toml.Unmarshal. An array of tables' entries are path[0], path[1]...
// and a key under one belongs to its last entry so far. Positions are best
// effort: a parser surprise gives an empty map, never a panic.
//
// crowded is the first table with more than opts.MaxKeysPerTable keys
// (Line and Reason set, File not), nil when there is none or no limit.
func Lines(data []byte, opts Options) (pos Positions, crowded *Error) {
	pos = Positions{}
	defer func() {
		if recover() != nil {
			pos, crowded = Positions{}, nil
		}
	}()
	join := opts.Join
	if join == nil {
		join = Join
	}
	starts := []int{0} // offsets where lines begin
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	lineOf := func(off uint32) int {
		return sort.Search(len(starts), func(i int) bool { return starts[i] > int(off) })
	}
	set := func(path string, line int) {
		if _, ok := pos[path]; !ok {
			pos[path] = line
		}
	}
	keys := map[string]int{} // table path -> number of distinct keys
	// newKey counts a key of table prefix that is not yet in pos.
	newKey := func(prefix, path string, line int) {
		if opts.MaxKeysPerTable <= 0 {
			return
		}
		if _, ok := pos[path]; ok {
			return
		}
		keys[prefix]++
		if keys[prefix] > opts.MaxKeysPerTable && crowded == nil {
			where := strconv.Quote(prefix)
			if prefix == "" {
				where = "the top level"
			}
			crowded = &Error{Line: line, Reason: fmt.Sprintf("more than %d keys in %s", opts.MaxKeysPerTable, where)}
		}
	}
	counts := map[string]int{} // array-of-tables path -> entries seen

	// keyPath resolves a (dotted) key under prefix, recording every
	// intermediate table; array tables resolve to their last entry.
	keyPath := func(prefix string, it unstable.Iterator) (path string, line int) {
		path = prefix
		for it.Next() {
			n := it.Node()
			line = lineOf(n.Raw.Offset)
			parent := path
			path = join(path, string(n.Data))
			newKey(parent, path, line)
			if c := counts[path]; c > 0 && !it.IsLast() {
				path = Elem(path, c-1)
			}
			set(path, line)
		}
		return path, line
	}
	var value func(path string, v *unstable.Node, line int)
	value = func(path string, v *unstable.Node, line int) {
		if v.Raw.Length > 0 {
			line = lineOf(v.Raw.Offset)
		}
		set(path, line)
		switch v.Kind {
		case unstable.Array:
			i := 0
			for it := v.Children(); it.Next(); {
				if it.Node().Kind == unstable.Comment {
					continue
				}
				value(Elem(path, i), it.Node(), line)
				i++
			}
		case unstable.InlineTable:
			for it := v.Children(); it.Next(); {
				kv := it.Node()
				if kv.Kind != unstable.KeyValue {
					continue
				}
				p, l := keyPath(path, kv.Key())
				value(p, kv.Value(), l)
			}
		}
	}

	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table, _ = keyPath("", e.Key())
		case unstable.ArrayTable:
			path, line := keyPath("", e.Key())
			n := counts[path]
			counts[path] = n + 1
			table = Elem(path, n)
			set(table, line)
		case unstable.KeyValue:
			path, line := keyPath(table, e.Key())
			value(path, e.Value(), line)
		}
	}
	return pos, crowded
}
