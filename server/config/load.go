package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/floemail/floe/tomldoc"
)

// Limits on the config file Load reads.
const (
	MaxFileSize     = 4 << 20
	MaxKeysPerTable = 10000
	maxReported     = 100 // errors listed before "N more errors not shown"
)

// Load reads the TOML file at path over a copy of base (nil means
// Production()), validates the result and returns it. Settings missing from
// the file keep base's values; a [[domain]], [[account]], [[alias]] or
// [[group]] list present in the file replaces base's list of that kind.
//
// On any problem Load returns a nil Config and a *Errors holding every
// problem found (syntax errors stop at the first one), each with the file,
// the line and a reason. The returned Config has File set to path and is
// normalised as by Validate.
func Load(path string, base *Config) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Errors{List: []*Error{{File: path, Reason: fileErrReason(err)}}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Errors{List: []*Error{{File: path, Reason: fileErrReason(err)}}}
	}
	if len(data) > MaxFileSize {
		return nil, &Errors{List: []*Error{{File: path, Reason: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}}
	}
	return parse(path, data, base)
}

func fileErrReason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "cannot read config file: " + err.Error()
}

// parse is Load after reading the file; name is used in errors.
func parse(name string, data []byte, base *Config) (*Config, error) {
	if base == nil {
		base = Production()
	}
	errs := &Errors{}
	pos, crowded := indexPositions(data)
	if crowded != nil {
		// go-toml's duplicate-key check is quadratic in the number of keys
		// of one table; refuse absurd tables before decoding.
		crowded.File = name
		errs.List = append(errs.List, crowded)
		return nil, errs
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: name, Reason: strings.TrimPrefix(err.Error(), "toml: ")}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			e.Line, e.Column = de.Position()
		}
		if e.Reason == "" {
			e.Reason = "syntax error"
		}
		errs.List = append(errs.List, e)
		return nil, errs
	}
	c := base.Clone()
	c.File = name
	d := &decoder{file: name, pos: pos, errs: errs}
	d.decodeStruct("", doc, reflect.ValueOf(c).Elem())
	c.validate(errs, pos)
	errs.sort()
	if n := len(errs.List); n > maxReported {
		errs.List = append(errs.List[:maxReported:maxReported], &Error{
			File: name, Reason: fmt.Sprintf("%d more errors not shown", n-maxReported),
		})
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// sort orders the problems by line; problems without a line go last.
func (e *Errors) sort() {
	sort.SliceStable(e.List, func(i, j int) bool {
		a, b := e.List[i].Line, e.List[j].Line
		if a == 0 || b == 0 {
			return a != 0 && b == 0
		}
		return a < b
	})
}

// positions maps a key path ("smtp.max_recipients", "account[1].address")
// to the 1-based line where it is written.
type positions tomldoc.Positions

// line returns the line of path. A setting inside a [[table]] entry that
// is not written in the file is reported at the entry's line; other
// settings not written in the file have no line (0).
func (p positions) line(path string) int {
	if p == nil {
		return 0
	}
	if l, ok := p[path]; ok {
		return l
	}
	if i := strings.LastIndexByte(path, ']'); i > 0 {
		return p[path[:i+1]]
	}
	return 0
}

// has reports whether path is written in the file.
func (p positions) has(path string) bool {
	_, ok := p[path]
	return ok
}

// joinKey appends one key part to a dotted path, quoting parts that are
// not bare TOML keys.
func joinKey(prefix, part string) string {
	if !isBareKey(part) {
		part = strconv.Quote(part)
	}
	if prefix == "" {
		return part
	}
	return prefix + "." + part
}

func indexKey(prefix string, i int) string { return tomldoc.Elem(prefix, i) }

func isBareKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// indexPositions records the line of every table header, key and array
// element of a syntactically valid document (up to the first syntax
// error), keys joined as joinKey does. It also returns an error (without
// File) for the first table with more than MaxKeysPerTable keys.
func indexPositions(data []byte) (positions, *Error) {
	pos, crowded := tomldoc.Lines(data, tomldoc.Options{Join: joinKey, MaxKeysPerTable: MaxKeysPerTable})
	return positions(pos), (*Error)(crowded)
}

// decoder assigns a generic TOML document to a Config, collecting every
// unknown key and type error instead of stopping at the first.
type decoder struct {
	file string
	pos  positions
	errs *Errors
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs.List = append(d.errs.List, &Error{
		File: d.file, Line: d.pos.line(path), Key: path,
		Reason: fmt.Sprintf(format, args...),
	})
}

// tomlFields maps the toml tag names of struct type t to field indexes.
func tomlFields(t reflect.Type) (names []string, index map[string]int) {
	index = map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		names = append(names, tag)
		index[tag] = i
	}
	return names, index
}

func (d *decoder) decodeStruct(path string, m map[string]any, v reflect.Value) {
	names, index := tomlFields(v.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := joinKey(path, k)
		i, ok := index[k]
		if !ok {
			e := &Error{File: d.file, Line: d.pos.line(p), Reason: fmt.Sprintf("unknown key %q", p)}
			if s := tomldoc.Suggest(k, names); s != "" {
				e.Reason += fmt.Sprintf(" (did you mean %q?)", joinKey(path, s))
			}
			d.errs.List = append(d.errs.List, e)
			continue
		}
		d.decodeValue(p, m[k], v.Field(i))
	}
}

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[Duration]()
)

func (d *decoder) decodeValue(path string, raw any, v reflect.Value) {
	if d.decodeRules(path, raw, v) {
		return
	}
	switch v.Type() {
	case sizeType:
		switch x := raw.(type) {
		case int64:
			if x < 0 {
				d.fail(path, "size must not be negative")
				return
			}
			v.SetInt(x)
		case string:
			s, err := ParseSize(x)
			if err != nil {
				d.fail(path, "%s", err)
				return
			}
			v.SetInt(int64(s))
		default:
			d.fail(path, `expected a size (a number of bytes or a string such as "50MiB"), got %s`, describe(raw))
		}
		return
	case durationType:
		x, ok := raw.(string)
		if !ok {
			if n, isInt := raw.(int64); isInt {
				d.fail(path, `expected a duration string with a unit, e.g. "%ds" or "%dm", got an integer`, n, n)
				return
			}
			d.fail(path, `expected a duration string such as "30s" or "5m", got %s`, describe(raw))
			return
		}
		t, err := ParseDuration(x)
		if err != nil {
			d.fail(path, "%s", err)
			return
		}
		v.SetInt(int64(t))
		return
	}
	switch v.Kind() {
	case reflect.String:
		x, ok := raw.(string)
		if !ok {
			d.fail(path, "expected a string, got %s", describe(raw))
			return
		}
		v.SetString(x)
	case reflect.Bool:
		x, ok := raw.(bool)
		if !ok {
			d.fail(path, "expected true or false, got %s", describe(raw))
			return
		}
		v.SetBool(x)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x, ok := raw.(int64)
		if !ok {
			d.fail(path, "expected an integer, got %s", describe(raw))
			return
		}
		if v.OverflowInt(x) {
			d.fail(path, "integer %d is out of range", x)
			return
		}
		v.SetInt(x)
	case reflect.Float64:
		switch x := raw.(type) {
		case float64:
			v.SetFloat(x)
		case int64:
			v.SetFloat(float64(x))
		default:
			d.fail(path, "expected a number, got %s", describe(raw))
		}
	case reflect.Struct:
		x, ok := raw.(map[string]any)
		if !ok {
			d.fail(path, "expected a table, got %s", describe(raw))
			return
		}
		d.decodeStruct(path, x, v)
	case reflect.Slice:
		x, ok := raw.([]any)
		if !ok {
			if v.Type().Elem().Kind() == reflect.Struct {
				d.fail(path, "expected an array of tables ([[%s]]), got %s", path, describe(raw))
			} else {
				d.fail(path, "expected an array, got %s", describe(raw))
			}
			return
		}
		s := reflect.MakeSlice(v.Type(), len(x), len(x))
		for i, e := range x {
			d.decodeValue(indexKey(path, i), e, s.Index(i))
		}
		v.Set(s)
	default:
		// A field type this decoder does not know is a programming error
		// in this package; report it rather than panic.
		d.fail(path, "setting of unsupported type %s", v.Type())
	}
}

// describe names the TOML type of a decoded value, without its content
// (values may be secrets).
func describe(v any) string { return tomldoc.TypeName(v) }
