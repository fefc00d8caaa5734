// Package server is the Floe Server value: it opens the store, synchronises
// the directory with the config file, builds TLS, opens the listeners from the
// config in a fixed order (rolling back what it opened when one fails), runs
// the protocol servers on them, reloads the config on request and shuts down
// gracefully in two phases.
//
// Listener names (keys of Addrs): "smtp", "submissions", "submission",
// "pop3", "pop3s", "imap", "imaps", "http", "https", "clientsvc", "admin". Each is
// one entry of the services table (services.go).
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/floemail/floe/server/metrics"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/server/dkim"
	"github.com/floemail/floe/server/httpd"
	"github.com/floemail/floe/server/imap"
	"github.com/floemail/floe/server/mailauth"
	"github.com/floemail/floe/server/pop3"
	"github.com/floemail/floe/server/queue"
	"github.com/floemail/floe/server/smartattach"
	"github.com/floemail/floe/server/smtp"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/backends"
	"github.com/floemail/floe/storage/ingest"
)

// Options are the process-level settings of a Server.
type Options struct {
	// Logger receives all logs. When nil, the Server builds one from
	// cfg.Log writing to LogOutput, and a reload applies a new level.
	Logger *slog.Logger
	// LogOutput is where a logger built from cfg.Log writes (default
	// os.Stderr). Unused when Logger is set.
	LogOutput io.Writer
	// Stdout, when not nil, receives a human-readable summary after Start:
	// where each listener listens and where the certificate is.
	Stdout io.Writer
	// MountHTTP, when set, mounts more handlers on the HTTP muxes after the
	// server's own (see mountHTTP): web serves the http and https
	// listeners, client the clientsvc listener. For tests and embedders.
	MountHTTP func(web, client *httpd.Mux)
	// Now is the clock of SmartAttach links (their expiry when made and
	// when served); nil: time.Now. For tests.
	Now func() time.Time
}

// Server is one running Floe instance. Create it with New, then Start,
// Reload any number of times, and Shutdown once.
type Server struct {
	cfg    atomic.Pointer[config.Config]
	log    *slog.Logger
	level  *slog.LevelVar // nil when the logger came from Options
	stdout io.Writer
	mount  func(web, client *httpd.Mux)
	now    func() time.Time // Options.Now
	reg    *registry
	certs  certStore
	// metrics is created with the Server: the admin listener exports it
	// and the components count into it.
	metrics *metrics.Metrics
	// sweep is the maintenance loop's memory (server/maintenance.go).
	sweep sweeper

	reloadMu sync.Mutex // serialises Reload (and Reload against Start/Shutdown)

	// galKick asks the Global Address Book loop to follow the directory
	// now (directoryChanged; server/groupware.go).
	galKick chan struct{}

	// base is the parent of every session's, request's and the queue's
	// context: Shutdown cancels it when its deadline passes (storage work
	// in flight stops) and, at the latest, before it closes the store.
	base       context.Context
	cancelBase context.CancelFunc

	mu        sync.Mutex // guards the fields below
	state     int
	store     storage.Store
	auth      *auth.Authenticator
	queue     *queue.Queue
	listeners []*boundListener
	serving   sync.WaitGroup
}

const (
	stateNew = iota
	stateStarting
	stateRunning
	stateStopped
)

// boundListener is one open listener and the Service that serves it.
type boundListener struct {
	spec  listenerSpec
	addr  string         // configured address
	limit *limitListener // the TCP listener with the per-IP limit
	l     net.Listener   // what the service accepts on (TLS on top for implicit TLS)
	svc   Service
}

// New returns a Server for cfg. It does not open anything; Start does.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("server: nil config")
	}
	if cfg.Server.DataDir == "" {
		return nil, errors.New("server: [server] data_dir is empty; set it to the directory for the database and certificates")
	}
	s := &Server{stdout: opts.Stdout, mount: opts.MountHTTP, now: opts.Now, reg: newRegistry(), log: opts.Logger, metrics: metrics.New(),
		galKick: make(chan struct{}, 1)}
	// Every write under the base context moves inline attachments of
	// calendar items into files whose URLs are under the public WebDAV URL
	// (storage/ingest, SmartAttach for items).
	itemAttach := ingest.WithItemAttachments(context.Background(), ingest.ItemAttachments{
		WebDAVURL: func() string { return s.Config().WebDAVURL() }})
	s.base, s.cancelBase = context.WithCancel(itemAttach)
	if s.log == nil {
		s.level = new(slog.LevelVar)
		w := opts.LogOutput
		if w == nil {
			w = os.Stderr
		}
		l, err := NewLogger(cfg.Log, w, s.level)
		if err != nil {
			return nil, fmt.Errorf("server: [log]: %w", err)
		}
		s.log = l
	}
	s.cfg.Store(cfg)
	fdLimit := fdConnLimit()
	s.reg.limits = func(name string) connLimits { return limitsFor(s.Config(), name, fdLimit) }
	return s, nil
}

// Config returns the current configuration. Components receive this method
// as their `Config func() *config.Config` and call it per connection or
// command, so a reload applies without restarting them.
func (s *Server) Config() *config.Config { return s.cfg.Load() }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Start opens the store in cfg.Server.DataDir, synchronises the directory with
// the config (see SyncDirectory), loads or generates the TLS certificate,
// opens every enabled listener in order and starts the protocol servers on
// them. When a listener cannot be opened, the listeners opened before it and
// the store are closed again and the error names the listener and address.
// ctx bounds the start-up work only, not the life of the server.
func (s *Server) Start(ctx context.Context) (err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return errors.New("server: Start called twice")
	}
	s.state = stateStarting
	s.mu.Unlock()
	defer func() {
		if err != nil {
			s.mu.Lock()
			s.state = stateStopped
			s.mu.Unlock()
		}
	}()

	cfg := s.Config()
	store, err := openStore(ctx, cfg, s.log.With("component", "storage"))
	if err != nil {
		return err
	}
	// Roll back on every later failure.
	var opened []*boundListener
	defer func() {
		if err != nil {
			for i := len(opened) - 1; i >= 0; i-- {
				opened[i].l.Close()
			}
			s.cancelBase()
			store.Close()
		}
	}()

	if err := SyncDirectory(ctx, store, cfg, s.log.With("component", "directory")); err != nil {
		return fmt.Errorf("synchronising the directory with the config file: %w", err)
	}
	if err := ensureGroupwareFolders(ctx, store, s.log.With("component", "groupware")); err != nil {
		return fmt.Errorf("creating groupware folders: %w", err)
	}
	if err := syncGAL(ctx, store, s.log.With("component", "groupware")); err != nil {
		return fmt.Errorf("updating the Global Address Books: %w", err)
	}
	cert, err := loadCertificate(cfg, s.log.With("component", "tls"))
	if err != nil {
		return err
	}
	s.certs.cert.Store(cert)
	tlsCfg := s.certs.tlsConfig()

	authn := auth.New(store, cfg.Auth, s.log.With("component", "auth"))
	m := s.metrics
	authn.SetObserver(m.Login)
	// Every account's groupware folders exist by its first login, however
	// it was created (server/groupware.go).
	folders := &folderEnsurer{store: store, log: s.log.With("component", "groupware")}
	authn.SetLoginHook(folders.loginHook)
	m.Register(metrics.Sources{
		Connections: s.reg.counts,
		Store:       store,
		DataDir:     cfg.Server.DataDir,
	})
	// Delivery and the outbound queue use each other through interfaces
	// declared at the consumer (delivery.OutboundSubmitter,
	// queue.LocalDeliverer); the link is closed below, once both exist.
	submit := &submitLink{}
	rewriter, err := openSRS(cfg)
	if err != nil {
		return fmt.Errorf("SRS key: %w", err)
	}
	deliverer := delivery.New(delivery.Options{Store: store, Config: s.Config, Logger: s.log.With("component", "delivery"),
		Outbound: submit, SRS: rewriter, LookupPTR: ptrLookup(s.Config), Metrics: m})
	checker := mailauth.New(mailauth.Options{Config: s.Config, Logger: s.log.With("component", "mailauth")})
	// DKIM keys (floe dkim gen) sign outbound mail. Without usable keys the
	// queue sends unsigned; a nil *dkim.Keys must not become a non-nil
	// Signer interface.
	var signer queue.Signer
	if keys, err := dkim.Open(filepath.Join(cfg.Server.DataDir, "dkim"), s.log.With("component", "dkim")); err != nil {
		s.log.Warn("DKIM keys unavailable; outbound mail will not be signed", "err", err)
	} else {
		signer = keys
	}
	outq := queue.New(queue.Options{Store: store, Config: s.Config, Logger: s.log.With("component", "queue"),
		Local: deliverer, Signer: signer, BaseContext: s.base})
	submit.q = outq
	m.RegisterQueue(func() metrics.QueueStats {
		st := outq.Stats()
		return metrics.QueueStats{Queued: st.Queued, Delivered: st.Delivered, Deferred: st.Deferred, Bounced: st.Bounced}
	})
	comp := &components{
		smtp: smtp.New(smtp.Options{Config: s.Config, Store: store, Auth: authn, Delivery: deliverer,
			Checker: checker, Queue: outq, TLS: tlsCfg, Logger: s.log.With("component", "smtp"), BaseContext: s.base, Metrics: m,
			SmartAttach: smartattach.New(smartattach.Options{Store: store, Config: s.Config, Now: s.now,
				Logger: s.log.With("component", "smartattach")})}),
		pop3: pop3.New(pop3.Options{Config: s.Config, Store: store, Auth: authn, TLS: tlsCfg,
			Logger: s.log.With("component", "pop3"), BaseContext: s.base, Metrics: m.Protocol("pop3")}),
		imap: imap.New(imap.Options{Config: s.Config, Store: store, Auth: authn, TLS: tlsCfg,
			Logger: s.log.With("component", "imap"), BaseContext: s.base, Metrics: m.Protocol("imap")}),
		web:    httpd.NewMux(httpd.MuxOptions{Config: s.Config, Auth: authn, Logger: s.log.With("component", "http")}),
		client: httpd.NewMux(httpd.MuxOptions{Config: s.Config, Auth: authn, Logger: s.log.With("component", "clientsvc")}),
	}
	comp.admin = m.AdminHandler(func(ctx context.Context) error { return healthCheck(ctx, store) })
	comp.http = func(name string, mux http.Handler, redirect bool) Service {
		return httpd.New(httpd.Options{Name: name, Handler: mux, Config: s.Config, RedirectToHTTPS: redirect,
			Logger: s.log.With("component", "http"), BaseContext: func() context.Context { return s.base }})
	}
	if err := s.mountHTTP(comp.web, comp.client, httpDeps{store: store, auth: authn, metrics: m, owns: deliverer.Owns}); err != nil {
		return err
	}
	s.mountGroupware(comp.web, store, cfg, folders)
	s.mountFiles(comp.web, store)
	if s.mount != nil {
		s.mount(comp.web, comp.client)
	}

	for _, sp := range specs {
		addr := sp.addr(cfg)
		if addr == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		bl, err := s.listen(sp, addr, tlsCfg)
		if err != nil {
			return fmt.Errorf("listener %s on %s: %w", sp.name, addr, err)
		}
		bl.svc = sp.service(comp)
		opened = append(opened, bl)
	}

	s.mu.Lock()
	s.store, s.auth, s.listeners = store, authn, opened
	s.queue = outq
	s.state = stateRunning
	s.mu.Unlock()

	outq.Start(s.base)                  // outbound queue (server/queue)
	go s.galLoop(s.base, store)         // Global Address Books (server/groupware.go)
	go s.maintenanceLoop(s.base, store) // files of gone items and ended links (server/maintenance.go)

	for _, bl := range opened {
		s.serve(bl)
	}
	s.log.Info("floe started", slog.Int("listeners", len(opened)), slog.String("data_dir", cfg.Server.DataDir))
	s.printSummary(cfg, opened)
	return nil
}

// submitLink is delivery's OutboundSubmitter: the outbound queue, which is
// built after the deliverer because it takes the deliverer as its
// LocalDeliverer. q is set before any listener starts.
type submitLink struct{ q *queue.Queue }

func (l *submitLink) SubmitOutbound(ctx context.Context, from string, to []string, blob storage.BlobRef, acct storage.AccountID) error {
	return l.q.SubmitOutbound(ctx, from, to, blob, acct)
}

// The concrete types satisfy each other's consumer interfaces.
var (
	_ queue.LocalDeliverer       = (*delivery.Deliverer)(nil)
	_ delivery.OutboundSubmitter = (*queue.Queue)(nil)
)

// listen opens one listener: TCP, the per-IP limit, and TLS on top for
// implicit-TLS services (with the entry's ALPN protocols: HTTP/2).
func (s *Server) listen(sp listenerSpec, addr string, tlsCfg *tls.Config) (*boundListener, error) {
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	tcp = s.metrics.CountListener(tcp, sp.name)
	max := func() int { return sp.maxPerIP(s.Config()) }
	ll := newLimitListener(tcp, sp.name, max, sp.refusal, s.reg, s.log.With("listener", sp.name))
	bl := &boundListener{spec: sp, addr: addr, limit: ll, l: ll}
	if sp.implicitTLS {
		c := tlsCfg
		if sp.alpn != nil {
			c = tlsCfg.Clone()
			c.NextProtos = sp.alpn
		}
		bl.l = &onceCloseListener{Listener: tls.NewListener(ll, c)}
	}
	return bl, nil
}

// serve runs the Service of bl on its listener in its own goroutine.
func (s *Server) serve(bl *boundListener) {
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic in listener", slog.String("listener", bl.spec.name),
					slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			}
		}()
		err := bl.svc.Serve(bl.l)
		s.mu.Lock()
		stopping := s.state == stateStopped
		s.mu.Unlock()
		if err != nil && !stopping && !errors.Is(err, net.ErrClosed) {
			s.log.Error("listener stopped", slog.String("listener", bl.spec.name), slog.Any("error", err))
		}
	}()
}

// printSummary tells the operator where everything is.
func (s *Server) printSummary(cfg *config.Config, opened []*boundListener) {
	if s.stdout == nil {
		return
	}
	fmt.Fprintf(s.stdout, "floe is running; data in %s\n", cfg.Server.DataDir)
	for _, bl := range opened {
		fmt.Fprintf(s.stdout, "  %-12s %-22s %s\n", bl.spec.name, bl.limit.Addr(), bl.spec.describe)
	}
	if cfg.TLS.CertFile != "" {
		fmt.Fprintf(s.stdout, "TLS certificate: %s\n", cfg.TLS.CertFile)
	} else {
		certFile, _ := SelfSignedCertPaths(cfg.Server.DataDir)
		fmt.Fprintf(s.stdout, "TLS certificate: %s (self-signed; trust it in your client or accept the warning)\n", certFile)
	}
}

// Addrs returns the bound address of every open listener, by name ("smtp",
// "submissions", "submission", "pop3", "pop3s", "imap", "imaps", "http",
// "https", "clientsvc"). With port 0 in the config it tells which port the
// system chose.
func (s *Server) Addrs() map[string]net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]net.Addr, len(s.listeners))
	for _, bl := range s.listeners {
		m[bl.spec.name] = bl.limit.Addr()
	}
	return m
}

// Connections returns the number of open client connections per listener
// name.
func (s *Server) Connections() map[string]int { return s.reg.counts() }

// Shutdown stops the server gracefully, in two phases: first every listener
// stops accepting; then the services' Shutdown methods run concurrently
// (SMTP answers 421 to idle clients and lets DATA in flight finish, POP3
// answers -ERR and rolls back, IMAP sends BYE to idle sessions and lets
// commands in progress finish, HTTP closes idle connections and lets
// requests in flight finish), each bounded by ctx. When ctx
// ends first, the server's base context is cancelled (every session's,
// request's and the queue's context derives from it, so storage work in
// flight stops) and the connections still open are closed forcibly. The
// base context is cancelled in any case before the store is closed, last. Shutdown of a server that never started successfully returns
// nil; calling it twice returns nil the second time.
func (s *Server) Shutdown(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	if s.state != stateRunning {
		s.state = stateStopped
		s.mu.Unlock()
		s.cancelBase()
		return nil
	}
	s.state = stateStopped
	listeners, store := s.listeners, s.store
	outq := s.queue
	s.mu.Unlock()

	s.log.Info("shutting down")
	// When the deadline passes, the base context is cancelled: storage
	// calls and outbound connections in flight give up, so the forced
	// close below does not wait for them.
	stopWatch := context.AfterFunc(ctx, s.cancelBase)
	defer stopWatch()
	// Phase 1: stop accepting everywhere, so no new work arrives while the
	// protocol servers drain.
	for _, bl := range listeners {
		if err := bl.l.Close(); err != nil {
			s.log.Warn("closing listener", slog.String("listener", bl.spec.name), slog.Any("error", err))
		}
	}

	// Phase 2: drain the services concurrently, each protocol server once
	// (the entries of a group share one).
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for _, bl := range listeners {
		name := bl.spec.group
		if seen[name] {
			continue
		}
		seen[name] = true
		fn := bl.svc.Shutdown
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("panic in shutdown", slog.String("server", name), slog.Any("panic", v))
				}
			}()
			if err := fn(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()

	served := make(chan struct{})
	go func() { s.serving.Wait(); close(served) }()
	select {
	case <-served:
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		if n := s.reg.closeAll(); n > 0 {
			s.log.Warn("shutdown deadline passed; closed connections forcibly", slog.Int("connections", n))
		}
		// Give the serve loops a moment to notice their closed listeners.
		select {
		case <-served:
		case <-time.After(time.Second):
		}
	}

	// The outbound queue after SMTP (no more submissions), before the store.
	if err := outq.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("outbound queue: %w", err))
	}
	s.cancelBase() // nothing may use the store past this point
	if err := store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing the store: %w", err))
	}
	if len(errs) == 0 {
		s.log.Info("shutdown complete")
	}
	return errors.Join(errs...)
}

// Reload applies newCfg to the running server: the certificate is reloaded
// (new TLS handshakes use it), the directory is re-synchronised, the
// authenticator and log level get the new settings, and the config pointer
// components read through Config() is swapped. Listener addresses and the data
// directory cannot change without a restart: such changes are logged and the
// old values stay in force. When any step fails the old config stays in force
// and the error is returned (a failed directory sync may have applied part of
// the new directory; it is logged and a later reload converges).
func (s *Server) Reload(newCfg *config.Config) error {
	if newCfg == nil {
		return errors.New("reload: nil config")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	state, store, authn := s.state, s.store, s.auth
	s.mu.Unlock()
	if state != stateRunning {
		return errors.New("reload: server is not running")
	}
	old := s.Config()
	eff := newCfg.Clone() // we may keep some old values
	for _, sp := range specs {
		if sp.addr(old) != sp.addr(newCfg) {
			s.log.Warn("listener address change needs a restart; keeping the old address",
				slog.String("listener", sp.name), slog.String("old", sp.addr(old)), slog.String("new", sp.addr(newCfg)))
		}
	}
	eff.Listeners = old.Listeners
	if newCfg.Server.DataDir != old.Server.DataDir {
		s.log.Warn("data_dir change needs a restart; keeping the old directory",
			slog.String("old", old.Server.DataDir), slog.String("new", newCfg.Server.DataDir))
		eff.Server.DataDir = old.Server.DataDir
	}
	if newCfg.Storage != old.Storage {
		s.log.Warn("[storage] change needs a restart; keeping the old store",
			slog.String("old_backend", old.Storage.Backend), slog.String("new_backend", newCfg.Storage.Backend),
			slog.String("old_path", old.Storage.Path), slog.String("new_path", newCfg.Storage.Path))
		eff.Storage = old.Storage
	}

	var level slog.Level
	if s.level != nil {
		l, err := ParseLevel(eff.Log.Level)
		if err != nil {
			return fmt.Errorf("reload: [log]: %w", err)
		}
		level = l
	}
	cert, err := loadCertificate(eff, s.log.With("component", "tls"))
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := SyncDirectory(ctx, store, eff, s.log.With("component", "directory")); err != nil {
		s.log.Error("reload: directory sync failed; the old config stays in force", slog.Any("error", err))
		return fmt.Errorf("reload: synchronising the directory: %w", err)
	}
	s.directoryChanged()

	s.certs.cert.Store(cert)
	authn.SetConfig(eff.Auth)
	if s.level != nil {
		s.level.Set(level)
	}
	s.cfg.Store(eff)
	s.log.Info("configuration reloaded", slog.String("file", eff.File))
	return nil
}

// openStore opens the backend [storage] names (storage/backends), in
// [storage] path or [server] data_dir.
func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (storage.Store, error) {
	path := cfg.StoragePath()
	if path == "" {
		return nil, errors.New("[server] data_dir is empty; set it to the directory of the database")
	}
	store, err := backends.Open(ctx, backends.Options{Backend: cfg.Storage.Backend, Path: path, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening the %s store in %s: %w", cfg.Storage.Backend, path, err)
	}
	return store, nil
}

// OpenStore opens the store of cfg ([storage], in [server] data_dir by
// default) and synchronises its directory with the config, for tools that
// work on the database beside or without a running server (the floe CLI). SQLite lets a running server and
// such a tool share the database. The caller closes the store.
//
// The sync is additive: entries the config declares are created or updated,
// but config entries it no longer declares are left alone — only the server
// (Start and Reload) removes or disables them. So a tool run with another
// config (say, the development default in the server's directory) can never
// disable accounts.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (storage.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := syncDirectory(ctx, store, cfg, log, false); err != nil {
		store.Close()
		return nil, fmt.Errorf("synchronising the directory with the config file: %w", err)
	}
	return store, nil
}
