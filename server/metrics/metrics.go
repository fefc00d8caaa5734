// Package metrics holds Floe's Prometheus metrics and the admin listener's
// handler (/metrics in the Prometheus text format, /healthz).
//
// There is no global registry: the server creates one *Metrics with New
// and passes it (or its per-protocol *Protocol) to the components through
// their constructors. Every method is safe on a nil receiver and then does
// nothing, so components run without metrics in tests.
//
// Metric names (all prefixed floe_):
//
//	connections_total{protocol}                counter  accepted connections
//	connections_open{listener}                 gauge    open connections now
//	logins_total{protocol,result}              counter  result: ok, failed, rate_limited
//	command_duration_seconds{protocol,command} histogram
//	messages_received_total{protocol}          counter  messages accepted (smtp, submission)
//	messages_delivered_total                   counter  messages stored in local mailboxes
//	queue_messages_total{event}                counter  event: queued, delivered, deferred, bounced
//	queue_size                                 gauge    messages in the outbound queue
//	queue_oldest_age_seconds                   gauge    age of the oldest queued message
//	storage_bytes{kind}                        gauge    kind: database, mailboxes
//	http_requests_total{service,method,code}   counter  service: dav, discover, api, web, clientsvc
//	http_request_duration_seconds{service}     histogram
package metrics

import (
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the set of Floe's metrics, registered in its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	connections *prometheus.CounterVec
	logins      *prometheus.CounterVec
	commands    *prometheus.HistogramVec
	received    *prometheus.CounterVec
	delivered   prometheus.Counter
	httpReqs    *prometheus.CounterVec
	httpLatency *prometheus.HistogramVec

	src *sourceCollector // scrape-time metrics (collectors.go)

	mu        sync.Mutex
	protocols map[string]*Protocol
}

// New returns Metrics registered in a new registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg, protocols: map[string]*Protocol{}}
	m.connections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_connections_total", Help: "Connections accepted, per protocol.",
	}, []string{"protocol"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_logins_total", Help: "Login attempts, per protocol and result (ok, failed, rate_limited).",
	}, []string{"protocol", "result"})
	m.commands = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "floe_command_duration_seconds", Help: "Time to execute a protocol command, per protocol and command.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"protocol", "command"})
	m.received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_messages_received_total", Help: "Messages accepted over SMTP, per listener kind (mx, submission).",
	}, []string{"protocol"})
	m.delivered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "floe_messages_delivered_total", Help: "Messages stored in local mailboxes (one per message, whatever the number of recipients).",
	})
	m.httpReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "floe_http_requests_total", Help: "HTTP requests, per service, method and status code.",
	}, []string{"service", "method", "code"})
	m.httpLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "floe_http_request_duration_seconds", Help: "Time to answer an HTTP request, per service.",
		Buckets: prometheus.DefBuckets,
	}, []string{"service"})
	m.src = &sourceCollector{now: time.Now}
	reg.MustRegister(m.connections, m.logins, m.commands, m.received, m.delivered, m.httpReqs, m.httpLatency, m.src,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Protocol is the view of Metrics one protocol server uses. A nil
// *Protocol does nothing.
type Protocol struct {
	m    *Metrics
	name string

	mu       sync.Mutex
	commands map[string]bool // command label values in use
}

// maxCommands bounds the distinct command labels of one protocol; later
// names are counted as "OTHER" (label cardinality must stay bounded
// whatever clients send).
const maxCommands = 64

var commandName = regexp.MustCompile(`^[A-Z][A-Z0-9 _-]{0,23}$`)

// Protocol returns the per-protocol view ("imap", "pop3", "smtp", ...).
func (m *Metrics) Protocol(name string) *Protocol {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.protocols[name]
	if !ok {
		p = &Protocol{m: m, name: name, commands: map[string]bool{}}
		m.protocols[name] = p
	}
	return p
}

// Connection counts an accepted connection.
func (p *Protocol) Connection() {
	if p == nil {
		return
	}
	p.m.connections.WithLabelValues(p.name).Inc()
}

// Command observes the time a command took. name should be the command's
// canonical upper-case verb ("FETCH", "UID FETCH", "RETR", "DATA");
// anything else, and names beyond the first 64, are counted as "OTHER".
func (p *Protocol) Command(name string, d time.Duration) {
	if p == nil {
		return
	}
	if !commandName.MatchString(name) {
		name = "OTHER"
	}
	p.mu.Lock()
	if !p.commands[name] {
		if len(p.commands) >= maxCommands {
			name = "OTHER"
		}
		p.commands[name] = true
	}
	p.mu.Unlock()
	p.m.commands.WithLabelValues(p.name, name).Observe(d.Seconds())
}

// Received counts a message accepted over SMTP (protocol "mx" or
// "submission").
func (m *Metrics) Received(protocol string) {
	if m == nil {
		return
	}
	m.received.WithLabelValues(protocol).Inc()
}

// Delivered counts a message stored in local mailboxes.
func (m *Metrics) Delivered() {
	if m == nil {
		return
	}
	m.delivered.Inc()
}

// Login counts a login attempt; result is "ok", "failed" or
// "rate_limited".
func (m *Metrics) Login(protocol, result string) {
	if m == nil {
		return
	}
	switch result {
	case "ok", "failed", "rate_limited":
	default:
		result = "failed"
	}
	m.logins.WithLabelValues(protocolLabel(protocol), result).Inc()
}

// protocolLabel bounds protocol label values to lowercase words.
func protocolLabel(p string) string {
	if len(p) == 0 || len(p) > 16 {
		return "other"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "other"
		}
	}
	return p
}

// CountListener wraps l so that every accepted connection counts for
// protocol.
func (m *Metrics) CountListener(l net.Listener, protocol string) net.Listener {
	if m == nil {
		return l
	}
	return &countingListener{Listener: l, p: m.Protocol(protocol)}
}

type countingListener struct {
	net.Listener
	p *Protocol
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.p.Connection()
	}
	return c, err
}

// statusCode formats an HTTP status for a label.
func statusCode(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return strconv.Itoa(code)
}
