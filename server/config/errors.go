package config

import (
	"strconv"
	"strings"
)

// Error is one problem in a configuration.
type Error struct {
	// File is the config file ("" for a config not loaded from a file).
	File string
	// Line is the 1-based line in File the problem is about, 0 when it is
	// not about something written in the file (for example a default).
	Line int
	// Column is the 1-based column of a syntax error, 0 otherwise.
	Column int
	// Key is the dotted path of the setting, e.g. "smtp.max_recipients" or
	// "account[1].address" (array indexes are 0-based); "" for syntax
	// errors and file-level problems.
	Key string
	// Reason says what is wrong and, where it helps, what to do.
	Reason string
}

// Error formats the problem as "FILE:LINE: KEY: REASON", leaving out the
// parts that are empty ("FILE:LINE:COLUMN: REASON" for syntax errors).
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteByte(':')
				b.WriteString(strconv.Itoa(e.Column))
			}
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

// Errors is every problem found in one configuration, in file order where
// lines are known. Load and Validate return a *Errors (never an empty
// one) as their error.
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

// Unwrap returns the individual problems (for errors.Is/As).
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, x := range e.List {
		errs[i] = x
	}
	return errs
}

// err returns e as an error, or nil when it holds no problems.
func (e *Errors) err() error {
	if e == nil || len(e.List) == 0 {
		return nil
	}
	return e
}
