package tomldoc

import (
	"strconv"
	"strings"
)

// Error is one problem in a document. Packages declare their own error
// type on it (type Error tomldoc.Error) so that errors.As tells them apart
// while the formatting stays one.
type Error struct {
	// File is the document's name ("" when it has none).
	File string
	// Line is the 1-based line the problem is about, 0 when unknown or
	// not about something written in the document.
	Line int
	// Column is the 1-based column of a syntax error, 0 otherwise.
	Column int
	// Key is the dotted path of the key ("smtp.max_recipients",
	// "rules[2].conditions[0].regex"); "" for syntax errors and
	// document-level problems.
	Key string
	// Reason says what is wrong and, where it helps, what to do.
	Reason string
}

// Error formats the problem as "FILE:LINE: KEY: REASON", leaving out the
// parts that are empty ("FILE:LINE:COLUMN: REASON" for syntax errors;
// "line LINE: ..." when there is no file).
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

// JoinErrors is the text of a list of problems: each one's Error, one per
// line (for the Error method of a package's list type).
func JoinErrors[E error](list []E) string {
	lines := make([]string, len(list))
	for i, x := range list {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// UnwrapErrors returns list as []error (for the Unwrap method of a
// package's list type, so that errors.Is/As see every problem).
func UnwrapErrors[E error](list []E) []error {
	errs := make([]error, len(list))
	for i, x := range list {
		errs[i] = x
	}
	return errs
}
