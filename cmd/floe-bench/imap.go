package main

// IMAP load modes of floe-bench:
//
//	floe-bench imap -addr HOST:PORT -users u1@d:pw[,u2@d:pw...] [-c 20] [-duration 30s] [-tls] [-label floe]
//	                [-prefill 50]
//	    N clients over the accounts (round-robin), each looping through the
//	    command mix of Dovecot's imaptest default profile: LOGIN, LIST, SELECT,
//	    FETCH flags (1:*), FETCH headers of some messages, FETCH full bodies of
//	    some, STORE flags, EXPUNGE, APPEND, LOGOUT. Prints ops/s and latency
//	    percentiles per command, the total ops/s and the protocol errors
//	    (exit status 1 when there is any).
//	floe-bench imap-bigmailbox -addr ... -users u:pw [-n 100000] [-mailbox Big]
//	    fills one mailbox with n messages (pipelined APPEND over -c
//	    connections), then times SELECT, UID FETCH 1:* (FLAGS) and
//	    UID SEARCH TEXT word five times each and prints the medians.
//	floe-bench imap-idle -addr ... -smtp HOST:PORT -users u:pw [-k 10] [-n 200]
//	    k sessions IDLE on one INBOX; n messages are delivered through SMTP
//	    one by one; prints the latency from the end of DATA to the EXISTS
//	    response in every session (p50/p90/p99).
//	floe-bench imap-conns -addr ... -users u:pw[,...] [-n 10000] [-pid PID]
//	    opens n authenticated connections (LOGIN, SELECT INBOX, IDLE), then
//	    prints the server's resident memory (VmRSS of /proc/PID/status).

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// imapAccount is one user:password pair of -users.
type imapAccount struct{ User, Pass string }

func parseAccounts(s string) ([]imapAccount, error) {
	var out []imapAccount
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		u, p, ok := strings.Cut(f, ":")
		if !ok || u == "" {
			return nil, fmt.Errorf("-users: %q is not user:password", f)
		}
		out = append(out, imapAccount{u, p})
	}
	if len(out) == 0 {
		return nil, errors.New("-users: no account")
	}
	return out, nil
}

// imapDialer opens logged-in IMAP connections.
type imapDialer struct {
	Addr    string
	TLS     bool
	Timeout time.Duration
	// Local, when set, is the local address of the n-th connection (to use
	// several loopback source addresses).
	Local func(n int) net.Addr
	// Handler receives unsolicited responses (may be nil).
	Handler *imapclient.UnilateralDataHandler
	n       atomic.Int64
}

// dial connects and logs in; login is the time LOGIN took.
func (d *imapDialer) dial(ctx context.Context, acct imapAccount) (c *imapclient.Client, login time.Duration, err error) {
	nd := net.Dialer{Timeout: d.Timeout}
	if d.Local != nil {
		nd.LocalAddr = d.Local(int(d.n.Add(1) - 1))
	}
	conn, err := nd.DialContext(ctx, "tcp", d.Addr)
	if err != nil {
		return nil, 0, err
	}
	if d.TLS {
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) // benchmark against self-signed certificates
		tc.SetDeadline(time.Now().Add(d.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, 0, fmt.Errorf("TLS handshake: %w", err)
		}
		tc.SetDeadline(time.Time{})
		conn = tc
	}
	c = imapclient.New(conn, &imapclient.Options{UnilateralDataHandler: d.Handler})
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("greeting: %w", err)
	}
	t0 := time.Now()
	if err := c.Login(acct.User, acct.Pass).Wait(); err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("LOGIN %s: %w", acct.User, err)
	}
	return c, time.Since(t0), nil
}

// imapStats collects latencies per command name.
type imapStats struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	errors int
	races  int // NO [EXPUNGEISSUED] answers
	errOut io.Writer
	shown  int
}

func newIMAPStats(errOut io.Writer) *imapStats {
	return &imapStats{lat: map[string][]time.Duration{}, errOut: errOut}
}

func (s *imapStats) add(cmd string, d time.Duration) {
	s.mu.Lock()
	s.lat[cmd] = append(s.lat[cmd], d)
	s.mu.Unlock()
}

func (s *imapStats) raced() {
	s.mu.Lock()
	s.races++
	s.mu.Unlock()
}

func (s *imapStats) fail(cmd string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors++
	if s.shown < 5 {
		s.shown++
		fmt.Fprintf(s.errOut, "error: %s: %v\n", cmd, err)
	}
}

// imapMixOrder is the order of the commands in the report.
var imapMixOrder = []string{"LOGIN", "LIST", "SELECT", "FETCH-FLAGS", "FETCH-HEADERS", "FETCH-BODY",
	"STORE", "EXPUNGE", "APPEND", "LOGOUT"}

// report prints one line per command and a total line; it returns the total
// ops/s.
func (s *imapStats) report(w io.Writer, label string, conns, users int, elapsed time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, cmd := range imapMixOrder {
		l := s.lat[cmd]
		total += len(l)
		q := quantiles(l)
		fmt.Fprintf(w, "imap %-7s cmd=%-13s n=%-7d ops/s=%-9.1f p50=%s p90=%s p99=%s max=%s\n",
			label, cmd, len(l), float64(len(l))/elapsed.Seconds(), ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]))
	}
	rate := float64(total) / elapsed.Seconds()
	fmt.Fprintf(w, "imap %-7s c=%d users=%d duration=%s  ops/s=%.1f  errors=%d expungeissued=%d\n",
		label, conns, users, elapsed.Round(time.Millisecond), rate, s.errors, s.races)
	return rate
}

// mixMessage returns a small unique message for APPEND (under 4 KiB, so
// clients may send it as a non-synchronizing literal).
func mixMessage(i int, user string) []byte {
	return []byte(fmt.Sprintf("From: <bench@floe-bench.localhost>\r\nTo: <%s>\r\n"+
		"Subject: floe-bench imap %d\r\nMessage-ID: <%d.%d@floe-bench.localhost>\r\n"+
		"Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s",
		user, i, time.Now().UnixNano(), i, time.Now().Format(time.RFC1123Z),
		strings.Repeat("The quick brown fox jumps over the lazy dog, and floe-bench appends.\r\n", 20)))
}

func appendMsg(c *imapclient.Client, mailbox string, raw []byte, flags []imap.Flag) error {
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

type imapFlags struct {
	addr, users, label string
	tls                bool
	timeout            time.Duration
	accts              []imapAccount
}

func (f *imapFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "127.0.0.1:1143", "IMAP server address host:port")
	fs.StringVar(&f.users, "users", "", "comma-separated accounts user:password")
	fs.BoolVar(&f.tls, "tls", false, "implicit TLS (certificate not verified)")
	fs.StringVar(&f.label, "label", "floe", "name of the system under test in the output")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "connect/handshake timeout")
}

func (f *imapFlags) finish() error {
	var err error
	f.accts, err = parseAccounts(f.users)
	return err
}

func (f *imapFlags) dialer() *imapDialer {
	return &imapDialer{Addr: f.addr, TLS: f.tls, Timeout: f.timeout}
}

// runIMAPMix is the "imap" mode.
func runIMAPMix(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench imap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f imapFlags
	f.register(fs)
	conns := fs.Int("c", 20, "concurrent clients")
	duration := fs.Duration("duration", 30*time.Second, "how long to run")
	prefill := fs.Int("prefill", 50, "messages each INBOX holds at least before the run (APPENDed)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.finish(); err != nil {
		return err
	}
	if *conns < 1 {
		return errors.New("-c must be at least 1")
	}
	st := newIMAPStats(stderr)
	if err := imapMix(ctx, f.dialer(), f.accts, *conns, *duration, *prefill, st, stdout, f.label); err != nil {
		return err
	}
	if st.errors > 0 {
		return fmt.Errorf("%d protocol errors", st.errors)
	}
	return nil
}

// imapMix prefills the accounts, runs the mix for duration on conns clients
// and prints the report.
func imapMix(ctx context.Context, d *imapDialer, accts []imapAccount, conns int, duration time.Duration,
	prefill int, st *imapStats, out io.Writer, label string) error {
	for _, a := range accts {
		c, _, err := d.dial(ctx, a)
		if err != nil {
			return err
		}
		sd, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			c.Close()
			return fmt.Errorf("SELECT INBOX of %s: %w", a.User, err)
		}
		for i := int(sd.NumMessages); i < prefill; i++ {
			if err := appendMsg(c, "INBOX", mixMessage(i, a.User), nil); err != nil {
				c.Close()
				return fmt.Errorf("prefill APPEND: %w", err)
			}
		}
		c.Logout().Wait()
		c.Close()
	}
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	var seq atomic.Int64
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			acct := accts[w%len(accts)]
			for ctx.Err() == nil {
				mixSession(ctx, d, acct, rng, &seq, st, prefill)
			}
		}()
	}
	wg.Wait()
	st.report(out, label, conns, len(accts), time.Since(start))
	return nil
}

// mixSession is one client session of the imaptest-like profile. A command
// that fails counts as a protocol error, unless the run is over.
func mixSession(ctx context.Context, d *imapDialer, acct imapAccount, rng *rand.Rand, seq *atomic.Int64,
	st *imapStats, target int) {
	// over: the run has ended. The socket deadline a dial inherits from ctx
	// can fire a moment before ctx reports Done, so compare with the
	// deadline too.
	over := func() bool {
		dl, ok := ctx.Deadline()
		return ctx.Err() != nil || (ok && !time.Now().Before(dl))
	}
	fail := func(cmd string, err error) {
		if !over() {
			st.fail(cmd, err)
		}
	}
	c, login, err := d.dial(ctx, acct)
	if err != nil {
		fail("LOGIN", err)
		if !over() {
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	defer c.Close()
	// Closing the connection when the run ends interrupts a waiting command.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	st.add("LOGIN", login)

	timed := func(cmd string, fn func() error) bool {
		t0 := time.Now()
		if err := fn(); err != nil {
			// RFC 2180 4.1.2, RFC 5530: a server may refuse a FETCH of
			// messages another session expunged; that is a race of the
			// mix (several clients share a mailbox), not a protocol error.
			var ie *imap.Error
			if errors.As(err, &ie) && ie.Code == "EXPUNGEISSUED" {
				st.raced()
				return true
			}
			fail(cmd, err)
			return false
		}
		if ctx.Err() == nil {
			st.add(cmd, time.Since(t0))
		}
		return true
	}
	if !timed("LIST", func() error { _, err := c.List("", "*", nil).Collect(); return err }) {
		return
	}
	if !timed("SELECT", func() error { _, err := c.Select("INBOX", nil).Wait(); return err }) {
		return
	}
	for range 3 { // a session does a few rounds before logging out
		if ctx.Err() != nil {
			return
		}
		var uids []imap.UID
		if mb := c.Mailbox(); mb == nil {
			return // closed at the end of the run
		} else if mb.NumMessages > 0 {
			if !timed("FETCH-FLAGS", func() error {
				msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
				for _, m := range msgs {
					uids = append(uids, m.UID)
				}
				return err
			}) {
				return
			}
		}
		pick := func(k int) imap.UIDSet {
			var set imap.UIDSet
			for range min(k, len(uids)) {
				set.AddNum(uids[rng.IntN(len(uids))])
			}
			return set
		}
		if len(uids) > 0 {
			set := pick(1 + rng.IntN(5))
			if !timed("FETCH-HEADERS", func() error {
				_, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, Envelope: true,
					BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}).Collect()
				return err
			}) {
				return
			}
			set = pick(1 + rng.IntN(2))
			if !timed("FETCH-BODY", func() error {
				_, err := c.Fetch(set, &imap.FetchOptions{UID: true,
					BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
				return err
			}) {
				return
			}
			op := imap.StoreFlagsAdd
			if rng.IntN(2) == 0 {
				op = imap.StoreFlagsDel
			}
			set = pick(1 + rng.IntN(3))
			if !timed("STORE", func() error {
				return c.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
			}) {
				return
			}
			// Keep the mailbox near its target size: delete one message
			// for the one appended below.
			if len(uids) > target/2 {
				set = pick(1)
				if !timed("STORE", func() error {
					return c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
						Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
				}) {
					return
				}
				if !timed("EXPUNGE", func() error { return c.Expunge().Close() }) {
					return
				}
			}
		}
		raw := mixMessage(int(seq.Add(1)), acct.User)
		if !timed("APPEND", func() error { return appendMsg(c, "INBOX", raw, []imap.Flag{imap.FlagSeen}) }) {
			return
		}
	}
	timed("LOGOUT", func() error { return c.Logout().Wait() })
}

// medianOf returns the median of d.
func medianOf(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// bigNeedle is the word of UID SEARCH TEXT in the big mailbox: one message
// in a hundred carries it.
const bigNeedle = "zanzibarquokka"

func bigMessage(i int) []byte {
	word := "ordinary"
	if i%100 == 0 {
		word = bigNeedle
	}
	return []byte(fmt.Sprintf("From: <sender%d@floe-bench.localhost>\r\nTo: <big@floe-bench.localhost>\r\n"+
		"Subject: big mailbox message %d\r\nMessage-ID: <big.%d.%d@floe-bench.localhost>\r\n"+
		"Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"+
		"Message %d of the big mailbox, an %s one.\r\n%s",
		i%97, i, i, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z), i, word,
		strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 10)))
}

// runIMAPBig is the "imap-bigmailbox" mode.
func runIMAPBig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench imap-bigmailbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f imapFlags
	f.register(fs)
	n := fs.Int("n", 100000, "messages in the mailbox")
	mailbox := fs.String("mailbox", "Big", "mailbox to fill (created when missing)")
	conns := fs.Int("c", 8, "connections appending in parallel")
	window := fs.Int("window", 32, "APPEND commands in flight per connection")
	runs := fs.Int("runs", 5, "timed runs of each command")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.finish(); err != nil {
		return err
	}
	d, acct := f.dialer(), f.accts[0]
	c, _, err := d.dial(ctx, acct)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Create(*mailbox, nil).Wait(); err != nil {
		var ie *imap.Error
		if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
			return fmt.Errorf("CREATE %s: %w", *mailbox, err)
		}
	}
	sd, err := c.Status(*mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return fmt.Errorf("STATUS: %w", err)
	}
	have := int(*sd.NumMessages)
	if have < *n {
		missing := *n - have
		var next atomic.Int64
		var failed atomic.Int64
		var firstErr error
		var errOnce sync.Once
		start := time.Now()
		var wg sync.WaitGroup
		for range *conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ac, _, err := d.dial(ctx, acct)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Add(1)
					return
				}
				defer ac.Close()
				var inflight []*imapclient.AppendCommand
				wait := func(cmd *imapclient.AppendCommand) {
					if _, err := cmd.Wait(); err != nil {
						errOnce.Do(func() { firstErr = err })
						failed.Add(1)
					}
				}
				for ctx.Err() == nil {
					i := int(next.Add(1))
					if i > missing {
						break
					}
					raw := bigMessage(have + i)
					cmd := ac.Append(*mailbox, int64(len(raw)), nil)
					cmd.Write(raw)
					cmd.Close()
					inflight = append(inflight, cmd)
					if len(inflight) >= *window {
						wait(inflight[0])
						inflight = inflight[1:]
					}
				}
				for _, cmd := range inflight {
					wait(cmd)
				}
				ac.Logout().Wait()
			}()
		}
		wg.Wait()
		el := time.Since(start)
		fmt.Fprintf(stdout, "imap-bigmailbox %s fill: appended %d messages in %s (%.0f msgs/s), errors=%d\n",
			f.label, missing, el.Round(time.Millisecond), float64(missing)/el.Seconds(), failed.Load())
		if failed.Load() > 0 {
			return fmt.Errorf("APPEND failed: %v", firstErr)
		}
	}
	var tSel, tFetch, tSearch []time.Duration
	var count uint32
	var found int
	for range *runs {
		t0 := time.Now()
		sel, err := c.Select(*mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return fmt.Errorf("SELECT: %w", err)
		}
		tSel = append(tSel, time.Since(t0))
		count = sel.NumMessages
		t0 = time.Now()
		msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			return fmt.Errorf("UID FETCH 1:* (FLAGS): %w", err)
		}
		tFetch = append(tFetch, time.Since(t0))
		if len(msgs) != int(count) {
			return fmt.Errorf("UID FETCH 1:* returned %d messages, SELECT said %d", len(msgs), count)
		}
		t0 = time.Now()
		res, err := c.UIDSearch(&imap.SearchCriteria{Text: []string{bigNeedle}}, nil).Wait()
		if err != nil {
			return fmt.Errorf("UID SEARCH TEXT: %w", err)
		}
		tSearch = append(tSearch, time.Since(t0))
		found = len(res.AllUIDs())
		if err := c.Unselect().Wait(); err != nil {
			return fmt.Errorf("UNSELECT: %w", err)
		}
	}
	fmt.Fprintf(stdout, "imap-bigmailbox %s messages=%d runs=%d  median SELECT=%s  UID-FETCH-1:*-FLAGS=%s  UID-SEARCH-TEXT=%s (%d hits)\n",
		f.label, count, *runs, ms(medianOf(tSel)), ms(medianOf(tFetch)), ms(medianOf(tSearch)), found)
	c.Logout().Wait()
	if count >= 100 && found == 0 {
		return fmt.Errorf("UID SEARCH TEXT %s found nothing", bigNeedle)
	}
	return nil
}

// runIMAPIdle is the "imap-idle" mode.
func runIMAPIdle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench imap-idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f imapFlags
	f.register(fs)
	smtpAddr := fs.String("smtp", "127.0.0.1:2525", "SMTP (MX) address that delivers to the account")
	k := fs.Int("k", 10, "IDLE sessions on the account")
	n := fs.Int("n", 200, "messages delivered one by one")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for an EXISTS before counting an error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.finish(); err != nil {
		return err
	}
	acct := f.accts[0]
	type event struct {
		count uint32
		at    time.Time
	}
	chans := make([]chan event, *k)
	var clients []*imapclient.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	var idles []*imapclient.IdleCommand
	bases := make([]uint32, *k)
	for i := range *k {
		ch := make(chan event, *n+16)
		chans[i] = ch
		d := f.dialer()
		d.Handler = &imapclient.UnilateralDataHandler{Mailbox: func(m *imapclient.UnilateralDataMailbox) {
			if m.NumMessages != nil {
				ch <- event{*m.NumMessages, time.Now()}
			}
		}}
		c, _, err := d.dial(ctx, acct)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		sd, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			return fmt.Errorf("SELECT: %w", err)
		}
		bases[i] = sd.NumMessages
		// Drain what SELECT itself reported.
		for len(ch) > 0 {
			<-ch
		}
		idle, err := c.Idle()
		if err != nil {
			return fmt.Errorf("IDLE: %w", err)
		}
		idles = append(idles, idle)
	}
	sc, err := dialClient(ctx, loadConfig{Addr: *smtpAddr, Timeout: f.timeout})
	if err != nil {
		return fmt.Errorf("SMTP: %w", err)
	}
	defer sc.Close()
	body := newBodyMaker(2048)
	var lat, commit []time.Duration
	errs := 0
	for i := range *n {
		if ctx.Err() != nil {
			break
		}
		t0, t1, err := deliverOne(sc, i, acct.User, body)
		if err != nil {
			return fmt.Errorf("SMTP delivery: %w", err)
		}
		commit = append(commit, t1.Sub(t0))
		want := uint32(i + 1)
		for s, ch := range chans {
			timer := time.NewTimer(*wait)
		recv:
			for {
				select {
				case ev := <-ch:
					if ev.count >= bases[s]+want {
						lat = append(lat, ev.at.Sub(t0))
						break recv
					}
				case <-timer.C:
					errs++
					break recv
				}
			}
			timer.Stop()
		}
	}
	for _, idle := range idles {
		idle.Close()
		idle.Wait()
	}
	q := quantiles(lat)
	cq := quantiles(commit)
	fmt.Fprintf(stdout, "imap-idle %s k=%d n=%d  end-of-DATA->EXISTS p50=%s p90=%s p99=%s max=%s  (SMTP end-of-DATA->250 p50=%s p99=%s)  missed=%d\n",
		f.label, *k, *n, ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]), ms(cq[0]), ms(cq[2]), errs)
	if errs > 0 {
		return fmt.Errorf("%d EXISTS responses did not arrive within %s", errs, *wait)
	}
	return nil
}

// deliverOne sends one message to rcpt; t0 is the end of DATA, t1 the 250.
func deliverOne(c *smtp.Client, i int, rcpt string, body *bodyMaker) (t0, t1 time.Time, err error) {
	if i > 0 {
		if err := c.Reset(); err != nil {
			return t0, t1, err
		}
	}
	from := "bench@floe-bench.localhost"
	if err := c.Mail(from, nil); err != nil {
		return t0, t1, err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return t0, t1, err
	}
	w, err := c.Data()
	if err != nil {
		return t0, t1, err
	}
	if _, err := w.Write(body.make(i, from, rcpt)); err != nil {
		return t0, t1, err
	}
	t0 = time.Now()
	if err := w.Close(); err != nil {
		return t0, t1, err
	}
	return t0, time.Now(), nil
}

// raiseNofile raises the open-files limit to want (or the hard limit).
func raiseNofile(want uint64) uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Max < want {
		nr := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nr) == nil {
			return want
		}
	}
	r.Cur = min(max(r.Cur, want), r.Max)
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	return r.Cur
}

// rssOf returns VmRSS of a process in KiB.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// runIMAPConns is the "imap-conns" mode.
func runIMAPConns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench imap-conns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f imapFlags
	f.register(fs)
	n := fs.Int("n", 10000, "connections to open")
	pid := fs.Int("pid", 0, "server process id (its VmRSS is printed)")
	sources := fs.Int("sources", 0, "loopback source addresses 127.0.0.1..127.0.0.N (0: one per 20000 connections)")
	par := fs.Int("p", 50, "connections opened in parallel")
	hold := fs.Duration("hold", 2*time.Second, "how long to hold the connections before measuring")
	noIdle := fs.Bool("noidle", false, "stay authenticated without SELECT and IDLE")
	compress := fs.Bool("compress", false, "turn on COMPRESS=DEFLATE after login, then SELECT INBOX and IDLE")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.finish(); err != nil {
		return err
	}
	limit := raiseNofile(uint64(*n) + 1024)
	if limit < uint64(*n)+64 {
		return fmt.Errorf("open-files limit is %d, too low for %d connections", limit, *n)
	}
	rss0 := int64(-1)
	if *pid > 0 {
		v, err := rssOf(*pid)
		if err != nil {
			return err
		}
		rss0 = v
	}
	src := *sources
	if src <= 0 {
		src = *n/20000 + 1
	}
	d := f.dialer()
	if host, _, _ := net.SplitHostPort(f.addr); net.ParseIP(host).IsLoopback() && src > 1 {
		d.Local = func(i int) net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%src))} }
	}
	var (
		mu      sync.Mutex
		clients []*imapclient.Client
		idles   []*imapclient.IdleCommand
		zconns  []net.Conn
		failed  int
		first   error
	)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		for _, c := range zconns {
			c.Close()
		}
	}()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				if *compress {
					zc, err := d.dialCompressedIdle(ctx, f.accts[i%len(f.accts)])
					mu.Lock()
					if err != nil {
						failed++
						if first == nil {
							first = err
						}
					} else {
						zconns = append(zconns, zc)
					}
					mu.Unlock()
					continue
				}
				c, _, err := d.dial(ctx, f.accts[i%len(f.accts)])
				var idle *imapclient.IdleCommand
				if err == nil && !*noIdle {
					if _, err = c.Select("INBOX", nil).Wait(); err == nil {
						idle, err = c.Idle()
					}
					if err != nil {
						c.Close()
					}
				}
				mu.Lock()
				if err != nil {
					failed++
					if first == nil {
						first = err
					}
				} else {
					clients = append(clients, c)
					if idle != nil {
						idles = append(idles, idle)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	opened := time.Since(start)
	select {
	case <-time.After(*hold):
	case <-ctx.Done():
	}
	open := len(clients) + len(zconns)
	mode := ""
	if *compress {
		mode = " compress"
	}
	line := fmt.Sprintf("imap-conns %s%s n=%d open=%d failed=%d in %s (%.0f conns/s)", f.label, mode, *n, open, failed,
		opened.Round(time.Millisecond), float64(open)/opened.Seconds())
	if *pid > 0 {
		rss, err := rssOf(*pid)
		if err != nil {
			return err
		}
		per := 0.0
		if open > 0 {
			per = float64(rss-rss0) / float64(open)
		}
		line += fmt.Sprintf("  server RSS before=%.1fMB after=%.1fMB (%.1f KB/conn)", float64(rss0)/1024, float64(rss)/1024, per)
	}
	fmt.Fprintln(stdout, line)
	if failed > 0 {
		return fmt.Errorf("%d connections failed; first: %v", failed, first)
	}
	return nil
}
