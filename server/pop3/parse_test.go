package pop3

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		line string
		want command
		err  error
	}{
		{"STAT", command{verb: "STAT", args: []string{}}, nil},
		{"stat", command{verb: "STAT", args: []string{}}, nil},
		{"LIST 1", command{verb: "LIST", args: []string{"1"}, rest: "1"}, nil},
		{"top 1 10", command{verb: "TOP", args: []string{"1", "10"}, rest: "1 10"}, nil},
		{"USER alice@example.test", command{verb: "USER", args: []string{"alice@example.test"}, rest: "alice@example.test"}, nil},
		{"PASS a secret  with spaces ", command{verb: "PASS", args: []string{"a", "secret", "with", "spaces"}, rest: "a secret  with spaces "}, nil},
		{"AUTH PLAIN AGFsaWNlAHNlY3JldA==", command{verb: "AUTH", args: []string{"PLAIN", "AGFsaWNlAHNlY3JldA=="}, rest: "PLAIN AGFsaWNlAHNlY3JldA=="}, nil},
		{"LIST  2", command{verb: "LIST", args: []string{"2"}, rest: " 2"}, nil},
		{"PASS p\u00e4ss", command{verb: "PASS", args: []string{"p\u00e4ss"}, rest: "p\u00e4ss"}, nil},
		{"", command{}, errEmptyCommand},
		{"   ", command{}, errEmptyCommand},
		{" STAT", command{}, errBadKeyword},
		{"ST", command{}, errBadKeyword},
		{"STATS", command{}, errBadKeyword},
		{"ST4T", command{}, errBadKeyword},
		{"\xff\xfe\xfd", command{}, errBadKeyword},
		{"STAT\x00", command{}, errBadBytes},
		{"USER a\x1bb", command{}, errBadBytes},
		{"NOOP\x7f", command{}, errBadBytes},
		{"\x16\x03\x01\x02\x00\x01", command{}, errBadBytes}, // a TLS ClientHello on the plain port
	}
	for _, tt := range tests {
		got, err := parseCommand([]byte(tt.line))
		if err != tt.err {
			t.Errorf("parseCommand(%q) error = %v, want %v", tt.line, err, tt.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCommand(%q) = %#v, want %#v", tt.line, got, tt.want)
		}
	}
}

func TestParseMsgNum(t *testing.T) {
	tests := []struct {
		arg  string
		max  int
		want int
	}{
		{"1", 3, 1},
		{"3", 3, 3},
		{"4", 3, 0},
		{"0", 3, 0},
		{"-1", 3, 0},
		{"+1", 3, 0},
		{"01", 3, 1},
		{"1a", 3, 0},
		{"", 3, 0},
		{"99999999999999999999", 3, 0},
		{"1", 0, 0},
	}
	for _, tt := range tests {
		if got := parseMsgNum(tt.arg, tt.max); got != tt.want {
			t.Errorf("parseMsgNum(%q, %d) = %d, want %d", tt.arg, tt.max, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"USER alice@example.test", "PASS secret", "STAT", "LIST", "LIST 1", "UIDL 2", "RETR 1",
		"TOP 1 0", "DELE 3", "NOOP", "RSET", "QUIT", "CAPA", "STLS", "AUTH PLAIN", "AUTH PLAIN =",
		"AUTH LOGIN dXNlcg==", "APOP mrose c4c9334bac560ecc979e58001b3e22fb", "\x00\x01", "list  1  ",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		cmd, err := parseCommand(line)
		if err != nil {
			return
		}
		if len(cmd.verb) < 3 || len(cmd.verb) > 4 || strings.ToUpper(cmd.verb) != cmd.verb {
			t.Fatalf("bad verb %q from %q", cmd.verb, line)
		}
		for _, a := range cmd.args {
			if a == "" || strings.ContainsAny(a, " \r\n\x00") {
				t.Fatalf("bad arg %q from %q", a, line)
			}
		}
		if !strings.HasSuffix(string(line), cmd.rest) {
			t.Fatalf("rest %q is not the end of %q", cmd.rest, line)
		}
		for _, a := range cmd.args {
			if len(a) > 0 {
				parseMsgNum(a, 10)
			}
		}
	})
}
