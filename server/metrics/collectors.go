package metrics

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/floemail/floe/storage"
)

// QueueStats are the outbound queue's counters since start (server/queue
// Stats).
type QueueStats struct {
	Queued, Delivered, Deferred, Bounced int64
}

// Sources are what the collectors read at scrape time. Any field may be
// nil; its metrics are then absent.
type Sources struct {
	// Connections returns the open connections per listener name.
	Connections func() map[string]int
	// Queue returns the outbound queue's counters.
	Queue func() QueueStats
	// Store gives the queue size and oldest age, and the mailbox bytes.
	Store storeSource
	// DataDir holds the database files measured as storage_bytes{kind="database"}.
	DataDir string
}

// storeSource is the part of the store the collectors read.
type storeSource interface {
	QueueEntries(ctx context.Context) ([]storage.QueueEntry, error)
	Accounts(ctx context.Context) ([]storage.Account, error)
	Usage(ctx context.Context, acct storage.AccountID) (storage.Usage, error)
}

// Register sets what the scrape-time collectors read (replacing the
// sources of an earlier call).
func (m *Metrics) Register(src Sources) {
	if m == nil {
		return
	}
	m.src.mu.Lock()
	defer m.src.mu.Unlock()
	m.src.src = src
	m.src.queueOK, m.src.usageOK = false, false
}

// RegisterQueue sets the outbound queue's counters (Sources.Queue), for a
// queue created after Register.
func (m *Metrics) RegisterQueue(fn func() QueueStats) {
	if m == nil {
		return
	}
	m.src.mu.Lock()
	defer m.src.mu.Unlock()
	m.src.src.Queue = fn
}

var (
	descOpen      = prometheus.NewDesc("floe_connections_open", "Open client connections, per listener.", []string{"listener"}, nil)
	descQueueMsgs = prometheus.NewDesc("floe_queue_messages_total", "Outbound queue events since start: queued, delivered, deferred (a temporary failure), bounced.", []string{"event"}, nil)
	descQueueSize = prometheus.NewDesc("floe_queue_size", "Messages waiting in the outbound queue.", nil, nil)
	descQueueAge  = prometheus.NewDesc("floe_queue_oldest_age_seconds", "Age of the oldest message in the outbound queue (0 when empty).", nil, nil)
	descStorage   = prometheus.NewDesc("floe_storage_bytes", "Storage used: database (files in the data directory) and mailboxes (message bytes counted against quotas).", []string{"kind"}, nil)
)

// sourceCollector reads Sources at scrape time. Expensive values (the
// mailbox bytes: one query per account) are cached for cacheFor.
type sourceCollector struct {
	src Sources
	now func() time.Time

	mu        sync.Mutex
	usageAt   time.Time
	usageVal  float64
	usageOK   bool
	queueAt   time.Time
	queueSize float64
	queueAge  float64
	queueOK   bool
}

const (
	usageCacheFor = time.Minute
	queueCacheFor = 5 * time.Second
	scrapeTimeout = 10 * time.Second
)

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descQueueMsgs, descQueueSize, descQueueAge, descStorage} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if f := src.Connections; f != nil {
		counts := f()
		names := make([]string, 0, len(counts))
		for n := range counts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(counts[n]), n)
		}
	}
	if f := src.Queue; f != nil {
		st := f()
		for _, e := range []struct {
			name string
			v    int64
		}{{"queued", st.Queued}, {"delivered", st.Delivered}, {"deferred", st.Deferred}, {"bounced", st.Bounced}} {
			ch <- prometheus.MustNewConstMetric(descQueueMsgs, prometheus.CounterValue, float64(e.v), e.name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if src.Store != nil {
		if size, age, ok := c.queue(ctx, src.Store); ok {
			ch <- prometheus.MustNewConstMetric(descQueueSize, prometheus.GaugeValue, size)
			ch <- prometheus.MustNewConstMetric(descQueueAge, prometheus.GaugeValue, age)
		}
		if v, ok := c.usage(ctx, src.Store); ok {
			ch <- prometheus.MustNewConstMetric(descStorage, prometheus.GaugeValue, v, "mailboxes")
		}
	}
	if src.DataDir != "" {
		ch <- prometheus.MustNewConstMetric(descStorage, prometheus.GaugeValue, float64(databaseBytes(src.DataDir)), "database")
	}
}

func (c *sourceCollector) queue(ctx context.Context, st storeSource) (size, age float64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.queueOK && now.Sub(c.queueAt) < queueCacheFor {
		return c.queueSize, c.queueAge, true
	}
	entries, err := st.QueueEntries(ctx)
	if err != nil {
		return 0, 0, false
	}
	c.queueSize, c.queueAge = float64(len(entries)), 0
	for _, e := range entries {
		if a := now.Sub(e.Created).Seconds(); a > c.queueAge {
			c.queueAge = a
		}
	}
	c.queueAt, c.queueOK = now, true
	return c.queueSize, c.queueAge, true
}

func (c *sourceCollector) usage(ctx context.Context, st storeSource) (float64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.usageOK && now.Sub(c.usageAt) < usageCacheFor {
		return c.usageVal, true
	}
	accts, err := st.Accounts(ctx)
	if err != nil {
		return 0, false
	}
	var total int64
	for _, a := range accts {
		u, err := st.Usage(ctx, a.ID)
		if err != nil {
			return 0, false
		}
		total += u.Bytes
	}
	c.usageVal, c.usageAt, c.usageOK = float64(total), now, true
	return c.usageVal, true
}

// databaseBytes sums the sizes of the SQLite files (*.db, -wal, -shm) at
// the top of dir.
func databaseBytes(dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".db") || strings.HasSuffix(name, ".db-wal") || strings.HasSuffix(name, ".db-shm")) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// HTTP wraps h so that its requests are counted as service ("dav",
// "discover", "api", "web", "clientsvc").
func (m *Metrics) HTTP(service string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		m.httpReqs.WithLabelValues(service, methodLabel(r.Method), statusCode(sw.code)).Inc()
		m.httpLatency.WithLabelValues(service).Observe(time.Since(start).Seconds())
	})
}

// methodLabel bounds the method label: the methods HTTP, WebDAV, CalDAV
// and CardDAV define, else "OTHER".
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND", "PROPPATCH",
		"MKCOL", "MKCALENDAR", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "ACL", "SEARCH":
		return m
	}
	return "OTHER"
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AdminHandler serves the admin listener: GET /metrics (Prometheus text
// format) and GET /healthz (200 "ok", or 503 with the reason when health
// returns an error). health may be nil.
func (m *Metrics) AdminHandler(health func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
			ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 30 * time.Second,
		}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if health != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := health(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("unhealthy: " + err.Error() + "\n"))
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}
