package pop3

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// FuzzSession feeds arbitrary client bytes to a real session (parser, state
// machine, real SQLite store and authenticator) over loopback TCP. The
// client half-closes after its input, so every iteration ends at EOF
// without waiting for a timeout. The session must never panic or hang, and
// everything it sends must be CRLF lines.
func FuzzSession(f *testing.F) {
	login := "USER " + testUser + "\r\nPASS " + testPassword + "\r\n"
	plain := "AUTH PLAIN " + b64("\x00"+testUser+"\x00"+testPassword) + "\r\n"
	for _, s := range []string{
		"CAPA\r\nQUIT\r\n",
		login + "STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nRSET\r\nNOOP\r\nQUIT\r\n",
		login + "LIST 2\r\nUIDL 3\r\nRETR 9\r\nTOP 1 x\r\nDELE 2\r\nDELE 2\r\nRETR 2\r\nQUIT\r\n",
		plain + "RETR 2\r\nRETR 3\r\n",
		"AUTH PLAIN\r\n" + b64("\x00"+testUser+"\x00"+testPassword) + "\r\nSTAT\r\n",
		"AUTH LOGIN\r\n" + b64(testUser) + "\r\n" + b64(testPassword) + "\r\nLIST\r\n",
		"AUTH LOGIN\r\n*\r\nAUTH PLAIN =\r\nAUTH\r\n",
		"STLS\r\nUSER\r\nPASS\r\n",
		"\x00\xff\r\n\n\r\nLIST\x00 1\r\n" + login + "TOP 1 0\r\n",
		login + "RETR 1\nRETR 2\nQUIT\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
	} {
		f.Add([]byte(s))
	}

	st, acct, _ := newStore(f)
	for _, m := range []string{msgDots, msgLines, msgBareLF} {
		deliverTo(f, st, acct, m)
	}
	inbox, err := st.Mailbox(context.Background(), acct.ID, "INBOX")
	if err != nil {
		f.Fatal(err)
	}
	cfg := testConfig()
	cfg.POP3.PreAuthTimeout = config.Duration(safety)
	cfg.POP3.CommandTimeout = config.Duration(safety)
	cfg.POP3.MaxErrors = 20
	log := slog.New(slog.DiscardHandler)
	srvTLS, _ := testCerts()
	srv := New(Options{
		Config: func() *config.Config { return cfg },
		Store:  st,
		Auth:   auth.New(st, cfg.Auth, log),
		TLS:    srvTLS,
		Logger: log,
	})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()

	f.Fuzz(func(t *testing.T, in []byte) {
		// Keep some mail to work on when earlier inputs deleted it.
		if ms, err := st.Messages(context.Background(), inbox.ID, storage.Query{}); err == nil && len(ms) < 2 {
			deliverTo(t, st, acct, msgDots)
		}
		cli, srvConn := tcpPair(t, l)
		defer cli.Close()
		sess := srv.newSession(srvConn, false)
		done := make(chan struct{})
		go func() {
			defer close(done)
			sess.serve()
		}()
		out := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(cli)
			out <- b
		}()
		cli.SetWriteDeadline(time.Now().Add(safety))
		cli.Write(in)
		cli.CloseWrite()
		var got []byte
		select {
		case got = <-out:
		case <-time.After(safety):
			t.Fatal("session did not end")
		}
		<-done
		if !bytes.HasPrefix(got, []byte("+OK Floe POP3 server ready\r\n")) {
			t.Fatalf("no greeting: %q", got)
		}
		if bytes.Contains(bytes.ToUpper(in), []byte("STLS")) {
			return // what follows +OK is a (failed) TLS handshake
		}
		if !bytes.HasSuffix(got, []byte("\r\n")) {
			t.Fatalf("output does not end with CRLF: %q", got)
		}
		for _, line := range bytes.SplitAfter(got, []byte("\n")) {
			if bytes.HasSuffix(line, []byte("\n")) && !bytes.HasSuffix(line, []byte("\r\n")) {
				t.Fatalf("bare LF in output: %q", got)
			}
		}
		// serve has returned, so the lock must be free.
		srv.mu.Lock()
		n := len(srv.locked)
		srv.mu.Unlock()
		if n != 0 {
			t.Fatal("maildrop lock not released")
		}
	})
}

// tcpPair returns both ends of a fresh loopback TCP connection.
func tcpPair(t *testing.T, l net.Listener) (*net.TCPConn, net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	cli, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted
	if srv == nil {
		t.Fatal("accept failed")
	}
	return cli.(*net.TCPConn), srv
}
