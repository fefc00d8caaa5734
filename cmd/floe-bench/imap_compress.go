package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/floemail/floe/server/imap/deflate"
)

// compressedIdle is "s SELECT INBOX" and "i IDLE" as a client's DEFLATE
// stream (RFC 4978), each command sync-flushed. A stream starts fresh on
// every connection, so the same bytes serve them all.
var compressedIdle = func() []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write([]byte("s SELECT INBOX\r\n"))
	w.Flush()
	w.Write([]byte("i IDLE\r\n"))
	w.Flush()
	return b.Bytes()
}()

// dialCompressedIdle connects, logs in, turns on COMPRESS=DEFLATE, selects
// INBOX and starts IDLE, with a raw client (imapclient has no COMPRESS).
// The connection is left idling; the caller closes it.
func (d *imapDialer) dialCompressedIdle(ctx context.Context, acct imapAccount) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.Timeout}
	if d.Local != nil {
		nd.LocalAddr = d.Local(int(d.n.Add(1) - 1))
	}
	conn, err := nd.DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		return nil, err
	}
	if d.TLS {
		conn = tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // benchmark against self-signed certificates
	}
	conn.SetDeadline(time.Now().Add(d.Timeout))
	fail := func(err error) (net.Conn, error) {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReader(conn)
	until := func(r *bufio.Reader, prefix string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, prefix) {
				if !strings.HasPrefix(line, prefix+"OK") && prefix != "+" {
					return fmt.Errorf("%s", strings.TrimSpace(line))
				}
				return nil
			}
		}
	}
	if err := until(r, "* "); err != nil {
		return fail(fmt.Errorf("greeting: %w", err))
	}
	fmt.Fprintf(conn, "l LOGIN %s %s\r\nz COMPRESS DEFLATE\r\n", strconv.Quote(acct.User), strconv.Quote(acct.Pass))
	if err := until(r, "l "); err != nil {
		return fail(fmt.Errorf("LOGIN %s: %w", acct.User, err))
	}
	if err := until(r, "z "); err != nil {
		return fail(fmt.Errorf("COMPRESS: %w", err))
	}
	buffered, _ := r.Peek(r.Buffered())
	zr := bufio.NewReader(deflate.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), conn)))
	if _, err := conn.Write(compressedIdle); err != nil {
		return fail(err)
	}
	if err := until(zr, "s "); err != nil {
		return fail(fmt.Errorf("SELECT: %w", err))
	}
	if err := until(zr, "+"); err != nil {
		return fail(fmt.Errorf("IDLE: %w", err))
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}
