package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// loadConfig describes one SMTP/LMTP load run.
type loadConfig struct {
	Addr     string
	From     string
	To       []string
	Conns    int // concurrent connections
	N        int // messages in total
	Size     int // bytes per message
	PerConn  int // messages per connection before reconnecting; 0: unlimited
	Timeout  time.Duration
	User     string
	Pass     string
	StartTLS bool
	TLS      bool
	LMTP     bool
	Verbose  bool
	// Errors receives the first few error messages (all with Verbose).
	Errors io.Writer
}

// result is the outcome of a load run.
type result struct {
	Sent      int
	Errors    int
	Elapsed   time.Duration
	Latencies []time.Duration // end of DATA to 250, per accepted message
}

// line formats r as the one-line summary floe-bench prints.
func (r result) line(kind, label string, c, size int) string {
	return r.lineUnit(kind, label, "msgs", c, size)
}

// lineUnit is line with another name for what is counted.
func (r result) lineUnit(kind, label, unit string, c, size int) string {
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Sent) / r.Elapsed.Seconds()
	}
	q := quantiles(r.Latencies)
	return fmt.Sprintf("%s %-7s c=%d size=%d n=%d  %s/s=%.1f  p50=%s p90=%s p99=%s max=%s  errors=%d",
		kind, label, c, size, r.Sent+r.Errors, unit, rate, ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]), r.Errors)
}

// quantiles returns p50, p90, p99 and max of d (nearest-rank).
func quantiles(d []time.Duration) [4]time.Duration {
	var q [4]time.Duration
	if len(d) == 0 {
		return q
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		i = max(0, min(i, len(s)-1))
		return s[i]
	}
	q[0], q[1], q[2], q[3] = rank(0.50), rank(0.90), rank(0.99), s[len(s)-1]
	return q
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// runLoad sends cfg.N messages over cfg.Conns concurrent connections. Each
// connection sends messages one after the other as an MTA does (RSET, MAIL,
// RCPT, DATA) until the shared budget is used up. A connection that fails is
// replaced by a new one; failed messages are counted, not retried.
func runLoad(ctx context.Context, cfg loadConfig) (result, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Errors == nil {
		cfg.Errors = io.Discard
	}
	// Check that the server answers at all before starting the clock, so
	// that a wrong address is one clear error rather than N.
	probe, err := dialClient(ctx, cfg)
	if err != nil {
		return result{}, err
	}
	probe.Quit()
	probe.Close()

	var (
		next     atomic.Int64 // next message number to send
		mu       sync.Mutex
		res      result
		reported int
	)
	res.Latencies = make([]time.Duration, 0, cfg.N)
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		res.Errors++
		if cfg.Verbose || reported < 5 {
			reported++
			fmt.Fprintf(cfg.Errors, "error: %v\n", err)
		}
	}
	body := newBodyMaker(cfg.Size)

	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var (
				c       *smtp.Client
				onConn  int
				lat     = make([]time.Duration, 0, cfg.N/cfg.Conns+1)
				sent    int
				flushed bool
			)
			flush := func() {
				if flushed {
					return
				}
				flushed = true
				mu.Lock()
				res.Latencies = append(res.Latencies, lat...)
				res.Sent += sent
				mu.Unlock()
			}
			defer flush()
			defer func() {
				if c != nil {
					c.Quit()
					c.Close()
				}
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= cfg.N {
					return
				}
				if c != nil && cfg.PerConn > 0 && onConn >= cfg.PerConn {
					c.Quit()
					c.Close()
					c = nil
				}
				if c == nil {
					var err error
					if c, err = dialClient(ctx, cfg); err != nil {
						report(fmt.Errorf("message %d: connect: %w", i, err))
						c = nil
						continue
					}
					onConn = 0
				}
				d, err := sendOne(c, cfg, i, onConn > 0, body)
				onConn++
				if err != nil {
					report(fmt.Errorf("message %d: %w", i, err))
					var se *smtp.SMTPError
					if !errors.As(err, &se) || se.Code == 421 {
						// The connection is broken or closing: start a new one.
						c.Close()
						c = nil
					}
					continue
				}
				lat = append(lat, d)
				sent++
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// dialClient connects, greets (EHLO or LHLO), and does TLS and AUTH as
// configured.
func dialClient(ctx context.Context, cfg loadConfig) (*smtp.Client, error) {
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // benchmark against self-signed certificates
	if cfg.TLS {
		tc := tls.Client(conn, tlsCfg)
		tc.SetDeadline(time.Now().Add(cfg.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		conn = tc
	}
	var c *smtp.Client
	switch {
	case cfg.LMTP:
		c = smtp.NewClientLMTP(conn)
	case cfg.StartTLS:
		// Greets with EHLO, then upgrades; bounded by a deadline because
		// the client's own timeouts are set only after it exists.
		conn.SetDeadline(time.Now().Add(cfg.Timeout))
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			return nil, fmt.Errorf("STARTTLS: %w", err)
		}
		conn.SetDeadline(time.Time{})
	default:
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = cfg.Timeout
	c.SubmissionTimeout = cfg.Timeout
	fail := func(what string, err error) (*smtp.Client, error) {
		c.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !cfg.StartTLS { // NewClientStartTLS has greeted already
		if err := c.Hello("floe-bench.localhost"); err != nil {
			return fail("EHLO", err)
		}
	}
	if cfg.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", cfg.User, cfg.Pass)); err != nil {
			return fail("AUTH", err)
		}
	}
	return c, nil
}

// sendOne sends message i on c and returns the time from the end of DATA to
// the final reply. reset sends RSET first (every message after the first on
// a connection, as MTAs do).
func sendOne(c *smtp.Client, cfg loadConfig, i int, reset bool, body *bodyMaker) (time.Duration, error) {
	if reset {
		if err := c.Reset(); err != nil {
			return 0, fmt.Errorf("RSET: %w", err)
		}
	}
	rcpt := cfg.To[i%len(cfg.To)]
	if err := c.Mail(cfg.From, nil); err != nil {
		return 0, fmt.Errorf("MAIL: %w", err)
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return 0, fmt.Errorf("RCPT: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return 0, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(body.make(i, cfg.From, rcpt)); err != nil {
		return 0, fmt.Errorf("DATA write: %w", err)
	}
	t0 := time.Now()
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("end of DATA: %w", err)
	}
	return time.Since(t0), nil
}

// bodyMaker builds messages of a fixed size. Every message is unique (its
// Message-ID and subject carry the number), so a content-addressed store
// cannot deduplicate them.
type bodyMaker struct {
	size int
	fill []byte
}

func newBodyMaker(size int) *bodyMaker {
	const line = "The quick brown fox jumps over the lazy dog while floe-bench measures.\r\n"
	fill := []byte(strings.Repeat(line, size/len(line)+2))
	return &bodyMaker{size: size, fill: fill}
}

func (b *bodyMaker) make(i int, from, to string) []byte {
	h := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: floe-bench message %d\r\n"+
		"Message-ID: <%d.%d@floe-bench.localhost>\r\nDate: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		from, to, i, time.Now().UnixNano(), i, time.Now().Format(time.RFC1123Z))
	n := b.size - len(h) - 2
	n = max(0, min(n, len(b.fill)))
	msg := make([]byte, 0, len(h)+n+2)
	msg = append(msg, h...)
	msg = append(msg, b.fill[:n]...)
	// End on a complete line whatever the cut (no bare CR).
	msg = bytes.TrimSuffix(msg, []byte("\r"))
	if !bytes.HasSuffix(msg, []byte("\r\n")) {
		msg = append(msg, "\r\n"...)
	}
	return msg
}
