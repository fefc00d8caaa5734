package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/floemail/floe/storage"
)

type fakeStore struct {
	queue []storage.QueueEntry
	usage map[storage.AccountID]int64
	calls int
}

func (f *fakeStore) QueueEntries(context.Context) ([]storage.QueueEntry, error) {
	f.calls++
	return f.queue, nil
}

func (f *fakeStore) Accounts(context.Context) ([]storage.Account, error) {
	var out []storage.Account
	for id := range f.usage {
		out = append(out, storage.Account{ID: id})
	}
	return out, nil
}

func (f *fakeStore) Usage(_ context.Context, id storage.AccountID) (storage.Usage, error) {
	return storage.Usage{Bytes: f.usage[id]}, nil
}

// scrape fetches /metrics from h and parses it.
func scrape(t *testing.T, h http.Handler) map[string]*dtoFamily {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(w.Body.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, w.Body)
	}
	out := map[string]*dtoFamily{}
	for name, f := range fams {
		out[name] = &dtoFamily{f: f}
	}
	return out
}

// value returns the value of the family's sample with the labels (a
// counter, gauge, or a histogram's count).
func value(t *testing.T, fams map[string]*dtoFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	return f.value(labels...)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "floe.db"), make([]byte, 1000), 0o600)
	os.WriteFile(filepath.Join(dir, "floe.db-wal"), make([]byte, 24), 0o600)
	os.WriteFile(filepath.Join(dir, "other.txt"), make([]byte, 5000), 0o600)
	now := time.Now()
	st := &fakeStore{
		queue: []storage.QueueEntry{{Created: now.Add(-time.Hour)}, {Created: now.Add(-time.Minute)}},
		usage: map[storage.AccountID]int64{1: 100, 2: 250},
	}
	m.Register(Sources{
		Connections: func() map[string]int { return map[string]int{"imap": 3, "smtp": 1} },
		Queue:       func() QueueStats { return QueueStats{Queued: 5, Delivered: 3, Deferred: 2, Bounced: 1} },
		Store:       st,
		DataDir:     dir,
	})
	imap := m.Protocol("imap")
	if m.Protocol("imap") != imap {
		t.Fatal("Protocol is not memoised")
	}
	imap.Connection()
	imap.Connection()
	imap.Command("FETCH", 3*time.Millisecond)
	imap.Command("UID FETCH", time.Millisecond)
	imap.Command("bad\ncommand", time.Millisecond)
	for i := range 100 {
		imap.Command("X"+string(rune('A'+i%26))+string(rune('A'+i/26)), time.Millisecond)
	}
	m.Login("imap", "ok")
	m.Login("imap", "failed")
	m.Login("smtp", "rate_limited")
	m.Login("evil label", "weird")
	m.Received("mx")
	m.Delivered()
	h := m.HTTP("dav", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(207)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PROPFIND", "/dav/", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/dav/", nil))

	admin := m.AdminHandler(nil)
	f := scrape(t, admin)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"floe_connections_total", []string{"protocol", "imap"}, 2},
		{"floe_connections_open", []string{"listener", "imap"}, 3},
		{"floe_logins_total", []string{"protocol", "imap", "result", "ok"}, 1},
		{"floe_logins_total", []string{"protocol", "imap", "result", "failed"}, 1},
		{"floe_logins_total", []string{"protocol", "smtp", "result", "rate_limited"}, 1},
		{"floe_logins_total", []string{"protocol", "other", "result", "failed"}, 1},
		{"floe_command_duration_seconds", []string{"protocol", "imap", "command", "FETCH"}, 1},
		{"floe_command_duration_seconds", []string{"protocol", "imap", "command", "UID FETCH"}, 1},
		{"floe_messages_received_total", []string{"protocol", "mx"}, 1},
		{"floe_messages_delivered_total", nil, 1},
		{"floe_queue_messages_total", []string{"event", "deferred"}, 2},
		{"floe_queue_messages_total", []string{"event", "bounced"}, 1},
		{"floe_queue_size", nil, 2},
		{"floe_storage_bytes", []string{"kind", "database"}, 1024},
		{"floe_storage_bytes", []string{"kind", "mailboxes"}, 350},
		{"floe_http_requests_total", []string{"service", "dav", "method", "PROPFIND", "code", "207"}, 1},
		{"floe_http_requests_total", []string{"service", "dav", "method", "OTHER", "code", "207"}, 1},
	} {
		if got := value(t, f, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if age := value(t, f, "floe_queue_oldest_age_seconds"); age < 3590 || age > 3700 {
		t.Errorf("oldest age %v", age)
	}
	// Command labels stay bounded.
	if n := f["floe_command_duration_seconds"].count(); n > maxCommands+1 {
		t.Errorf("%d command labels", n)
	}
	if v := value(t, f, "floe_command_duration_seconds", "protocol", "imap", "command", "OTHER"); v < 1 {
		t.Errorf("OTHER = %v", v)
	}
	// The queue is read at most once per cache period.
	calls := st.calls
	scrape(t, admin)
	if st.calls != calls {
		t.Errorf("queue read again within the cache period")
	}
}

func TestNilMetrics(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.Protocol("imap").Connection()
	m.Protocol("imap").Command("X", time.Second)
	m.Login("imap", "ok")
	m.Received("mx")
	m.Delivered()
	m.Register(Sources{})
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if m.HTTP("dav", h) == nil {
		t.Fatal("nil handler")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if m.CountListener(l, "imap") != l {
		t.Error("nil metrics wrapped the listener")
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	m := New()
	healthy := true
	h := m.AdminHandler(func(context.Context) error {
		if healthy {
			return nil
		}
		return errors.New("store closed")
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != 200 || w.Body.String() != "ok\n" {
		t.Errorf("healthy: %d %q", w.Code, w.Body)
	}
	healthy = false
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "store closed") {
		t.Errorf("unhealthy: %d %q", w.Code, w.Body)
	}
}

func TestCountListener(t *testing.T) {
	t.Parallel()
	m := New()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := m.CountListener(l, "pop3")
	defer cl.Close()
	go func() {
		for {
			c, err := cl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Read(make([]byte, 1))
		c.Close()
	}
	if v := value(t, scrape(t, m.AdminHandler(nil)), "floe_connections_total", "protocol", "pop3"); v != 3 {
		t.Errorf("connections = %v", v)
	}
}
