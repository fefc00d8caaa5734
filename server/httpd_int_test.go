package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/httpd"
)

// lockedBuffer is an io.Writer for the start-up summary.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestHTTPListeners starts the real server with its http, https and
// clientsvc listeners on random loopback ports: /healthz over HTTP and over
// HTTPS with HTTP/2; HTTP Basic authentication through the server's
// Authenticator (success, failure, rate limit); graceful shutdown with a
// request in flight.
func TestHTTPListeners(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTP = "127.0.0.1:0"
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Listeners.ClientSvc = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	cfg.Auth.MaxFailuresPerIP = 3
	addAccount(t, cfg, "web@example.test", "web-Secret-123")

	entered := make(chan struct{})
	release := make(chan struct{})
	var out lockedBuffer
	srv, err := New(cfg, Options{Logger: testLogger(t), Stdout: &out, MountHTTP: func(web, client *httpd.Mux) {
		web.HandleAuth("GET /test/whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := httpd.PrincipalFrom(r.Context())
			io.WriteString(w, p.Address)
		}))
		web.Handle("GET /test/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			io.WriteString(w, "finished")
		}))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}
	})
	addrs := srv.Addrs()
	for _, name := range []string{"http", "https", "clientsvc"} {
		if addrs[name] == nil || !strings.Contains(out.String(), name) || !strings.Contains(out.String(), addrs[name].String()) {
			t.Fatalf("listener %s not open or not in the summary (%v):\n%s", name, addrs[name], out.String())
		}
	}
	if strings.Contains(out.String(), "not yet available") {
		t.Errorf("summary still lists pending listeners:\n%s", out.String())
	}

	plain := &http.Client{Timeout: 30 * time.Second}
	tr := &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "localhost"), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	secure := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	get := func(c *http.Client, url, user, pass string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// /healthz: over HTTP (loopback is served, not redirected), HTTPS with
	// HTTP/2, and on the client-services port.
	if resp, body := get(plain, "http://"+addrs["http"].String()+"/healthz", "", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("http healthz: %d %q", resp.StatusCode, body)
	}
	resp, body := get(secure, "https://"+addrs["https"].String()+"/healthz", "", "")
	if resp.StatusCode != 200 || body != "ok" || resp.ProtoMajor != 2 {
		t.Fatalf("https healthz: %d %q %s", resp.StatusCode, body, resp.Proto)
	}
	if resp, body := get(secure, "https://"+addrs["clientsvc"].String()+"/healthz", "", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("clientsvc healthz: %d %q", resp.StatusCode, body)
	}

	// Basic authentication with the server's Authenticator.
	who := "https://" + addrs["https"].String() + "/test/whoami"
	if resp, body := get(secure, who, "web@example.test", "web-Secret-123"); resp.StatusCode != 200 || body != "web@example.test" {
		t.Fatalf("login: %d %q", resp.StatusCode, body)
	}
	resp, _ = get(secure, who, "", "")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
		t.Fatalf("no credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	for i := range 3 {
		if resp, _ := get(secure, who, "web@example.test", "not-the-password"); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	if resp, _ := get(secure, who, "web@example.test", "not-the-password"); resp.StatusCode != 429 {
		t.Fatalf("wrong password after the limit: %d", resp.StatusCode)
	}

	// Shutdown with a request in flight: the listener stops accepting at
	// once, the request completes, Shutdown returns nil.
	got := make(chan string, 1)
	go func() {
		resp, err := plain.Get("http://" + addrs["http"].String() + "/test/slow")
		if err != nil {
			got <- "error: " + err.Error()
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addrs["https"].String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("https still accepting during shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	if b := <-got; b != "finished" {
		t.Fatalf("request in flight: %q", b)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	stopped = true
}

// TestShutdownCancelsBaseContext: work that honours only its context (a
// storage call in a request, a session, the queue) is cancelled when the
// shutdown deadline passes; the server's base context, the parent of them
// all, is cancelled then and not before.
func TestShutdownCancelsBaseContext(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners = config.Listeners{HTTP: "127.0.0.1:0", IMAP: "127.0.0.1:0"}
	entered := make(chan struct{})
	ended := make(chan error, 1)
	srv, err := New(cfg, Options{Logger: testLogger(t), MountHTTP: func(web, _ *httpd.Mux) {
		web.Handle("GET /test/stuck", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done()
			ended <- r.Context().Err()
		}))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	go func() {
		resp, err := http.Get("http://" + srv.Addrs()["http"].String() + "/test/stuck")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	// An IMAP client that is idle: told BYE, not a reason to cancel.
	c, err := net.Dial("tcp", srv.Addrs()["imap"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if srv.base.Err() != nil {
		t.Fatal("base context cancelled while running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	if srv.base.Err() == nil {
		t.Fatal("base context not cancelled after the shutdown deadline")
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("stuck request ended without a context error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("request stuck on its context did not end")
	}
}
