package rules

import "github.com/floemail/floe/tomldoc"

// Error is one problem in a rule document: the file, the 1-based line
// (0 when unknown), the key path ("rules[2].conditions[0].regex", array
// indexes 0-based) and the reason (Column is not used by rule documents).
// It is its own type (not server/config's) so that errors.As tells a rule
// problem from a config problem.
type Error tomldoc.Error

// Error formats the problem as "FILE:LINE: KEY: REASON", leaving out the
// parts that are empty.
func (e *Error) Error() string { return (*tomldoc.Error)(e).Error() }

// Errors is every problem found in one document (never empty when
// returned as an error).
type Errors struct {
	List []*Error
}

// Error joins the problems, one per line.
func (e *Errors) Error() string { return tomldoc.JoinErrors(e.List) }

// Unwrap returns the individual problems.
func (e *Errors) Unwrap() []error { return tomldoc.UnwrapErrors(e.List) }

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
