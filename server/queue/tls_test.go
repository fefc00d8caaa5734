package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/server/certgen"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// selfSigned returns a server TLS configuration with a fresh self-signed
// certificate for names, and that certificate.
func selfSigned(t *testing.T, names ...string) (*tls.Config, *x509.Certificate) {
	t.Helper()
	srv, _ := certgen.Pair(names...)
	return srv, srv.Certificates[0].Leaf
}

// brokenTLS offers STARTTLS but every handshake fails on the server side.
func brokenTLS() *tls.Config {
	return &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate today")
	}}
}

// startWith creates the queue with a TLS client configuration hook (the
// test's trusted roots) and starts it.
func (e *env) startWith(tlsConfig func(host string, verify bool) *tls.Config) *Queue {
	e.q = New(Options{Store: e.st, Config: e.config, Local: e.local()})
	e.q.tlsConfig = tlsConfig
	e.q.Start(e.t.Context())
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.q.Shutdown(ctx)
	})
	return e.q
}

// TestOpportunisticTLS: without a TLS policy, a message goes over TLS when
// STARTTLS is offered (even with a self-signed certificate, RFC 7435), in
// clear text when it is not, and in clear text after a failed handshake
// (RFC 3207 4.1: the client may go on without TLS).
func TestOpportunisticTLS(t *testing.T) {
	good, _ := selfSigned(t, "mx.remote.test")
	old := good.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	for _, tc := range []struct {
		name    string
		tls     *tls.Config
		wantTLS bool
		// minConns is the least number of SMTP sessions the remote must
		// have seen: a failed handshake costs a second connection.
		minConns int64
	}{
		{"self-signed", good, true, 1},
		{"no STARTTLS", nil, false, 1},
		{"handshake fails", brokenTLS(), false, 2},
		// The queue refuses TLS below 1.2: the client ends the handshake.
		{"TLS 1.1 only", old, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRemote(t, func(r *remote) { r.tls = tc.tls })
			e := newEnv(t, r.port, nil)
			e.dns.addDomain("remote.test")
			q := e.start(nil)
			id := e.submit(q, e.owner, "opportunistic", SubmitOptions{}, Recipient{Address: "bob@remote.test"})
			// Delivered on the first attempt: a failed handshake falls back
			// to clear text at once instead of deferring.
			waitFor(t, "delivery or a deferral", func() bool { return e.queueEmpty() || q.Stats().Deferred > 0 })
			if en, err := e.st.QueueEntry(t.Context(), storage.QueueID(id)); err == nil {
				t.Fatalf("not delivered on the first attempt: %s", en.LastError)
			}
			msgs := r.messages()
			if len(msgs) != 1 {
				t.Fatalf("remote received %d messages, want 1", len(msgs))
			}
			if msgs[0].TLS != tc.wantTLS {
				t.Errorf("message received with TLS %v, want %v", msgs[0].TLS, tc.wantTLS)
			}
			if !strings.Contains(string(msgs[0].Data), "Hello opportunistic.") {
				t.Errorf("body not delivered intact:\n%s", msgs[0].Data)
			}
			if n := r.conns.Load(); n < tc.minConns {
				t.Errorf("remote saw %d sessions, want at least %d", n, tc.minConns)
			}
			if st := q.Stats(); st.Delivered != 1 || st.Deferred != 0 || st.Bounced != 0 {
				t.Errorf("stats %+v, want 1 delivered on the first attempt", st)
			}
			if len(e.inbox()) != 0 {
				t.Error("a DSN was sent for a successful delivery")
			}
		})
	}
}

// TestRequireTLSDefers: for a domain in require_tls_domains the message
// waits (4.7.x, retried, never bounced) when the remote cannot give a
// verified TLS connection.
func TestRequireTLSDefers(t *testing.T) {
	// Self-signed and not trusted by the system roots the queue uses.
	untrusted, _ := selfSigned(t, "mx.remote.test")
	for _, tc := range []struct {
		name    string
		tls     *tls.Config
		wantErr string
	}{
		{"untrusted certificate", untrusted, "4.7.5 TLS with mx.remote.test failed"},
		{"no STARTTLS", nil, "4.7.10 mx.remote.test does not offer STARTTLS"},
		{"handshake fails", brokenTLS(), "4.7.5 TLS with mx.remote.test failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRemote(t, func(r *remote) { r.tls = tc.tls })
			e := newEnv(t, r.port, func(c *config.Config) {
				c.Outbound.RequireTLSDomains = []string{"remote.test"}
			})
			e.dns.addDomain("remote.test")
			q := e.start(nil)
			id := e.submit(q, e.owner, "required", SubmitOptions{}, Recipient{Address: "bob@remote.test"})
			// Two attempts: the first failure was a deferral, not a bounce.
			var en storage.QueueEntry
			var err error
			waitFor(t, "two failed attempts", func() bool {
				en, err = e.st.QueueEntry(t.Context(), storage.QueueID(id))
				return err != nil || en.Attempts >= 2
			})
			if err != nil {
				t.Fatalf("queue entry gone (delivered or bounced: %d messages at the remote, stats %+v): %v", len(r.messages()), q.Stats(), err)
			}
			if got := en.Recipients[0]; got.Status != storage.RcptPending || !strings.HasPrefix(got.Error, tc.wantErr) {
				t.Errorf("recipient %s: status %q, error %q; want pending with %q", got.Address, got.Status, got.Error, tc.wantErr)
			}
			if !strings.Contains(en.LastError, "TLS") {
				t.Errorf("last error %q does not mention TLS", en.LastError)
			}
			if n := len(r.messages()); n != 0 {
				t.Errorf("remote received %d messages without a verified TLS connection", n)
			}
			if st := q.Stats(); st.Delivered != 0 || st.Bounced != 0 || st.Deferred < 2 {
				t.Errorf("stats %+v, want only deferrals", st)
			}
			if len(e.inbox()) != 0 {
				t.Error("a DSN was sent for a deferred message")
			}
		})
	}
}

// TestRequireTLSTrusted: with a certificate the queue trusts (the test's
// roots, through the tlsConfig hook), a domain in require_tls_domains gets
// its mail over verified TLS, and only that domain asks for verification.
func TestRequireTLSTrusted(t *testing.T) {
	srv, cert := selfSigned(t, "mx.remote.test", "mx.other.test")
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	r := startRemote(t, func(r *remote) { r.tls = srv })
	e := newEnv(t, r.port, func(c *config.Config) {
		c.Outbound.RequireTLSDomains = []string{"remote.test"}
	})
	e.dns.addDomain("remote.test")
	e.dns.addDomain("other.test")
	var mu sync.Mutex
	verified := map[string]bool{}
	q := e.startWith(func(host string, verify bool) *tls.Config {
		mu.Lock()
		verified[host] = verify
		mu.Unlock()
		return &tls.Config{ServerName: host, RootCAs: roots, InsecureSkipVerify: !verify, MinVersion: tls.VersionTLS12}
	})
	id := e.submit(q, e.owner, "trusted", SubmitOptions{}, Recipient{Address: "bob@remote.test"}, Recipient{Address: "carol@other.test"})
	waitFor(t, "delivery or a deferral", func() bool { return e.queueEmpty() || q.Stats().Deferred > 0 })
	if en, err := e.st.QueueEntry(t.Context(), storage.QueueID(id)); err == nil {
		t.Fatalf("not delivered on the first attempt: %s", en.LastError)
	}
	msgs := r.messages()
	if len(msgs) != 2 {
		t.Fatalf("remote received %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		if !m.TLS {
			t.Errorf("message to %v received without TLS", m.Rcpts)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if v, ok := verified["mx.remote.test"]; !ok || !v {
		t.Errorf("mx.remote.test (require_tls_domains): verify %v (asked %v), want true", v, ok)
	}
	if v, ok := verified["mx.other.test"]; !ok || v {
		t.Errorf("mx.other.test (opportunistic): verify %v (asked %v), want false", v, ok)
	}
	if st := q.Stats(); st.Delivered != 2 || st.Deferred != 0 || st.Bounced != 0 {
		t.Errorf("stats %+v", st)
	}
}
