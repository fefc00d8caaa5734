package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/mail"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/storage"
)

// remoteConn is an SMTP client connection to one remote host.
type remoteConn struct {
	c      *gosmtp.Client
	raw    net.Conn
	host   string
	tls    bool
	dsn    bool // the server supports DSN (RFC 3461)
	utf8   bool
	size   int64 // SIZE limit, 0: none
	broken bool  // a network error happened: do not reuse
	used   bool
	stop   func() bool
}

func (rc *remoteConn) close() {
	if rc.stop != nil {
		rc.stop()
	}
	if !rc.broken {
		_ = rc.raw.SetDeadline(time.Now().Add(10 * time.Second))
		_ = rc.c.Quit()
	}
	_ = rc.c.Close()
}

// resolver returns the resolver for MX/A/AAAA lookups: [outbound] dns, or
// the system resolver.
func (q *Queue) resolver() *net.Resolver {
	addr := q.cfg().Outbound.DNS
	if addr == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// errPerm and errTemp build outcomes.
func permanent(status, format string, args ...any) *outcome {
	return &outcome{status: status, err: fmt.Sprintf(format, args...)}
}

func temporary(status, format string, args ...any) *outcome {
	return &outcome{temp: true, status: status, err: fmt.Sprintf(format, args...)}
}

// mxHosts returns the hosts to try for domain in order (RFC 5321 5.1).
func (q *Queue) mxHosts(ctx context.Context, r *net.Resolver, domain string) ([]string, *outcome) {
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		// Address literal (RFC 5321 4.1.3).
		lit := strings.TrimPrefix(domain[1:len(domain)-1], "IPv6:")
		if net.ParseIP(lit) == nil {
			return nil, permanent("5.1.2", "bad address literal %s", domain)
		}
		return []string{lit}, nil
	}
	mxs, err := r.LookupMX(ctx, domain)
	var dnsErr *net.DNSError
	switch {
	case err == nil || len(mxs) > 0:
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		// No MX: the implicit MX is the domain itself if it has an
		// address (RFC 5321 5.1).
		ips, err := r.LookupIPAddr(ctx, domain)
		if err == nil && len(ips) > 0 {
			return []string{domain}, nil
		}
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return nil, permanent("5.1.2", "domain %s has no mail server (no MX, A or AAAA record)", domain)
		}
		return nil, temporary("4.4.3", "DNS lookup for %s failed", domain)
	default:
		return nil, temporary("4.4.3", "MX lookup for %s failed", domain)
	}
	// RFC 7505 3: a single MX of "." says the domain accepts no mail.
	if len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "") {
		return nil, permanent("5.1.10", "domain %s accepts no mail (null MX, RFC 7505)", domain)
	}
	// Preference order, random among equal preferences (RFC 5321 5.1).
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var hosts []string
	for _, mx := range mxs {
		h := strings.TrimSuffix(mx.Host, ".")
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, permanent("5.1.10", "domain %s accepts no mail (null MX, RFC 7505)", domain)
	}
	return hosts, nil
}

// connect opens a connection for dest (a domain, or "" for the
// smarthost), trying its hosts in order. The returned outcome, when not
// nil, applies to every message for dest.
func (q *Queue) connect(dest string, it *item) (*remoteConn, *outcome) {
	cfg := q.cfg()
	o := cfg.Outbound
	ctx, cancel := context.WithTimeout(q.ctx, o.ConnectTimeout.D()*4)
	defer cancel()
	r := q.resolver()
	var hosts []string
	port := strconv.Itoa(o.Port)
	mode := "opportunistic"
	if dest == "" {
		h, p, err := net.SplitHostPort(o.Smarthost)
		if err != nil {
			return nil, temporary("4.3.5", "bad smarthost %q", o.Smarthost)
		}
		hosts, port, mode = []string{h}, p, o.SmarthostTLS
	} else {
		var fail *outcome
		hosts, fail = q.mxHosts(ctx, r, dest)
		if fail != nil {
			return nil, fail
		}
		if slices.Contains(o.RequireTLSDomains, dest) {
			mode = "required"
		}
	}
	var last *outcome
	for _, h := range hosts {
		if q.ctx.Err() != nil {
			return nil, temporary("4.3.2", "shutting down")
		}
		c, fail := q.dialHost(ctx, r, h, port, mode, dest == "")
		if fail == nil {
			return c, nil
		}
		last = fail
		q.log.Info("cannot use mail server", "dest", dest, "host", h, "err", fail.err)
		if !fail.temp {
			// A 5xx greeting or EHLO answer from one host does not make
			// the destination fail: the next host may do better.
			last.temp = true
		}
	}
	if last == nil {
		last = temporary("4.4.1", "no usable mail server for %s", dest)
	}
	return nil, last
}

// tlsFor returns the TLS client configuration for host.
func (q *Queue) tlsFor(host string, verify bool) *tls.Config {
	if q.tlsConfig != nil {
		return q.tlsConfig(host, verify)
	}
	// Opportunistic STARTTLS (RFC 3207) does not verify: an unverified
	// encrypted connection is better than clear text (RFC 7435).
	return &tls.Config{ServerName: host, InsecureSkipVerify: !verify, MinVersion: tls.VersionTLS12}
}

// dialHost connects to host:port and says EHLO, with STARTTLS per mode:
// "opportunistic", "required" (verified), "starttls" (smarthost, required,
// verified), "implicit" or "none". With the smarthost it authenticates.
func (q *Queue) dialHost(ctx context.Context, r *net.Resolver, host, port, mode string, smarthost bool) (*remoteConn, *outcome) {
	cfg := q.cfg()
	o := cfg.Outbound
	name := q.hostname()
	d := &net.Dialer{Timeout: o.ConnectTimeout.D(), Resolver: r}
	addr := net.JoinHostPort(host, port)
	attempt := func(useTLS bool) (*remoteConn, *outcome, bool) {
		raw, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, temporary("4.4.1", "cannot connect to %s: %s", host, errText(err)), false
		}
		rc := &remoteConn{raw: raw, host: host}
		rc.stop = context.AfterFunc(q.ctx, func() { raw.Close() })
		fail := func(out *outcome, retryPlain bool) (*remoteConn, *outcome, bool) {
			rc.stop()
			raw.Close()
			return nil, out, retryPlain
		}
		var conn net.Conn = raw
		if mode == "implicit" {
			tc := tls.Client(raw, q.tlsFor(host, true))
			_ = raw.SetDeadline(time.Now().Add(o.ConnectTimeout.D()))
			if err := tc.HandshakeContext(ctx); err != nil {
				return fail(temporary("4.7.5", "TLS with %s failed: %s", host, errText(err)), false)
			}
			_ = raw.SetDeadline(time.Time{})
			conn, rc.tls = tc, true
		}
		if useTLS && mode != "implicit" && mode != "none" {
			// The greeting and EHLO before STARTTLS are done here: go-smtp's
			// client would say EHLO localhost.
			tc, offered, out := q.startTLS(raw, host, name, mode != "opportunistic", o.CommandTimeout.D())
			if out != nil {
				return fail(out, offered && mode == "opportunistic")
			}
			if tc != nil {
				conn, rc.tls = &greetConn{Conn: tc, pre: []byte("220 " + host + "\r\n")}, true
			} else {
				if mode != "opportunistic" {
					return fail(temporary("4.7.10", "%s does not offer STARTTLS, and TLS is required", host), false)
				}
				conn = &greetConn{Conn: raw, pre: []byte("220 " + host + "\r\n")}
			}
		}
		c := gosmtp.NewClient(conn)
		c.CommandTimeout = o.CommandTimeout.D()
		c.SubmissionTimeout = 2 * o.CommandTimeout.D()
		rc.c = c
		if err := c.Hello(name); err != nil {
			return fail(replyOutcome(err, host), false)
		}
		rc.dsn, _ = c.Extension("DSN")
		rc.utf8, _ = c.Extension("SMTPUTF8")
		if n, ok := c.MaxMessageSize(); ok {
			rc.size = int64(n)
		}
		if smarthost && o.SmarthostUsername != "" {
			pw, err := o.SmarthostPassword()
			if err != nil {
				return fail(temporary("4.3.5", "cannot read the smarthost password: %s", errText(err)), false)
			}
			if !rc.tls && !isLoopback(host) {
				return fail(temporary("4.7.10", "not sending the smarthost password without TLS"), false)
			}
			if err := c.Auth(sasl.NewPlainClient("", o.SmarthostUsername, pw)); err != nil {
				out := replyOutcome(err, host)
				out.temp = true
				return fail(out, false)
			}
		}
		return rc, nil, false
	}
	rc, out, retryPlain := attempt(mode != "none")
	if out != nil && retryPlain {
		// The TLS handshake failed after STARTTLS was offered; without a
		// policy requiring TLS, try again in clear text (RFC 3207 4.1).
		q.log.Info("STARTTLS failed, retrying without TLS", "host", host, "err", out.err)
		rc, out, _ = attempt(false)
	}
	return rc, out
}

// startTLS reads the greeting, says EHLO as name and, when the server
// offers STARTTLS, starts TLS. It returns the TLS connection (nil when not
// offered), whether STARTTLS was offered, or a failure.
func (q *Queue) startTLS(raw net.Conn, host, name string, verify bool, timeout time.Duration) (*tls.Conn, bool, *outcome) {
	_ = raw.SetDeadline(time.Now().Add(timeout))
	defer raw.SetDeadline(time.Time{})
	tp := textproto.NewReader(bufio.NewReaderSize(io.LimitReader(raw, 64<<10), 4096))
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, false, replyOutcome(err, host)
	}
	if _, err := fmt.Fprintf(raw, "EHLO %s\r\n", name); err != nil {
		return nil, false, temporary("4.4.2", "connection to %s lost: %s", host, errText(err))
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		return nil, false, replyOutcome(err, host)
	}
	offered := false
	for _, l := range strings.Split(msg, "\n")[1:] {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return nil, false, nil
	}
	if _, err := io.WriteString(raw, "STARTTLS\r\n"); err != nil {
		return nil, true, temporary("4.4.2", "connection to %s lost: %s", host, errText(err))
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		out := replyOutcome(err, host)
		out.temp = true
		return nil, true, out
	}
	tc := tls.Client(raw, q.tlsFor(host, verify))
	if err := tc.Handshake(); err != nil {
		return nil, true, temporary("4.7.5", "TLS with %s failed: %s", host, errText(err))
	}
	return tc, true, nil
}

// greetConn replays a greeting line to go-smtp's client, which expects one
// on a new connection, after the real greeting was consumed by startTLS.
type greetConn struct {
	net.Conn
	pre []byte
}

func (g *greetConn) Read(b []byte) (int, error) {
	if len(g.pre) > 0 {
		n := copy(b, g.pre)
		g.pre = g.pre[n:]
		return n, nil
	}
	return g.Conn.Read(b)
}

// send delivers one item over rc and records the outcomes.
func (q *Queue) send(rc *remoteConn, it *item) {
	defer q.itemDone(it)
	j := it.j
	e := &j.e
	results := q.transaction(rc, it)
	for k, i := range it.rcpts {
		j.record(q, i, results[k])
	}
	q.log.Info("delivery attempt", "queue_id", e.ID, "host", rc.host, "tls", rc.tls, "rcpts", len(it.rcpts), "results", summary(results))
}

func summary(os []outcome) string {
	var ok, temp, perm int
	for _, o := range os {
		switch {
		case o.ok:
			ok++
		case o.temp:
			temp++
		default:
			perm++
		}
	}
	return fmt.Sprintf("%d delivered, %d deferred, %d failed", ok, temp, perm)
}

// transaction runs MAIL, RCPT..., DATA for one item and returns one
// outcome per recipient of it.
func (q *Queue) transaction(rc *remoteConn, it *item) []outcome {
	e := &it.j.e
	out := make([]outcome, len(it.rcpts))
	all := func(o outcome) []outcome {
		for k := range out {
			out[k] = o
		}
		return out
	}
	if rc.used {
		if err := rc.c.Reset(); err != nil { // RFC 5321 4.1.1.5
			rc.broken = true
			return all(*replyOutcome(err, rc.host))
		}
	}
	rc.used = true
	if e.UTF8 && !rc.utf8 {
		return all(*permanent("5.6.7", "%s does not support SMTPUTF8, needed for this message (RFC 6531 3.2)", rc.host))
	}
	if rc.size > 0 && e.Size > rc.size {
		return all(*permanent("5.3.4", "message of %d bytes exceeds the %d-byte limit of %s", e.Size, rc.size, rc.host))
	}
	blob, err := q.store.OpenBlob(q.ctx, e.Blob)
	if err != nil {
		q.log.Error("cannot open queued message", "queue_id", e.ID, "blob", e.Blob, "err", err)
		return all(*temporary("4.3.0", "local error reading the message"))
	}
	defer blob.Close()
	sig := q.sign(it.j, blob)

	mo := &gosmtp.MailOptions{Size: e.Size + int64(len(sig)), UTF8: e.UTF8, EnvelopeID: e.EnvID}
	switch e.Ret {
	case "FULL":
		mo.Return = gosmtp.DSNReturnFull
	case "HDRS":
		mo.Return = gosmtp.DSNReturnHeaders
	}
	if err := rc.c.Mail(e.From, mo); err != nil {
		return all(*q.replyErr(rc, err))
	}
	var accepted []int
	for k, i := range it.rcpts {
		r := e.Recipients[i]
		ro := &gosmtp.RcptOptions{}
		if r.Notify != "" {
			for _, n := range strings.Split(r.Notify, ",") {
				ro.Notify = append(ro.Notify, gosmtp.DSNNotify(n))
			}
		}
		if t, a, ok := strings.Cut(r.ORcpt, ";"); ok {
			switch strings.ToLower(t) {
			case "rfc822":
				ro.OriginalRecipientType, ro.OriginalRecipient = gosmtp.DSNAddressTypeRFC822, a
			case "utf-8":
				ro.OriginalRecipientType, ro.OriginalRecipient = gosmtp.DSNAddressTypeUTF8, a
			}
		}
		if err := rc.c.Rcpt(r.Address, ro); err != nil {
			out[k] = *q.replyErr(rc, err)
			if rc.broken {
				for k2 := k + 1; k2 < len(out); k2++ {
					out[k2] = out[k]
				}
				return out
			}
			continue
		}
		accepted = append(accepted, k)
	}
	if len(accepted) == 0 {
		return out
	}
	w, err := rc.c.Data()
	if err == nil {
		if _, err = blob.Seek(0, io.SeekStart); err == nil {
			if _, err = io.WriteString(w, sig); err == nil {
				_, err = io.Copy(w, blob)
			}
		}
		if err != nil {
			rc.broken = true
			w.Close()
		} else {
			_, err = w.CloseWithResponse()
		}
	}
	var res outcome
	if err != nil {
		res = *q.replyErr(rc, err)
	} else {
		res = outcome{ok: true, mta: rc.host, relayedNo: !rc.dsn}
	}
	for _, k := range accepted {
		out[k] = res
	}
	return out
}

// sign returns the DKIM header(s) of the job's message, computed once per
// job: the domain is that of the From header's address, or of the
// envelope sender.
func (q *Queue) sign(j *job, blob storage.Blob) string {
	if q.signer == nil {
		return ""
	}
	j.signOnce.Do(func() {
		domain := domainOf(j.e.From)
		if _, err := blob.Seek(0, io.SeekStart); err != nil {
			return
		}
		if h, err := textproto.NewReader(bufio.NewReader(io.LimitReader(blob, 256<<10))).ReadMIMEHeader(); err == nil || len(h) > 0 {
			if from := h.Get("From"); from != "" {
				if a, err := mail.ParseAddress(from); err == nil && domainOf(a.Address) != "" {
					domain = domainOf(a.Address)
				}
			}
		}
		if domain == "" {
			return
		}
		if _, err := blob.Seek(0, io.SeekStart); err != nil {
			return
		}
		sig, err := q.signer.Sign(domain, blob)
		if err != nil {
			q.log.Error("DKIM signing failed; sending unsigned", "queue_id", j.e.ID, "domain", domain, "err", err)
			return
		}
		// A forwarded message keeps its author's From: it is signed with
		// the key of the forwarding domain, the domain of its (SRS)
		// envelope sender.
		if env := domainOf(j.e.From); sig == "" && env != "" && env != domain {
			if _, err := blob.Seek(0, io.SeekStart); err != nil {
				return
			}
			if sig, err = q.signer.Sign(env, blob); err != nil {
				q.log.Error("DKIM signing failed; sending unsigned", "queue_id", j.e.ID, "domain", env, "err", err)
				return
			}
		}
		j.sig = sig
	})
	return j.sig
}

// replyErr turns an error of a command into an outcome, marking the
// connection broken on network errors.
func (q *Queue) replyErr(rc *remoteConn, err error) *outcome {
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) {
		rc.broken = true
	} else if se.Code == 421 {
		rc.broken = true
	}
	return replyOutcome(err, rc.host)
}

// replyOutcome classifies a reply: 5xx permanent, everything else
// temporary (RFC 5321 4.2.1).
func replyOutcome(err error, host string) *outcome {
	var se *gosmtp.SMTPError
	var tpe *textproto.Error
	code, enh, msg := 0, "", ""
	switch {
	case errors.As(err, &se):
		code, msg = se.Code, se.Message
		if se.EnhancedCode != gosmtp.NoEnhancedCode && se.EnhancedCode != (gosmtp.EnhancedCode{}) {
			enh = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
		}
	case errors.As(err, &tpe):
		code, msg = tpe.Code, tpe.Msg
	default:
		return &outcome{temp: true, status: "4.4.2", err: "connection to " + host + " failed: " + errText(err), mta: host}
	}
	msg = strings.ReplaceAll(msg, "\n", " ")
	if enh == "" {
		enh = fmt.Sprintf("%d.0.0", code/100)
		if f, rest, ok := strings.Cut(msg, " "); ok && isStatus(f) {
			enh, msg = f, rest
		}
	}
	if code/100 != 4 && code/100 != 5 {
		code = 451
		enh = "4.0.0"
	}
	reply := fmt.Sprintf("%d %s %s", code, enh, msg)
	return &outcome{temp: code/100 == 4, status: enh, err: fmt.Sprintf("%s said: %s", host, reply), reply: reply, mta: host}
}

func isStatus(s string) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || (p[0] != "2" && p[0] != "4" && p[0] != "5") {
		return false
	}
	for _, x := range p[1:] {
		if _, err := strconv.Atoi(x); err != nil || len(x) > 3 {
			return false
		}
	}
	return true
}

// errText shortens a network error for logs and DSNs.
func errText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
