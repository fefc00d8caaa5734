package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// sinkBackend accepts every message and discards it: the protocol-only
// baseline, with no storage and no durability.
type sinkBackend struct{}

func (sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{}, nil }

type sinkSession struct{}

func (sinkSession) Reset()                                             {}
func (sinkSession) Logout() error                                      { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error               { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error               { return nil }
func (sinkSession) Data(r io.Reader) error                             { _, err := io.Copy(io.Discard, r); return err }
func (sinkSession) LMTPData(r io.Reader, s smtp.StatusCollector) error { return sinkSession{}.Data(r) }

// newSink returns a discarding SMTP server (LMTP when lmtp is set).
func newSink(lmtp bool) *smtp.Server {
	s := smtp.NewServer(sinkBackend{})
	s.Domain = "sink.floe-bench.localhost"
	s.LMTP = lmtp
	s.MaxMessageBytes = 64 << 20
	s.MaxRecipients = 1000
	s.ReadTimeout = 5 * time.Minute
	s.WriteTimeout = 5 * time.Minute
	s.ErrorLog = log.New(io.Discard, "", 0)
	return s
}

// runSink serves a sink on -listen until ctx ends, or, without -listen, runs
// the smtp load against a sink started in this process.
func runSink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf loadFlags
	lf.register(fs)
	listen := fs.String("listen", "", "serve a sink on this address until interrupted (no load)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := lf.finish(); err != nil {
		return err
	}
	addr := *listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := newSink(lf.cfg.LMTP)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	defer srv.Close()

	if *listen != "" {
		fmt.Fprintf(stdout, "sink listening on %s\n", l.Addr())
		select {
		case <-ctx.Done():
			shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shutCtx)
		case err := <-done:
			return err
		}
	}

	lf.cfg.Addr = l.Addr().String()
	lf.cfg.Errors = stderr
	lf.cfg.StartTLS, lf.cfg.TLS, lf.cfg.User = false, false, ""
	res, err := runLoad(ctx, lf.cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.line("smtp", "sink", lf.cfg.Conns, lf.cfg.Size))
	if res.Errors > 0 {
		return fmt.Errorf("%d of %d messages failed", res.Errors, lf.cfg.N)
	}
	return nil
}
