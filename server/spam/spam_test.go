package spam

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server/spam/rspamdtest"
)

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	body := `{"score": 7.5, "required_score": 15, "action": "add header", "symbols": {"B": {}, "A": {}}}`
	for _, tc := range []struct {
		o            Options
		spam, reject bool
	}{
		{Options{}, true, false},
		{Options{JunkScore: 8}, false, false},
		{Options{JunkScore: 5}, true, false},
		{Options{RejectScore: 7}, true, true},
		{Options{RejectScore: 10}, true, false},
	} {
		r := New(tc.o).parse([]byte(body))
		if !r.Scored || r.Score != 7.5 || r.Required != 15 || strings.Join(r.Symbols, ",") != "A,B" || r.Spam != tc.spam || r.Reject != tc.reject {
			t.Errorf("%+v: %+v", tc.o, r)
		}
	}
	if r := New(Options{}).parse([]byte(`{"score": 0.1, "action": "no action"}`)); r.Spam {
		t.Error("no action is spam")
	}
	if r := New(Options{}).parse([]byte(`not json`)); r.Scored || r.Err == nil {
		t.Error("bad answer scored")
	}
	h := (&Result{Scored: true, Spam: true, Score: 7.5, Required: 15, Action: "add header", Symbols: []string{"A\r\nX", "B"}}).Header()
	for _, want := range []string{"X-Spam-Flag: YES\r\n", "X-Spam-Score: 7.50\r\n", "X-Spam-Status: Yes, score=7.50 required=15.00\r\n", "X-Spam-Action: add header\r\n", "X-Spam-Symbols: AX,\r\n\tB\r\n"} {
		if !strings.Contains(h, want) {
			t.Errorf("header lacks %q:\n%s", want, h)
		}
	}
	if h := (&Result{}).Header(); !strings.HasPrefix(h, "X-Spam-Status: Unscored") {
		t.Errorf("unscored header %q", h)
	}
}

// The scanner's request carries the envelope; its failures leave the
// message unscored.
func TestCheckRequestAndFailures(t *testing.T) {
	t.Parallel()
	var got http.Header
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/checkv2" {
			http.NotFound(w, r)
			return
		}
		got = r.Header.Clone()
		b := new(strings.Builder)
		_, _ = strings.NewReader("").WriteTo(b)
		buf := make([]byte, 100)
		n, _ := r.Body.Read(buf)
		gotBody = string(buf[:n])
		w.Write([]byte(`{"score": 1, "required_score": 15, "action": "no action", "symbols": {}}`))
	}))
	defer srv.Close()
	s := New(Options{URL: srv.URL + "/", Password: "pw"})
	msg := "Subject: hi\r\n\r\nbody\r\n"
	r := s.Check(context.Background(), strings.NewReader(msg), int64(len(msg)), Envelope{
		IP: netip.MustParseAddr("192.0.2.7"), Helo: "mx.remote.test", From: "a@remote.test", Rcpts: []string{"b@x.test", "c@x.test"}, User: ""})
	if !r.Scored || r.Spam {
		t.Fatalf("result %+v", r)
	}
	if got.Get("IP") != "192.0.2.7" || got.Get("From") != "a@remote.test" || len(got.Values("Rcpt")) != 2 || got.Get("Password") != "pw" || got.Get("Helo") != "mx.remote.test" {
		t.Errorf("request header %v", got)
	}
	if gotBody != msg {
		t.Errorf("body %q", gotBody)
	}

	// Down, slow, erroring, too large: unscored.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	defer bad.Close()
	for name, sc := range map[string]*Scanner{
		"down":  New(Options{URL: dead}),
		"slow":  New(Options{URL: slow.URL, Timeout: 100 * time.Millisecond}),
		"error": New(Options{URL: bad.URL}),
		"big":   New(Options{URL: srv.URL, MaxSize: 5}),
	} {
		r := sc.Check(context.Background(), strings.NewReader(msg), int64(len(msg)), Envelope{})
		if r.Scored || r.Err == nil || r.Spam || r.Reject {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

// rspamd from Debian, on loopback, scores GTUBE as spam.
func TestRspamdGTUBE(t *testing.T) {
	t.Parallel()
	url := rspamdtest.Start(t)
	s := New(Options{URL: url, Timeout: 30 * time.Second})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	msg := "From: a@remote.test\r\nTo: b@example.test\r\nSubject: test\r\n\r\n" + rspamdtest.GTUBE + "\r\n"
	r := s.Check(context.Background(), strings.NewReader(msg), int64(len(msg)), Envelope{IP: netip.MustParseAddr("192.0.2.7"), From: "a@remote.test", Rcpts: []string{"b@example.test"}})
	if !r.Scored || !r.Spam || r.Action != "reject" || r.Score < 15 {
		t.Fatalf("GTUBE: %+v", r)
	}
	ham := "From: a@remote.test\r\nTo: b@example.test\r\nSubject: lunch\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <x@remote.test>\r\n\r\nSee you at noon.\r\n"
	r = s.Check(context.Background(), strings.NewReader(ham), int64(len(ham)), Envelope{})
	if !r.Scored || r.Spam {
		t.Fatalf("ham: %+v", r)
	}
}
