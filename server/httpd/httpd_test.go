package httpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

const (
	testUser     = "alice@example.test"
	testPassword = "correct-horse-battery"
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type fixture struct {
	cfg  *config.Config
	mux  *Mux
	logs *syncBuffer
	log  *slog.Logger
}

// newFixture returns a Mux with an Authenticator over a store holding
// alice@example.test, and a "whoami" route behind HandleAuth.
func newFixture(t *testing.T, mod func(*config.Config)) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, storage.Account{Address: testUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Development()
	cfg.Auth.FailureDelay = 0
	cfg.Auth.MaxFailuresPerIP = 3
	if mod != nil {
		mod(cfg)
	}
	f := &fixture{cfg: cfg, logs: &syncBuffer{}}
	f.log = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	getCfg := func() *config.Config { return f.cfg }
	f.mux = NewMux(MuxOptions{Config: getCfg, Auth: auth.New(st, cfg.Auth, f.log), Logger: f.log})
	f.mux.HandleAuth("GET /whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, p.Address)
	}))
	f.mux.Handle("POST /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write(b)
	}))
	f.mux.Handle("POST /small", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
	}), MaxBody(4))
	return f
}

// do sends r through the full handler chain of an https listener (access
// log, panic recovery, mux) from remote.
func (f *fixture) do(r *http.Request, remote string, redirect bool) *httptest.ResponseRecorder {
	srv := New(Options{Name: "test", Handler: f.mux, Config: func() *config.Config { return f.cfg },
		Logger: f.log, RedirectToHTTPS: redirect})
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	srv.srv.Handler.ServeHTTP(w, r)
	return w
}

func get(path string) *http.Request { return httptest.NewRequest("GET", path, nil) }

func withBasic(r *http.Request, user, pass string) *http.Request {
	r.SetBasicAuth(user, pass)
	return r
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	w := f.do(get("/healthz"), "127.0.0.1:1234", false)
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("healthz: %d %q", w.Code, w.Body.String())
	}
	if w := f.do(get("/nothing"), "127.0.0.1:1234", false); w.Code != 404 {
		t.Fatalf("unknown path: %d", w.Code)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tlsReq := func(r *http.Request) *http.Request { r.TLS = &tls.ConnectionState{}; return r }

	// No credentials: 401 with a challenge.
	w := f.do(tlsReq(get("/whoami")), "192.0.2.7:1000", false)
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Basic realm="Floe", charset="UTF-8"` {
		t.Fatalf("no credentials: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Right password over TLS from another machine.
	w = f.do(tlsReq(withBasic(get("/whoami?token=sekrit"), testUser, testPassword)), "192.0.2.7:1000", false)
	if w.Code != 200 || w.Body.String() != testUser {
		t.Fatalf("login: %d %q", w.Code, w.Body.String())
	}
	// Plain text from another machine: refused without a challenge, and
	// the password is not even checked.
	w = f.do(withBasic(get("/whoami"), testUser, testPassword), "192.0.2.7:1000", false)
	if w.Code != 403 || w.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("plain text from afar: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Plain text from loopback is allowed, as for IMAP.
	w = f.do(withBasic(get("/whoami"), testUser, testPassword), "[::1]:1000", false)
	if w.Code != 200 {
		t.Fatalf("plain text from loopback: %d", w.Code)
	}
	// ... and from afar when the operator allows it.
	f.cfg.TLS.AllowPlaintextAuth = true
	w = f.do(withBasic(get("/whoami"), testUser, testPassword), "192.0.2.7:1000", false)
	if w.Code != 200 {
		t.Fatalf("plain text allowed by config: %d", w.Code)
	}

	// Wrong passwords: 401 until the per-address limit (3), then 429 with
	// Retry-After, through the shared Authenticator.
	for i := range 3 {
		w = f.do(tlsReq(withBasic(get("/whoami"), testUser, "Wr0ng-Passw0rd")), "192.0.2.9:1000", false)
		if w.Code != 401 {
			t.Fatalf("wrong password %d: %d", i, w.Code)
		}
	}
	w = f.do(tlsReq(withBasic(get("/whoami"), testUser, "Wr0ng-Passw0rd")), "192.0.2.9:1000", false)
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("after the limit: %d %q", w.Code, w.Header().Get("Retry-After"))
	}

	logs := f.logs.String()
	for _, want := range []string{`msg="login failed" protocol=http remote=192.0.2.9`, `msg="login refused: too many failures from this source" protocol=http`,
		`method=GET path=/whoami status=200`, "user=" + testUser} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{testPassword, "sekrit", "Wr0ng-Passw0rd", "Basic "} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config.Config) { c.HTTP.MaxBodySize = 10 })
	post := func(path, body string, chunked bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		if chunked {
			r.ContentLength = -1
		}
		return f.do(r, "127.0.0.1:1", false)
	}
	if w := post("/echo", "0123456789", false); w.Code != 200 || w.Body.String() != "0123456789" {
		t.Fatalf("body at the limit: %d %q", w.Code, w.Body.String())
	}
	if w := post("/echo", "0123456789a", false); w.Code != 413 {
		t.Fatalf("declared body over the limit: %d", w.Code)
	}
	if w := post("/echo", "0123456789a", true); w.Code != 413 {
		t.Fatalf("undeclared body over the limit: %d", w.Code)
	}
	if w := post("/small", "12345", false); w.Code != 413 {
		t.Fatalf("route limit (MaxBody 4): %d", w.Code)
	}
	if w := post("/small", "1234", false); w.Code != 200 {
		t.Fatalf("route limit (MaxBody 4), at the limit: %d", w.Code)
	}
}

func TestRedirectHTTPS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *config.Config) { c.Listeners.HTTPS = ":8443" })
	r := get("/dav/x?y=1")
	r.Host = "mail.example.test:8080"
	w := f.do(r, "192.0.2.7:1000", true)
	if w.Code != 301 || w.Header().Get("Location") != "https://mail.example.test:8443/dav/x?y=1" {
		t.Fatalf("GET from afar: %d %q", w.Code, w.Header().Get("Location"))
	}
	r = httptest.NewRequest("PROPFIND", "/dav/", nil)
	r.Host = "[2001:db8::1]"
	if w := f.do(r, "192.0.2.7:1000", true); w.Code != 308 || w.Header().Get("Location") != "https://[2001:db8::1]:8443/dav/" {
		t.Fatalf("PROPFIND from afar: %d %q", w.Code, w.Header().Get("Location"))
	}
	// /.well-known/ is served over HTTP (ACME, autoconfig); loopback gets
	// everything.
	if w := f.do(get("/.well-known/nothing"), "192.0.2.7:1000", true); w.Code != 404 {
		t.Fatalf(".well-known from afar: %d", w.Code)
	}
	if w := f.do(get("/healthz"), "127.0.0.1:1000", true); w.Code != 200 {
		t.Fatalf("loopback: %d", w.Code)
	}
	// Standard port: no port in the URL.
	f.cfg.Listeners.HTTPS = ":443"
	r = get("/")
	r.Host = "mail.example.test"
	if w := f.do(r, "192.0.2.7:1000", true); w.Header().Get("Location") != "https://mail.example.test/" {
		t.Fatalf("redirect to 443: %q", w.Header().Get("Location"))
	}
	// No https listener: nothing to redirect to.
	f.cfg.Listeners.HTTPS = ""
	if w := f.do(get("/healthz"), "192.0.2.7:1000", true); w.Code != 200 {
		t.Fatalf("without https: %d", w.Code)
	}
}

func TestPanicIs500(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.mux.Handle("GET /boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	w := f.do(get("/boom"), "127.0.0.1:1", false)
	if w.Code != 500 || !strings.Contains(f.logs.String(), `msg="panic in HTTP handler"`) {
		t.Fatalf("panic: %d\n%s", w.Code, f.logs.String())
	}
}

// TestServeShutdown: a real listener; Shutdown waits for a request in
// flight, then Serve returns nil.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	release := make(chan struct{})
	entered := make(chan struct{})
	f.mux.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}))
	srv := New(Options{Name: "test", Handler: f.mux, Config: func() *config.Config { return f.cfg }, Logger: f.log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + l.Addr().String() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	// New connections are refused once Shutdown began.
	waitClosed(t, l.Addr().String())
	close(release)
	if b := <-got; b != "done" {
		t.Fatalf("request in flight: %q", b)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// waitClosed waits until addr refuses connections.
func waitClosed(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("listener still accepting after Shutdown")
}

// TestLogPath: a route mounted with LogPath has its replacement path in
// the access log, never the request's (a download link's token).
func TestLogPath(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.mux.Handle("GET /secret/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), LogPath(func(string) string { return "/secret/..." }))
	w := f.do(get("/secret/Tok3nTok3nTok3n/file.txt"), "192.0.2.7:1234", false)
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
	logs := f.logs.String()
	if strings.Contains(logs, "Tok3n") || !strings.Contains(logs, "path=/secret/...") {
		t.Fatalf("access log:\n%s", logs)
	}
	f.do(get("/healthz"), "192.0.2.7:1234", false)
	if !strings.Contains(f.logs.String(), "path=/healthz") {
		t.Fatalf("other routes log their path:\n%s", f.logs.String())
	}
}
