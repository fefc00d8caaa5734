package pop3

import (
	"errors"
	"strconv"
	"strings"
)

// Line limits.
const (
	// maxCommandLine bounds a command line including CRLF. RFC 2449 section
	// 4 sets 255 octets for commands; Floe accepts up to 512 (the response
	// limit) to be lenient with long user names and AUTH initial responses.
	maxCommandLine = 512
	// maxSASLLine bounds one client line of an AUTH exchange (RFC 5034
	// section 4 puts no limit on it; a PLAIN response with the longest
	// user name and password Floe accepts fits easily).
	maxSASLLine = 8192
)

// Parse errors.
var (
	errEmptyCommand = errors.New("empty command")
	errBadKeyword   = errors.New("invalid command keyword")
	errBadBytes     = errors.New("control characters in command")
)

// command is one parsed command line.
type command struct {
	// verb is the keyword in upper case (RFC 1939 section 3: keywords are
	// case-insensitive, three or four characters).
	verb string
	// args are the space-separated arguments (empty ones dropped).
	args []string
	// rest is everything after the keyword and one space, unchanged. PASS
	// uses it, since a password may contain spaces (RFC 1939 section 7).
	rest string
}

// parseCommand parses a command line without its line terminator.
//
// RFC 1939 section 3: "Commands in the POP3 consist of a case-insensitive
// keyword, possibly followed by one or more arguments. All commands are
// terminated by a CRLF pair. Keywords and arguments consist of printable
// ASCII characters. Keywords and arguments are each separated by a single
// SPACE character. Keywords are three or four characters long."
//
// Floe is lenient with repeated spaces between arguments and with octets
// above 0x7E in arguments (UTF-8 passwords), and strict with control
// characters, which are never part of a valid command.
func parseCommand(line []byte) (command, error) {
	for _, c := range line {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return command{}, errBadBytes
		}
	}
	s := string(line)
	if strings.TrimSpace(s) == "" {
		return command{}, errEmptyCommand
	}
	verb, rest, _ := strings.Cut(s, " ")
	if len(verb) < 3 || len(verb) > 4 {
		return command{}, errBadKeyword
	}
	for i := 0; i < len(verb); i++ {
		c := verb[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return command{}, errBadKeyword
		}
	}
	return command{
		verb: strings.ToUpper(verb),
		args: strings.Fields(rest),
		rest: rest,
	}, nil
}

// parseMsgNum parses a message-number argument (RFC 1939 section 3: a
// decimal number, 1 to the number of messages). It returns 0 when s is not
// a plain decimal number in range; callers then answer "no such message".
func parseMsgNum(s string, max int) int {
	n, ok := parseUint(s)
	if !ok || n < 1 || n > uint64(max) {
		return 0
	}
	return int(n)
}

// parseUint parses a plain non-negative decimal number (no sign, at most
// nine digits, which is more than any mailbox or line count needs).
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return n, err == nil
}
