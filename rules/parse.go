package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/floemail/floe/tomldoc"
)

// MaxDocument is the largest rule document ParseTOML and ParseJSON read.
const MaxDocument = 1 << 20

// Limits on one document.
const (
	MaxRules      = 1000 // rules in one scope
	MaxConditions = 100  // conditions in one rule
	MaxActions    = 100  // actions in one rule
	MaxString     = 64 << 10
)

// ParseTOML reads a rule document in TOML ([[rules]] tables, [forwarder],
// [responder]). name is used in errors. The result is decoded and checked
// key by key but not compiled: call Compile with the returned Source.
func ParseTOML(name string, data []byte) (*Settings, Source, error) {
	src := Source{File: name}
	if len(data) > MaxDocument {
		return nil, src, &Errors{List: []*Error{{File: name, Reason: fmt.Sprintf("document is larger than %d bytes", MaxDocument)}}}
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: name, Reason: strings.TrimPrefix(err.Error(), "toml: ")}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			e.Line, _ = de.Position()
		}
		return nil, src, &Errors{List: []*Error{e}}
	}
	src.Line = tomlPositions(data).line
	s, err := Decode(doc, src)
	return s, src, err
}

// ParseJSON reads a rule document in JSON, with the same keys as TOML.
func ParseJSON(name string, data []byte) (*Settings, Source, error) {
	src := Source{File: name}
	if len(data) > MaxDocument {
		return nil, src, &Errors{List: []*Error{{File: name, Reason: fmt.Sprintf("document is larger than %d bytes", MaxDocument)}}}
	}
	pos, doc, err := jsonDocument(data)
	if err != nil {
		e := &Error{File: name, Reason: "invalid JSON: " + err.Error()}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			e.Line = lineAt(data, int(se.Offset))
		} else if l, ok := err.(*jsonLineError); ok {
			e.Line, e.Reason = l.line, "invalid JSON: "+l.msg
		} else if errors.Is(err, io.ErrUnexpectedEOF) {
			e.Line = lineAt(data, len(data))
		}
		return nil, src, &Errors{List: []*Error{e}}
	}
	src.Line = pos.line
	s, derr := Decode(doc, src)
	return s, src, derr
}

// Parse reads a document whose format is told by its first non-blank
// character: "{" is JSON, anything else TOML.
func Parse(name string, data []byte) (*Settings, Source, error) {
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return ParseJSON(name, data)
	}
	return ParseTOML(name, data)
}

// MarshalTOML writes s as a TOML document that ParseTOML reads back.
func MarshalTOML(s *Settings) ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.SetIndentTables(true)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MarshalJSON writes s as an indented JSON document that ParseJSON reads
// back.
func MarshalJSON(s *Settings) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Decode assigns a generic document (as toml.Unmarshal or encoding/json
// produce it: maps, slices, strings, numbers, booleans) to Settings,
// collecting every unknown key and wrong type with its line from src.
// It is used by ParseTOML/ParseJSON and by the config loader for the
// [[rules]] tables of the config file.
func Decode(doc map[string]any, src Source) (*Settings, error) {
	var s Settings
	d := &errs{src: src}
	decodeStruct(d, "", doc, reflect.ValueOf(&s).Elem())
	if len(s.Rules) > MaxRules {
		d.add("rules", fmt.Sprintf("more than %d rules", MaxRules))
	}
	for i, r := range s.Rules {
		p := "rules[" + strconv.Itoa(i) + "]"
		if len(r.Conditions) > MaxConditions {
			d.add(p+".conditions", fmt.Sprintf("more than %d conditions", MaxConditions))
		}
		if len(r.Actions) > MaxActions {
			d.add(p+".actions", fmt.Sprintf("more than %d actions", MaxActions))
		}
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeRules decodes a list of rules (the value of a "rules" key) that
// sits at path in a larger document (the config loader's [[rules]] inside
// [[domain]] and [[account]] tables): src.Prefix should end with "."
// before "rules".
func DecodeRules(list []any, src Source) ([]Rule, error) {
	s, err := Decode(map[string]any{"rules": list}, src)
	if err != nil {
		return nil, err
	}
	return s.Rules, nil
}

func fieldNames(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		names = append(names, tag)
		index[tag] = i
	}
	return names, index
}

func decodeStruct(d *errs, path string, m map[string]any, v reflect.Value) {
	names, index := fieldNames(v.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := tomldoc.Join(path, k)
		i, ok := index[k]
		if !ok {
			reason := fmt.Sprintf("unknown key %q", k)
			if s := tomldoc.Suggest(k, names); s != "" {
				reason += fmt.Sprintf(" (did you mean %q?)", s)
			}
			d.add(p, reason)
			continue
		}
		decodeValue(d, p, m[k], v.Field(i))
	}
}

func decodeValue(d *errs, path string, raw any, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		n := reflect.New(v.Type().Elem())
		decodeValue(d, path, raw, n.Elem())
		v.Set(n)
	case reflect.String:
		x, ok := raw.(string)
		if !ok {
			d.add(path, "expected a string, got "+describe(raw))
			return
		}
		if len(x) > MaxString {
			d.add(path, fmt.Sprintf("string longer than %d bytes", MaxString))
			return
		}
		v.SetString(x)
	case reflect.Bool:
		x, ok := raw.(bool)
		if !ok {
			d.add(path, "expected true or false, got "+describe(raw))
			return
		}
		v.SetBool(x)
	case reflect.Int:
		n, ok := toFloat(raw)
		if !ok || n != float64(int64(n)) || n < -1e9 || n > 1e9 {
			d.add(path, "expected an integer, got "+describe(raw))
			return
		}
		v.SetInt(int64(n))
	case reflect.Float64:
		n, ok := toFloat(raw)
		if !ok {
			d.add(path, "expected a number, got "+describe(raw))
			return
		}
		v.SetFloat(n)
	case reflect.Struct:
		x, ok := raw.(map[string]any)
		if !ok {
			d.add(path, "expected a table, got "+describe(raw))
			return
		}
		decodeStruct(d, path, x, v)
	case reflect.Slice:
		x, ok := raw.([]any)
		if !ok {
			// A single string where a list of strings is expected.
			if s, isStr := raw.(string); isStr && v.Type().Elem().Kind() == reflect.String {
				x = []any{s}
			} else {
				d.add(path, "expected an array, got "+describe(raw))
				return
			}
		}
		s := reflect.MakeSlice(v.Type(), len(x), len(x))
		for i, e := range x {
			decodeValue(d, path+"["+strconv.Itoa(i)+"]", e, s.Index(i))
		}
		v.Set(s)
	default:
		d.add(path, "setting of unsupported type "+v.Type().String())
	}
}

func toFloat(raw any) (float64, bool) {
	switch x := raw.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// describe names the type of a decoded value without its content: as
// tomldoc.TypeName, but TOML floats are "a number" like JSON's, and a TOML
// date says to write dates as strings.
func describe(v any) string {
	if _, ok := v.(float64); ok {
		return "a number"
	}
	if tomldoc.IsDateTime(v) {
		return `a date/time (write dates as strings, "2026-06-18")`
	}
	return tomldoc.TypeName(v)
}

// positions maps a key path ("rules[1].conditions[0].regex") to its line.
type positions tomldoc.Positions

// line returns the line of path, or of its nearest written ancestor.
func (p positions) line(path string) int {
	for path != "" {
		if l, ok := p[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// tomlPositions records the line of every table, key and array element of
// a valid TOML document (keys as written, unquoted, as decodeStruct joins
// them).
func tomlPositions(data []byte) positions {
	pos, _ := tomldoc.Lines(data, tomldoc.Options{})
	return positions(pos)
}

type jsonLineError struct {
	line int
	msg  string
}

func (e *jsonLineError) Error() string { return e.msg }

// maxJSONDepth bounds the nesting of a JSON document.
const maxJSONDepth = 32

// jsonDocument decodes a JSON object into generic values (numbers as
// json.Number) and records the line of every key and array element.
func jsonDocument(data []byte) (positions, map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	pos := positions{}
	var value func(path string, depth int) (any, error)
	value = func(path string, depth int) (any, error) {
		if depth > maxJSONDepth {
			return nil, &jsonLineError{lineAt(data, int(dec.InputOffset())), "nested too deeply"}
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if path != "" {
			if _, ok := pos[path]; !ok {
				pos[path] = lineAt(data, int(dec.InputOffset()))
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				m := map[string]any{}
				for dec.More() {
					kt, err := dec.Token()
					if err != nil {
						return nil, err
					}
					k, _ := kt.(string)
					p := tomldoc.Join(path, k)
					pos[p] = lineAt(data, int(dec.InputOffset()))
					if _, dup := m[k]; dup {
						return nil, &jsonLineError{pos[p], fmt.Sprintf("duplicate key %q", k)}
					}
					v, err := value(p, depth+1)
					if err != nil {
						return nil, err
					}
					m[k] = v
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				return m, nil
			case '[':
				var a []any
				for dec.More() {
					v, err := value(path+"["+strconv.Itoa(len(a))+"]", depth+1)
					if err != nil {
						return nil, err
					}
					a = append(a, v)
				}
				if _, err := dec.Token(); err != nil {
					return nil, err
				}
				if a == nil {
					a = []any{}
				}
				return a, nil
			}
			return nil, fmt.Errorf("unexpected %v", t)
		default:
			return t, nil
		}
	}
	v, err := value("", 0)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, &jsonLineError{1, "the document must be an object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, &jsonLineError{lineAt(data, int(dec.InputOffset())), "data after the object"}
	}
	return pos, m, nil
}
