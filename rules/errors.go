package rules

import (
	"strconv"
	"strings"
)

// Error is one problem in a rule document: the file, the 1-based line
// (0 when unknown), the key path ("rules[2].conditions[0].regex", array
// indexes 0-based) and the reason.
type Error struct {
	File   string
	Line   int
	Key    string
	Reason string
}

// Error formats the problem as "FILE:LINE: KEY: REASON", leaving out the
// parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Errors is every problem found in one document (never empty when
// returned as an error).
type Errors struct {
	List []*Error
}

// Error joins the problems, one per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, x := range e.List {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, x := range e.List {
		errs[i] = x
	}
	return errs
}

// maxErrors is how many problems one document reports.
const maxErrors = 100

// Source says where a document comes from, for error messages: the file
// name, a function giving the line of a key path (nil: no lines), and a
// prefix put before every key path (e.g. "domain[0]." for rules inside a
// [[domain]] table of the config file).
type Source struct {
	File   string
	Line   func(path string) int
	Prefix string
}

// errs collects problems against a Source.
type errs struct {
	src  Source
	list []*Error
}

func (e *errs) add(path, reason string) {
	if len(e.list) >= maxErrors {
		return
	}
	full := e.src.Prefix + path
	line := 0
	if e.src.Line != nil {
		line = e.src.Line(full)
	}
	e.list = append(e.list, &Error{File: e.src.File, Line: line, Key: full, Reason: reason})
}

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return &Errors{List: e.list}
}
