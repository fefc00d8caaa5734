package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/httpd"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
	"github.com/floemail/floe/webdav/dav"
)

// ensureGroupwareFolders gives every account the typed folders of
// storage.GroupwareMailboxes it lacks (accounts from before groupware, or
// added by the config file). Accounts added later get theirs on their
// first DAV request.
func ensureGroupwareFolders(ctx context.Context, store storage.Store, log *slog.Logger) error {
	accts, err := store.Accounts(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, a := range accts {
		created, err := store.EnsureGroupwareMailboxes(ctx, a.ID)
		if err != nil {
			return err
		}
		if len(created) > 0 {
			n++
			log.Info("created groupware folders", "account", a.Address, "folders", created)
		}
	}
	if n > 0 {
		log.Info("groupware folders added", "accounts", n)
	}
	return nil
}

// mountGroupware mounts CalDAV and CardDAV (webdav/dav) under /dav/ behind
// HTTP Basic authentication, the RFC 6764 well-known URLs, and free/busy
// at /freebusy/ (anonymous or authenticated as [groupware]
// freebusy_access says). The [groupware] settings apply at start.
func (s *Server) mountGroupware(web *httpd.Mux, store storage.Store, cfg *config.Config) {
	g := cfg.Groupware
	authn := func(r *http.Request) (storage.Account, bool) {
		p, ok := httpd.PrincipalFrom(r.Context())
		if !ok {
			return storage.Account{}, false
		}
		a, err := store.AccountByID(r.Context(), p.Account)
		return a, err == nil && !a.Disabled
	}
	h := dav.New(dav.Config{
		Store:        store,
		Authenticate: authn,
		// One view per request: rights as they are now (storage/view).
		Access: func(r *http.Request, acct storage.Account) dav.Access {
			v, err := view.New(r.Context(), store, acct.ID, view.Options{Logger: s.log, Hostname: cfg.Server.Hostname})
			if err != nil {
				s.log.Warn("dav: cannot open the account's view", "account", acct.Address, "err", err)
				return nil
			}
			return dav.NewViewAccess(v)
		},
		MaxResourceSize: int64(g.MaxResourceSize),
		FreeBusy: dav.FreeBusyConfig{Access: g.FreeBusyAccess,
			Past: time.Duration(g.FreeBusyPast), Future: time.Duration(g.FreeBusyFuture)},
		Log: s.log.With("component", "dav"),
	})
	// A PUT carries at most one resource; a REPORT body at most the XML
	// limit (1 MiB).
	body := max(int64(g.MaxResourceSize), 1<<20) + 64<<10
	web.HandleAuth("/dav/", h, httpd.MaxBody(body))
	web.HandleAuth("PROPFIND /{$}", h, httpd.MaxBody(1<<20))
	// OPTIONS / is answered by the WebDAV files handler (server/files.go).
	web.Handle("/.well-known/caldav", h, httpd.MaxBody(64<<10))
	web.Handle("/.well-known/carddav", h, httpd.MaxBody(64<<10))
	fb := h.FreeBusy()
	if g.FreeBusyAccess == dav.FreeBusyAnyone {
		web.Handle("/freebusy/", fb, httpd.MaxBody(0))
		web.Handle("/freebusy", fb, httpd.MaxBody(0))
	} else {
		web.HandleAuth("/freebusy/", fb, httpd.MaxBody(0))
		web.HandleAuth("/freebusy", fb, httpd.MaxBody(0))
	}
}
