package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func TestQuantiles(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var d []time.Duration
		for _, x := range n {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	var hundred []int
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, i)
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want [4]time.Duration
	}{
		{"empty", nil, [4]time.Duration{}},
		{"one", ms(7), [4]time.Duration{7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond}},
		{"hundred", ms(hundred...), [4]time.Duration{50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}},
		{"two", ms(10, 1), [4]time.Duration{1 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := quantiles(tc.in); got != tc.want {
				t.Errorf("quantiles = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBodyMaker(t *testing.T) {
	for _, size := range []int{256, 1000, 5120, 100000} {
		b := newBodyMaker(size)
		m1 := b.make(1, "a@x.test", "b@y.test")
		m2 := b.make(2, "a@x.test", "b@y.test")
		if bytes.Equal(m1, m2) {
			t.Errorf("size %d: two messages are identical", size)
		}
		if d := len(m1) - size; d < -2 || d > 2 {
			t.Errorf("size %d: message has %d bytes", size, len(m1))
		}
		if !bytes.HasSuffix(m1, []byte("\r\n")) {
			t.Errorf("size %d: message does not end with CRLF", size)
		}
		if n, c := bytes.Count(m1, []byte("\n")), bytes.Count(m1, []byte("\r\n")); n != c || bytes.Count(m1, []byte("\r")) != c {
			t.Errorf("size %d: bare CR or LF in message", size)
		}
	}
}

// recorder is an SMTP backend that keeps what it receives.
type recorder struct {
	mu       sync.Mutex
	msgs     map[string][][]byte // recipient -> messages
	reject   string              // RCPT refused with 550
	needAuth bool
}

func (r *recorder) NewSession(*smtp.Conn) (smtp.Session, error) { return &recSession{r: r}, nil }

type recSession struct {
	r     *recorder
	rcpts []string
	authd bool
}

func (s *recSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *recSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "u@x.test" || pass != "secret" {
			return errors.New("bad credentials")
		}
		s.authd = true
		return nil
	}), nil
}
func (s *recSession) Reset()        { s.rcpts = nil }
func (s *recSession) Logout() error { return nil }
func (s *recSession) Mail(string, *smtp.MailOptions) error {
	if s.r.needAuth && !s.authd {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *recSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == s.r.reject {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *recSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	for _, to := range s.rcpts {
		s.r.msgs[to] = append(s.r.msgs[to], b)
	}
	return nil
}

func startRecorder(t *testing.T, r *recorder) string {
	t.Helper()
	r.msgs = map[string][][]byte{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(r)
	srv.Domain = "recorder.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = nopLogger{}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...interface{}) {}
func (nopLogger) Println(...interface{})        {}

var lineRE = regexp.MustCompile(`^(smtp|lmtp|fsync) (\S+)\s+c=(\d+) size=(\d+) n=(\d+)  (msgs|ops)/s=[0-9.]+  p50=[0-9.]+ms p90=[0-9.]+ms p99=[0-9.]+ms max=[0-9.]+ms  errors=(\d+)$`)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSMTPLoad(t *testing.T) {
	rec := &recorder{needAuth: true}
	addr := startRecorder(t, rec)
	code, out, errs := runCmd(t, "smtp", "-addr", addr, "-to", "a@x.test,b@x.test", "-c", "3", "-n", "50",
		"-size", "2000", "-auth", "u@x.test:secret", "-label", "rec")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	m := lineRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		t.Fatalf("output %q does not match the line format", out)
	}
	if m[2] != "rec" || m[3] != "3" || m[4] != "2000" || m[5] != "50" || m[7] != "0" {
		t.Errorf("line fields %q", m[1:])
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.msgs["a@x.test"]) != 25 || len(rec.msgs["b@x.test"]) != 25 {
		t.Fatalf("recipients got %d and %d messages, want 25 each", len(rec.msgs["a@x.test"]), len(rec.msgs["b@x.test"]))
	}
	seen := map[string]bool{}
	for _, list := range rec.msgs {
		for _, b := range list {
			if d := len(b) - 2000; d < -2 || d > 2 {
				t.Errorf("message of %d bytes, want about 2000", len(b))
			}
			seen[string(b)] = true
		}
	}
	if len(seen) != 50 {
		t.Errorf("%d distinct messages, want 50", len(seen))
	}
}

func TestSMTPLoadCountsErrors(t *testing.T) {
	rec := &recorder{reject: "bad@x.test"}
	addr := startRecorder(t, rec)
	code, out, errs := runCmd(t, "smtp", "-addr", addr, "-to", "ok@x.test,bad@x.test", "-c", "2", "-n", "20", "-size", "500")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
	}
	m := lineRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil || m[7] != "10" {
		t.Fatalf("output %q: want errors=10", out)
	}
	if !strings.Contains(errs, "550") {
		t.Errorf("stderr does not show the 550: %q", errs)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.msgs["ok@x.test"]); n != 10 {
		t.Errorf("ok@x.test got %d messages, want 10", n)
	}
}

func TestSMTPLoadAuthFailure(t *testing.T) {
	rec := &recorder{needAuth: true}
	addr := startRecorder(t, rec)
	code, _, errs := runCmd(t, "smtp", "-addr", addr, "-n", "5", "-c", "1", "-auth", "u@x.test:wrong")
	if code != 1 || !strings.Contains(errs, "AUTH") {
		t.Fatalf("exit %d, stderr %q: want 1 and an AUTH error", code, errs)
	}
}

func TestSink(t *testing.T) {
	code, out, errs := runCmd(t, "sink", "-c", "4", "-n", "200", "-size", "3000")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	m := lineRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil || m[2] != "sink" || m[5] != "200" || m[7] != "0" {
		t.Fatalf("output %q", out)
	}
}

func TestSinkLMTP(t *testing.T) {
	code, out, errs := runCmd(t, "sink", "-lmtp", "-c", "2", "-n", "20")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if m := lineRE.FindStringSubmatch(strings.TrimSpace(out)); m == nil || m[7] != "0" {
		t.Fatalf("output %q", out)
	}
}

func TestFsync(t *testing.T) {
	dir := t.TempDir()
	for _, extra := range [][]string{nil, {"-dirsync"}} {
		args := append([]string{"fsync", "-dir", dir, "-c", "2", "-n", "20", "-size", "1024"}, extra...)
		code, out, errs := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		m := lineRE.FindStringSubmatch(strings.TrimSpace(out))
		if m == nil || m[1] != "fsync" || m[5] != "20" || m[7] != "0" {
			t.Fatalf("output %q", out)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("fsync left %d entries in %s", len(ents), dir)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"smtp", "-c", "x"}, {"smtp", "extra"}} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, _ := runCmd(t, "smtp", "-addr", "127.0.0.1:1", "-n", "1"); code != 1 {
		t.Errorf("unreachable server: exit %d, want 1", code)
	}
}

func TestPorts(t *testing.T) {
	code, out, _ := runCmd(t, "ports", "-n", "3")
	ls := strings.Fields(out)
	if code != 0 || len(ls) != 3 || ls[0] == ls[1] || ls[1] == ls[2] || ls[0] == ls[2] {
		t.Fatalf("exit %d, output %q: want 3 distinct ports", code, out)
	}
}
