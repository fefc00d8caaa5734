package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/httpd"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
	"github.com/floemail/floe/webdav/dav"
	"github.com/floemail/floe/webdav/gal"
)

// ensureGroupwareFolders gives every account the typed folders of
// storage.GroupwareMailboxes it lacks (accounts from before groupware, or
// added by the config file). Accounts added later get theirs when they are
// created (the CLI, the config file's synchronisation) and, whatever created
// them, at their first login (folderEnsurer, the login hook) and first DAV
// request.
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

// folderEnsurer creates an account's missing groupware folders once per
// account and process: the login hook of every protocol (IMAP, POP3,
// SMTP, HTTP) and the DAV handler ask it, so an account created by any
// path has Calendar, Contacts, ... by its first session.
type folderEnsurer struct {
	store storage.Items
	log   *slog.Logger
	done  sync.Map // storage.AccountID -> struct{}
}

// ensure creates acct's missing groupware folders unless that was done
// for acct by this process.
func (e *folderEnsurer) ensure(ctx context.Context, acct storage.AccountID) error {
	if _, ok := e.done.Load(acct); ok {
		return nil
	}
	created, err := e.store.EnsureGroupwareMailboxes(ctx, acct)
	if err != nil {
		return err
	}
	if len(created) > 0 {
		e.log.Info("created groupware folders", "account", acct, "folders", created)
	}
	e.done.Store(acct, struct{}{})
	return nil
}

// loginHook is the auth.Authenticator login hook: the groupware folders
// exist before the session's first command.
func (e *folderEnsurer) loginHook(ctx context.Context, p *auth.Principal) {
	if err := e.ensure(ctx, p.Account); err != nil && ctx.Err() == nil {
		e.log.Warn("groupware folders not created at login", "account", p.Address, "err", err)
	}
}

// mountGroupware mounts CalDAV and CardDAV (webdav/dav) under /dav/ behind
// HTTP Basic authentication, the RFC 6764 well-known URLs, and free/busy
// at /freebusy/ (anonymous or authenticated as [groupware]
// freebusy_access says). The [groupware] settings apply at start.
func (s *Server) mountGroupware(web *httpd.Mux, store storage.Store, cfg *config.Config, folders *folderEnsurer) {
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
		EnsureFolders: func(ctx context.Context, acct storage.Account) error {
			return folders.ensure(ctx, acct.ID)
		},
		MaxResourceSize: int64(g.MaxResourceSize),
		// CalDAV managed attachments (RFC 8607): files under /webdav/.
		WebDAVURL:         func() string { return s.Config().WebDAVURL() },
		MaxAttachmentSize: cfg.Files.MaxItemAttachmentSize.Int64(),
		MaxAttachments:    cfg.Files.MaxItemAttachments,
		FreeBusy: dav.FreeBusyConfig{Access: g.FreeBusyAccess,
			Past: time.Duration(g.FreeBusyPast), Future: time.Duration(g.FreeBusyFuture)},
		Log: s.log.With("component", "dav"),
	})
	// A PUT carries at most one resource; a REPORT body at most the XML
	// limit (1 MiB).
	body := max(int64(g.MaxResourceSize), 1<<20) + 64<<10
	// A managed attachment (RFC 8607 POST) may be larger.
	body = max(body, cfg.Files.MaxItemAttachmentSize.Int64()+64<<10)
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

// GALFolder is the name of each domain's Global Address Book among its
// public folders (#public/Global Address Book).
const GALFolder = "Global Address Book"

// galInterval is how often the Global Address Books are synchronised
// whatever happened (a safety net); galPoll is how often the directory
// version is read (storage.Directory.DirectoryVersion), so a change made
// by any process (the CLI, the config file's synchronisation) reaches the
// books within about a second.
const (
	galInterval = 5 * time.Minute
	galPoll     = time.Second
)

// directoryChanged tells the Global Address Book loop to follow the
// directory now (after a reload synchronised the config file).
func (s *Server) directoryChanged() {
	select {
	case s.galKick <- struct{}{}:
	default:
	}
}

// syncGAL keeps each domain's #public/Global Address Book in step with
// its enabled accounts and its groups (webdav/gal): the public folder is
// created on first use, typed contact, readable (lrs) by every account of
// the domain and by nobody else.
func syncGAL(ctx context.Context, store storage.Store, log *slog.Logger) error {
	domains, err := store.Domains(ctx)
	if err != nil {
		return err
	}
	groups, err := store.Groups(ctx)
	if err != nil {
		return err
	}
	read, _ := acl.Parse("lrs")
	for _, d := range domains {
		pub, err := store.PublicAccount(ctx, d.Name, true)
		if err != nil {
			return err
		}
		mb, err := store.Mailbox(ctx, pub.ID, GALFolder)
		if errors.Is(err, storage.ErrNoMailbox) {
			if mb, err = store.CreateMailbox(ctx, pub.ID, GALFolder, ""); err != nil {
				return err
			}
			if err := store.SetMetadata(ctx, pub.ID, mb.ID, []storage.MetadataEntry{{Name: storage.FolderTypeEntry, Value: []byte(storage.FolderTypeContact)}}); err != nil {
				return err
			}
			if _, _, err := store.SetACL(ctx, pub.ID, mb.ID, []acl.Entry{{Identifier: acl.Identifier("@" + d.Name), Rights: read}}); err != nil {
				return err
			}
			log.Info("created the Global Address Book", "domain", d.Name)
		} else if err != nil {
			return err
		}
		entries, err := gal.AccountEntries(ctx, store, d.Name)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if strings.HasSuffix(g.Address, "@"+d.Name) {
				entries = append(entries, gal.Entry{Address: g.Address, Group: true, Members: g.Members})
			}
		}
		res, err := gal.Sync(ctx, store, pub, mb.ID, entries)
		if err != nil {
			return err
		}
		if res != (gal.Result{}) {
			log.Info("Global Address Book updated", "domain", d.Name, "added", res.Added, "changed", res.Changed, "removed", res.Removed)
		}
	}
	return nil
}

// galLoop keeps the Global Address Books in step with the directory
// until ctx ends: at once when the directory version moves or
// directoryChanged asks, and every galInterval in any case.
func (s *Server) galLoop(ctx context.Context, store storage.Store) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in the Global Address Book loop", "panic", v)
		}
	}()
	log := s.log.With("component", "groupware")
	poll := time.NewTicker(galPoll)
	defer poll.Stop()
	full := time.NewTicker(galInterval)
	defer full.Stop()
	version, _ := store.DirectoryVersion(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			v, err := store.DirectoryVersion(ctx)
			if err != nil || v == version {
				continue
			}
			version = v
		case <-s.galKick:
			version, _ = store.DirectoryVersion(ctx)
		case <-full.C:
		}
		if err := syncGAL(ctx, store, log); err != nil && ctx.Err() == nil {
			s.log.Warn("Global Address Book not updated", "err", err)
		}
	}
}
