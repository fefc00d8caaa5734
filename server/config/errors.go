package config

import "github.com/floemail/floe/tomldoc"

// Error is one problem in a configuration: File is the config file (""
// for a config not loaded from a file); Line the 1-based line in File the
// problem is about, 0 when it is not about something written in the file
// (for example a default); Column the 1-based column of a syntax error, 0
// otherwise; Key the dotted path of the setting, e.g.
// "smtp.max_recipients" or "account[1].address" (array indexes 0-based),
// "" for syntax errors and file-level problems; Reason what is wrong and,
// where it helps, what to do. It is its own type (not the rules
// package's) so that errors.As tells a config problem from a rule problem.
type Error tomldoc.Error

// Error formats the problem as "FILE:LINE: KEY: REASON", leaving out the
// parts that are empty ("FILE:LINE:COLUMN: REASON" for syntax errors).
func (e *Error) Error() string { return (*tomldoc.Error)(e).Error() }

// Errors is every problem found in one configuration, in file order where
// lines are known. Load and Validate return a *Errors (never an empty
// one) as their error.
type Errors struct {
	List []*Error
}

// Error joins the problems, one per line.
func (e *Errors) Error() string { return tomldoc.JoinErrors(e.List) }

// Unwrap returns the individual problems (for errors.Is/As).
func (e *Errors) Unwrap() []error { return tomldoc.UnwrapErrors(e.List) }

// err returns e as an error, or nil when it holds no problems.
func (e *Errors) err() error {
	if e == nil || len(e.List) == 0 {
		return nil
	}
	return e
}
