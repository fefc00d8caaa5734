// Package spam scores messages with rspamd over its HTTP protocol
// (POST /checkv2 to the normal worker) and turns the answer into a verdict
// for the rules (rules.Spam), X-Spam-* header fields and the [spam]
// policy (file into Junk, refuse).
//
// A scanner that cannot be reached, answers with an error or takes longer
// than the timeout leaves the message unscored: it is accepted, never
// refused or lost, and the failure is logged by the caller.
package spam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxResponse bounds the scanner's answer.
const maxResponse = 1 << 20

// Options configure a Scanner.
type Options struct {
	// URL is the base URL of rspamd's normal worker, "http://127.0.0.1:11333".
	URL string
	// Password is sent as the Password header when not empty.
	Password string
	// Timeout bounds one scan (default 15s).
	Timeout time.Duration
	// MaxSize: larger messages are not scanned (0: no limit).
	MaxSize int64
	// JunkScore: at or above it the message is spam (0: rspamd's action
	// decides: "add header", "rewrite subject" or "reject" are spam).
	// RejectScore: at or above it the message is refused (0: never).
	JunkScore, RejectScore float64
	// Client is the HTTP client (a default one when nil).
	Client *http.Client
}

// Scanner asks rspamd. It is safe for concurrent use.
type Scanner struct {
	o Options
}

// New returns a Scanner.
func New(o Options) *Scanner {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}}
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	return &Scanner{o: o}
}

// Envelope is what rspamd is told about the message's arrival.
type Envelope struct {
	IP       netip.Addr
	Helo     string
	Hostname string // rDNS of IP, when known
	From     string // envelope sender
	Rcpts    []string
	User     string // SMTP AUTH identity
	QueueID  string
}

// Result is a scan's outcome.
type Result struct {
	// Scored is false when the scanner could not score the message (Err
	// says why, or the message was larger than MaxSize).
	Scored   bool
	Err      error
	Score    float64
	Required float64
	Action   string   // rspamd's action: "no action", "add header", "reject", ...
	Symbols  []string // the symbols that fired, sorted
	// Spam and Reject apply the policy of Options.
	Spam, Reject bool
}

type checkv2 struct {
	Score         float64                    `json:"score"`
	RequiredScore float64                    `json:"required_score"`
	Action        string                     `json:"action"`
	Symbols       map[string]json.RawMessage `json:"symbols"`
}

// Check scans the message of size bytes read from msg.
func (s *Scanner) Check(ctx context.Context, msg io.Reader, size int64, env Envelope) Result {
	if s.o.MaxSize > 0 && size > s.o.MaxSize {
		return Result{Err: fmt.Errorf("message of %d bytes is larger than max_size", size)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.o.URL+"/checkv2", msg)
	if err != nil {
		return Result{Err: err}
	}
	req.ContentLength = size
	h := req.Header
	if env.IP.IsValid() {
		h.Set("IP", env.IP.Unmap().String())
	}
	set := func(k, v string) {
		if v != "" && !strings.ContainsAny(v, "\r\n") {
			h.Set(k, v)
		}
	}
	set("Helo", env.Helo)
	set("Hostname", env.Hostname)
	set("From", env.From)
	set("User", env.User)
	set("Queue-Id", env.QueueID)
	set("Password", s.o.Password)
	for _, r := range env.Rcpts {
		if !strings.ContainsAny(r, "\r\n") {
			h.Add("Rcpt", r)
		}
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return Result{Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return Result{Err: fmt.Errorf("rspamd answered %s", resp.Status)}
	}
	if len(body) > maxResponse {
		return Result{Err: errors.New("rspamd answer too large")}
	}
	return s.parse(body)
}

// parse reads a /checkv2 answer and applies the policy.
func (s *Scanner) parse(body []byte) Result {
	var c checkv2
	if err := json.Unmarshal(body, &c); err != nil {
		return Result{Err: fmt.Errorf("rspamd answer: %w", err)}
	}
	r := Result{Scored: true, Score: c.Score, Required: c.RequiredScore, Action: c.Action}
	for k := range c.Symbols {
		r.Symbols = append(r.Symbols, k)
	}
	sort.Strings(r.Symbols)
	if s.o.JunkScore > 0 {
		r.Spam = c.Score >= s.o.JunkScore
	} else {
		switch c.Action {
		case "add header", "rewrite subject", "reject":
			r.Spam = true
		}
	}
	r.Reject = s.o.RejectScore > 0 && c.Score >= s.o.RejectScore
	if r.Reject {
		r.Spam = true
	}
	return r
}

// maxSymbolsHeader bounds the X-Spam-Symbols field.
const maxSymbolsHeader = 900

// Header returns the X-Spam-* fields for r (each ending in CRLF).
func (r *Result) Header() string {
	var b strings.Builder
	if !r.Scored {
		b.WriteString("X-Spam-Status: Unscored (the spam scanner did not answer)\r\n")
		return b.String()
	}
	flag := "NO"
	if r.Spam {
		flag = "YES"
	}
	score := strconv.FormatFloat(r.Score, 'f', 2, 64)
	b.WriteString("X-Spam-Flag: " + flag + "\r\n")
	b.WriteString("X-Spam-Score: " + score + "\r\n")
	yes := "No"
	if r.Spam {
		yes = "Yes"
	}
	b.WriteString("X-Spam-Status: " + yes + ", score=" + score + " required=" + strconv.FormatFloat(r.Required, 'f', 2, 64) + "\r\n")
	b.WriteString("X-Spam-Action: " + clean(r.Action) + "\r\n")
	if len(r.Symbols) > 0 {
		var sym strings.Builder
		for i, s := range r.Symbols {
			s = clean(s)
			if sym.Len()+len(s)+2 > maxSymbolsHeader {
				break
			}
			if i > 0 {
				sym.WriteString(",\r\n\t")
			}
			sym.WriteString(s)
		}
		b.WriteString("X-Spam-Symbols: " + sym.String() + "\r\n")
	}
	return b.String()
}

// clean keeps printable ASCII of a scanner's string.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return -1
		}
		return r
	}, s)
}

// Ping reports whether the scanner answers (GET /ping).
func (s *Scanner) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.o.URL+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("rspamd answered %s", resp.Status)
	}
	return nil
}
