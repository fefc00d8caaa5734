// Package queue is Floe's outbound queue: messages from local users to
// other domains wait in storage (storage.Queue, bodies in the blob store)
// until every recipient's mail server accepted or refused them.
//
// Delivery: due entries are grouped by destination domain; each domain gets
// up to [outbound] max_per_domain connections (all domains together
// max_connections), and one connection carries several messages (RSET in
// between). MX hosts are tried in preference order, with the implicit MX
// (the domain's A/AAAA) when there is no MX record (RFC 5321 5.1) and a
// permanent failure for a null MX (RFC 7505). STARTTLS is opportunistic
// (certificate not verified) except for [outbound] require_tls_domains. A
// smarthost, when configured, replaces MX delivery.
//
// Outcomes per recipient: 2xx delivered; 5xx failed (a DSN to the sender);
// 4xx and network errors retried with exponential backoff until
// max_queue_time, then failed. Delay notices and bounces are RFC 3464 DSNs
// honouring the RFC 3461 NOTIFY/RET/ENVID/ORCPT parameters; they go to the
// sender's INBOX when the sender is local, else through the queue with a
// null return path. A message from the null sender never causes a DSN.
//
// Durability: Submit returns after the entry is committed; the entry's
// state is updated after each attempt. A crash loses nothing: entries that
// were in flight are attempted again (at-least-once delivery).
package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// Signer signs outbound messages (DKIM). Sign returns the complete
// header(s) to prepend ("DKIM-Signature: ...\r\n"), or "" when domain has
// no key.
type Signer interface {
	Sign(domain string, msg io.Reader) (string, error)
}

// LocalDeliverer is what the queue needs from local delivery: storing a
// delivery status notification in a local sender's mailbox. It is declared
// here, at the consumer, so that the queue does not import server/delivery
// (which submits to the queue for the forwarder and responder);
// *delivery.Deliverer implements it and the server wires it.
type LocalDeliverer interface {
	// DeliverLocal stores the spooled blob, a message from the envelope
	// sender from ("" for the null sender), in the mailbox of the local
	// account the address to resolves to, durably: it returns after the
	// commit. local is false, and nothing is stored, when to is not in a
	// local domain (the caller sends the message out instead); err is then
	// nil. With local true, err says why the copy was not stored (no such
	// user, over quota, a storage error).
	DeliverLocal(ctx context.Context, from, to string, blob storage.BlobRef) (local bool, err error)
}

// Options configures a Queue.
type Options struct {
	Store  storage.Store
	Config func() *config.Config
	// Signer signs messages before sending; nil sends them unsigned.
	Signer Signer
	Logger *slog.Logger
	// Hostname is the name announced in EHLO and DSNs; nil uses
	// [server] hostname.
	Hostname func() string
	// BaseContext is the parent of the queue's context (its storage calls
	// and connections); the server cancels it when it stops. nil:
	// Background.
	BaseContext context.Context
	// Local delivers DSNs to local senders. When nil, every sender is
	// treated as remote: DSNs go through the queue (tests of the queue
	// alone; the server always wires local delivery).
	Local LocalDeliverer
}

// Recipient is one recipient handed to Submit with its RFC 3461 parameters.
type Recipient struct {
	Address string
	// ORcpt is the ORCPT parameter as "type;address" (e.g.
	// "rfc822;bob@example.org"), "" when none was given.
	ORcpt string
	// Notify is the NOTIFY parameter: "NEVER" or a comma-separated list of
	// SUCCESS, FAILURE, DELAY; "" is the default (FAILURE,DELAY).
	Notify string
}

// SubmitOptions are the message's RFC 3461 parameters and its submitter.
type SubmitOptions struct {
	EnvID   string // ENVID
	Ret     string // RET: "FULL", "HDRS" or ""
	UTF8    bool   // SMTPUTF8 was used
	Account storage.AccountID
}

// Stats counts what the queue did since it was created. Delivered,
// Deferred and Bounced count recipients.
type Stats struct {
	Queued    int64 // messages added (submissions and DSNs to remote senders)
	Delivered int64 // recipients accepted by the remote server
	Deferred  int64 // temporary failures (retried later)
	Bounced   int64 // permanent failures and expiries
}

// Queue delivers the entries of storage.Queue. It is safe for concurrent
// use.
type Queue struct {
	store    storage.Store
	cfg      func() *config.Config
	signer   Signer
	log      *slog.Logger
	hostname func() string
	local    LocalDeliverer

	wake chan struct{}

	// ctx is cancelled to abort connections in flight (Shutdown gave up
	// waiting); stop is closed to stop starting work.
	ctx    context.Context
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup
	start  sync.Once

	mu       sync.Mutex
	inflight map[storage.QueueID]bool
	// finishedDuringRead collects the entries finished while runOnce reads
	// and dispatches (nil otherwise): the read may still list them, and
	// they must not be attempted again.
	finishedDuringRead map[storage.QueueID]bool
	// truncated is set when the last read hit its limit: more entries are
	// due, so each finished job wakes the runner.
	truncated bool
	dueBatch  int
	domains   map[string]*domainQueue
	global    chan struct{} // semaphore of outbound connections
	stopped   bool

	queued, delivered, deferred, bounced atomic.Int64

	// Test hooks.
	tlsConfig func(host string, verify bool) *tls.Config
	now       func() time.Time
}

// New returns a Queue; call Start to begin delivering.
func New(o Options) *Queue {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		store:    o.Store,
		cfg:      o.Config,
		signer:   o.Signer,
		log:      log.With("component", "queue"),
		hostname: o.Hostname,
		local:    o.Local,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		inflight: make(map[storage.QueueID]bool),
		dueBatch: defaultDueBatch,
		domains:  make(map[string]*domainQueue),
		now:      time.Now,
	}
	if q.hostname == nil {
		q.hostname = func() string { return q.cfg().Server.Hostname }
	}
	base := o.BaseContext
	if base == nil {
		base = context.Background()
	}
	q.ctx, q.cancel = context.WithCancel(base)
	return q
}

// Start starts the queue runner: it delivers due entries, woken by Submit,
// Flush and Retry, and re-reads the database every [outbound]
// poll_interval (for changes made by `floe queue`).
func (q *Queue) Start(ctx context.Context) {
	q.start.Do(func() {
		q.mu.Lock()
		q.global = make(chan struct{}, q.cfg().Outbound.MaxConnections)
		q.mu.Unlock()
		q.wg.Add(1)
		go q.runner()
	})
}

// Shutdown stops starting deliveries, waits for those in flight until ctx
// is done, then aborts the rest (they are attempted again after the next
// start) and logs the counters.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if !q.stopped {
		q.stopped = true
		close(q.stop)
	}
	q.mu.Unlock()
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		q.cancel()
		<-done
	}
	q.cancel()
	st := q.Stats()
	q.log.Info("outbound queue stopped", "queued", st.Queued, "delivered", st.Delivered, "deferred", st.Deferred, "bounced", st.Bounced)
	return err
}

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	return Stats{Queued: q.queued.Load(), Delivered: q.delivered.Load(), Deferred: q.deferred.Load(), Bounced: q.bounced.Load()}
}

// Submit queues blob for rcpts, durably: it returns after the entry is
// committed. from is the envelope sender ("" for the null sender).
func (q *Queue) Submit(ctx context.Context, from string, rcpts []Recipient, blob storage.BlobRef, opts SubmitOptions) (int64, error) {
	if len(rcpts) == 0 {
		return 0, fmt.Errorf("queue: no recipients: %w", storage.ErrInvalid)
	}
	e := storage.QueueEntry{
		Blob: blob.ID, Size: blob.Size, From: from, EnvID: opts.EnvID, Ret: strings.ToUpper(opts.Ret),
		UTF8: opts.UTF8, Account: opts.Account, NextAttempt: q.now(),
	}
	for _, r := range rcpts {
		e.Recipients = append(e.Recipients, storage.QueueRecipient{Address: r.Address, ORcpt: r.ORcpt, Notify: strings.ToUpper(r.Notify)})
	}
	id, err := q.store.Enqueue(ctx, e)
	if err != nil {
		return 0, err
	}
	q.queued.Add(1)
	q.log.Info("message queued", "queue_id", id, "from", from, "rcpts", len(rcpts), "size", blob.Size)
	q.Flush()
	return int64(id), nil
}

// SubmitOutbound queues blob from the envelope sender from ("" for the null
// sender) to the remote recipients to, on behalf of account acct (0 for
// the system), with no DSN parameters: Submit for messages Floe itself
// sends on (the forwarder, the responder). SMTPUTF8 is required when an
// address is not ASCII. It returns after the entry is committed; the entry
// then references the blob. It implements delivery.OutboundSubmitter.
func (q *Queue) SubmitOutbound(ctx context.Context, from string, to []string, blob storage.BlobRef, acct storage.AccountID) error {
	rcpts := make([]Recipient, len(to))
	utf8 := !isASCII(from)
	for i, a := range to {
		rcpts[i] = Recipient{Address: a}
		utf8 = utf8 || !isASCII(a)
	}
	_, err := q.Submit(ctx, from, rcpts, blob, SubmitOptions{UTF8: utf8, Account: acct})
	return err
}

// Flush wakes the runner to deliver what is due now.
func (q *Queue) Flush() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Retry makes entry id due now and wakes the runner.
func (q *Queue) Retry(id int64) error {
	if err := q.store.RescheduleQueue(q.ctx, storage.QueueID(id), q.now()); err != nil {
		return err
	}
	q.Flush()
	return nil
}

// runner is the queue's main loop.
func (q *Queue) runner() {
	defer q.wg.Done()
	for {
		q.runOnce()
		poll := q.cfg().Outbound.PollInterval.D()
		if poll <= 0 {
			poll = 5 * time.Second
		}
		t := time.NewTimer(poll)
		select {
		case <-q.stop:
			t.Stop()
			return
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// runOnce reads the due entries and dispatches those not in flight.
func (q *Queue) runOnce() {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("panic in queue runner", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	q.mu.Lock()
	q.finishedDuringRead = map[storage.QueueID]bool{}
	// Entries in flight are still due in the database: read past them.
	limit := len(q.inflight) + q.dueBatch
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.finishedDuringRead = nil
		q.mu.Unlock()
	}()
	due, err := q.store.DueQueueEntries(q.ctx, q.now(), limit)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			q.log.Error("reading the queue failed", "err", err)
		}
		return
	}
	q.mu.Lock()
	q.truncated = len(due) >= limit
	q.mu.Unlock()
	for _, e := range due {
		q.mu.Lock()
		if q.stopped || q.inflight[e.ID] || q.finishedDuringRead[e.ID] {
			q.mu.Unlock()
			continue
		}
		q.inflight[e.ID] = true
		q.mu.Unlock()
		q.dispatch(newJob(e))
	}
}

// defaultDueBatch is how many due entries beyond those in flight one read
// takes.
const defaultDueBatch = 1000

// job is one queue entry being attempted: its recipients are split into
// groups by destination; the last group to finish calls finish.
type job struct {
	e       storage.QueueEntry
	mu      sync.Mutex
	groups  int
	relayed map[int]bool // delivered to a server without DSN support
	changed map[int]bool // recipients whose status changed in this attempt
	lastErr string

	signOnce sync.Once
	sig      string
}

func newJob(e storage.QueueEntry) *job {
	return &job{e: e, relayed: map[int]bool{}, changed: map[int]bool{}}
}

// item is the part of a job going to one destination.
type item struct {
	j     *job
	rcpts []int
}

// outcome is the result for one recipient.
type outcome struct {
	ok        bool
	temp      bool
	status    string // enhanced status code, e.g. "5.1.1"
	err       string // description (for DSNs and logs)
	reply     string // remote reply, "" when none
	mta       string // remote host
	relayedNo bool   // delivered, remote without DSN
}

// record stores the outcome of recipient i.
func (j *job) record(q *Queue, i int, o outcome) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := &j.e.Recipients[i]
	r.RemoteMTA, r.RemoteReply = o.mta, o.reply
	switch {
	case o.ok:
		r.Status, r.Error = storage.RcptDelivered, ""
		j.changed[i] = true
		if o.relayedNo {
			j.relayed[i] = true
		}
		q.delivered.Add(1)
	case o.temp:
		r.Error = strings.TrimSpace(o.status + " " + o.err)
		j.lastErr = r.Address + ": " + r.Error
		q.deferred.Add(1)
	default:
		r.Status, r.Error = storage.RcptFailed, strings.TrimSpace(o.status+" "+o.err)
		j.changed[i] = true
		q.bounced.Add(1)
	}
}

// dispatch splits a job by destination and hands the parts to the domain
// queues.
func (q *Queue) dispatch(j *job) {
	cfg := q.cfg()
	groups := map[string][]int{}
	var order []string
	for i, r := range j.e.Recipients {
		if r.Status != storage.RcptPending && r.Status != "" {
			continue
		}
		dest := ""
		if cfg.Outbound.Smarthost == "" {
			dest = domainOf(r.Address)
		}
		if _, ok := groups[dest]; !ok {
			order = append(order, dest)
		}
		groups[dest] = append(groups[dest], i)
	}
	if len(groups) == 0 {
		q.finish(j)
		return
	}
	j.groups = len(groups)
	for _, dest := range order {
		q.enqueueItem(dest, &item{j: j, rcpts: groups[dest]})
	}
}

// domainQueue holds the items waiting for one destination and counts its
// workers.
type domainQueue struct {
	items   []*item
	workers int
}

func (q *Queue) enqueueItem(dest string, it *item) {
	cfg := q.cfg()
	limit := cfg.Outbound.MaxPerDomain
	if dest == "" {
		limit = cfg.Outbound.MaxConnections // the smarthost
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.domains[dest]
	if d == nil {
		d = &domainQueue{}
		q.domains[dest] = d
	}
	d.items = append(d.items, it)
	if d.workers < limit && d.workers < len(d.items) {
		d.workers++
		q.wg.Add(1)
		go q.worker(dest)
	}
}

// next pops the next item of dest; when there is none (or the queue is
// stopping) the worker is counted out and nil returned.
func (q *Queue) next(dest string) *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.domains[dest]
	if len(d.items) == 0 || q.stopped {
		d.workers--
		if d.workers == 0 {
			// Items left behind by a stopping queue stay in flight in
			// memory only; their entries are due in the database.
			delete(q.domains, dest)
		}
		return nil
	}
	it := d.items[0]
	d.items = d.items[1:]
	return it
}

// drain pops every waiting item of dest (a connection failure applies to
// all of them).
func (q *Queue) drain(dest string) []*item {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.domains[dest]
	its := d.items
	d.items = nil
	return its
}

// worker delivers the items of one destination over one connection at a
// time, reusing it between messages.
func (q *Queue) worker(dest string) {
	defer q.wg.Done()
	var c *remoteConn
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("panic in queue worker", "dest", dest, "panic", r, "stack", string(debug.Stack()))
		}
		if c != nil {
			c.close()
		}
	}()
	// The global connection limit.
	select {
	case q.global <- struct{}{}:
		defer func() { <-q.global }()
	case <-q.ctx.Done():
	}
	for {
		it := q.next(dest)
		if it == nil {
			return
		}
		if q.ctx.Err() != nil {
			q.failItem(it, outcome{temp: true, status: "4.3.2", err: "shutting down"})
			continue
		}
		if c != nil && c.broken {
			c.close()
			c = nil
		}
		if c == nil {
			var o *outcome
			c, o = q.connect(dest, it)
			if o != nil {
				q.failItem(it, *o)
				for _, other := range q.drain(dest) {
					q.failItem(other, *o)
				}
				continue
			}
		}
		q.send(c, it)
	}
}

// failItem records o for every recipient of it and completes it.
func (q *Queue) failItem(it *item, o outcome) {
	for _, i := range it.rcpts {
		it.j.record(q, i, o)
	}
	q.itemDone(it)
}

// itemDone completes one part of a job; the last one finishes the job.
func (q *Queue) itemDone(it *item) {
	it.j.mu.Lock()
	it.j.groups--
	last := it.j.groups == 0
	it.j.mu.Unlock()
	if last {
		q.finish(it.j)
	}
}

// finish decides what becomes of an attempted entry: DSNs for the
// recipients that reached a final state, then deletion (all done) or the
// next attempt (with a delay notice once).
func (q *Queue) finish(j *job) {
	defer func() {
		q.mu.Lock()
		delete(q.inflight, j.e.ID)
		if q.finishedDuringRead != nil {
			q.finishedDuringRead[j.e.ID] = true
		}
		more := q.truncated
		q.mu.Unlock()
		if more {
			q.Flush()
		}
	}()
	// The outcome is recorded even while shutting down.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := q.cfg()
	now := q.now()
	e := &j.e
	pending := 0
	for _, r := range e.Recipients {
		if r.Status == storage.RcptPending || r.Status == "" {
			pending++
		}
	}
	expired := now.Sub(e.Created) >= cfg.Outbound.MaxQueueTime.D()
	if pending > 0 && expired && q.ctx.Err() == nil {
		for i := range e.Recipients {
			r := &e.Recipients[i]
			if r.Status == storage.RcptPending || r.Status == "" {
				last := r.Error
				r.Status = storage.RcptFailed
				r.Error = "4.4.7 delivery time expired"
				if last != "" {
					r.Error += "; last error: " + last
				}
				j.changed[i] = true
				q.bounced.Add(1)
			}
		}
		pending = 0
	}

	// DSNs for final states reached now (RFC 3461 4.1: NOTIFY decides).
	var failed, success []int
	for i := range e.Recipients {
		if !j.changed[i] {
			continue
		}
		r := e.Recipients[i]
		switch {
		case r.Status == storage.RcptFailed && notifies(r.Notify, "FAILURE"):
			failed = append(failed, i)
		case r.Status == storage.RcptDelivered && j.relayed[i] && notifies(r.Notify, "SUCCESS"):
			success = append(success, i)
		}
	}
	if len(failed) > 0 {
		q.sendDSN(ctx, e, actionFailed, failed, now)
	}
	if len(success) > 0 {
		q.sendDSN(ctx, e, actionRelayed, success, now)
	}

	log := q.log.With("queue_id", e.ID)
	if pending == 0 {
		if err := q.store.DeleteQueueEntry(ctx, e.ID); err != nil {
			log.Error("removing delivered queue entry failed", "err", err)
			return
		}
		log.Info("queue entry done", "delivered", len(e.Recipients)-countStatus(e, storage.RcptFailed), "failed", countStatus(e, storage.RcptFailed))
		return
	}
	e.Attempts++
	e.LastError = j.lastErr
	e.NextAttempt = now.Add(backoff(cfg.Outbound, e.Attempts))
	if deadline := e.Created.Add(cfg.Outbound.MaxQueueTime.D()); e.NextAttempt.After(deadline) {
		e.NextAttempt = deadline
	}
	if q.ctx.Err() != nil {
		e.NextAttempt = now // interrupted by shutdown: due at the next start
	}
	if dn := cfg.Outbound.DelayNotice.D(); !e.DelayNotified && dn > 0 && now.Sub(e.Created) >= dn && q.ctx.Err() == nil {
		var delayed []int
		for i, r := range e.Recipients {
			if (r.Status == storage.RcptPending || r.Status == "") && notifies(r.Notify, "DELAY") {
				delayed = append(delayed, i)
			}
		}
		if len(delayed) > 0 {
			q.sendDSN(ctx, e, actionDelayed, delayed, now)
		}
		e.DelayNotified = true
	}
	if err := q.store.UpdateQueueEntry(ctx, *e); err != nil {
		log.Error("updating queue entry failed", "err", err)
		return
	}
	log.Info("delivery deferred", "pending", pending, "attempts", e.Attempts, "next_attempt", e.NextAttempt.Format(time.RFC3339), "err", e.LastError)
}

func countStatus(e *storage.QueueEntry, st string) int {
	n := 0
	for _, r := range e.Recipients {
		if r.Status == st {
			n++
		}
	}
	return n
}

// notifies reports whether the NOTIFY value asks for the event (RFC 3461
// 4.1; the default is FAILURE,DELAY).
func notifies(notify, event string) bool {
	if notify == "" {
		return event == "FAILURE" || event == "DELAY"
	}
	for _, n := range strings.Split(notify, ",") {
		if strings.EqualFold(strings.TrimSpace(n), event) {
			return true
		}
	}
	return false
}

// backoff is the wait before attempt n+1: retry_initial doubled per
// attempt, capped at retry_max.
func backoff(o config.Outbound, attempts int) time.Duration {
	d := o.RetryInitial.D()
	for i := 1; i < attempts && d < o.RetryMax.D(); i++ {
		d *= 2
	}
	return min(d, o.RetryMax.D())
}

// domainOf returns the lowercased domain of an address.
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(addr[i+1:])
}
