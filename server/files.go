package server

import (
	"net/http"

	"github.com/floemail/floe/server/httpd"
	"github.com/floemail/floe/server/smartattach"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
	"github.com/floemail/floe/webdav/files"
)

// mountFiles mounts the WebDAV file folders (webdav/files) at /webdav/ on
// the web mux (http and https listeners), behind HTTP Basic with the
// server's Authenticator, and answers OPTIONS on / without login for the
// Windows Mini-Redirector, which asks before it sends credentials; and the
// SmartAttach download links at /webdav/link/ without login.
func (s *Server) mountFiles(web *httpd.Mux, st storage.Store) {
	cfg := s.Config().Files
	h := files.New(files.Options{
		Store:  st,
		Prefix: "/webdav/",
		Access: func(r *http.Request) (files.Access, bool) {
			p, ok := httpd.PrincipalFrom(r.Context())
			if !ok {
				return nil, false
			}
			// One view per request: rights as they are now (storage/view).
			v, err := view.New(r.Context(), st, p.Account, view.Options{Logger: s.log, Hostname: s.Config().Server.Hostname})
			if err != nil {
				s.log.Warn("webdav: cannot open the account's view", "account", p.Address, "err", err)
				return nil, false
			}
			return files.NewViewAccess(v), true
		},
		Locks:      files.NewLocks(),
		Logger:     s.log.With("component", "webdav"),
		MaxXMLBody: cfg.MaxXMLBody.Int64(),
	})
	maxFile := func() int64 { return s.Config().Files.MaxFileSize.Int64() }
	dav := s.metrics.HTTP("dav", h)
	web.HandleAuth("/webdav/", dav, httpd.MaxBodyFunc(maxFile))
	// "/webdav" itself too, not redirected to "/webdav/": the Windows
	// Mini-Redirector asks PROPFIND of the share name ("\\host\webdav")
	// without the slash and does not follow redirects.
	web.HandleAuth("/webdav", dav, httpd.MaxBodyFunc(maxFile))
	web.Handle("OPTIONS /webdav/", http.HandlerFunc(files.Options200))
	web.Handle("OPTIONS /webdav", http.HandlerFunc(files.Options200))
	web.Handle("OPTIONS /{$}", http.HandlerFunc(files.Options200))

	// SmartAttach download links (server/smartattach makes them): no
	// login, the token decides; the access log never sees the token.
	const linkPrefix = smartattach.LinkPath
	web.Handle("GET "+linkPrefix, files.NewLinkHandler(files.LinkOptions{Store: st, Prefix: linkPrefix,
		Now: s.now, Logger: s.log.With("component", "links")}),
		httpd.LogPath(func(string) string { return linkPrefix + "..." }))
}
