package server

import "github.com/floemail/floe/server/httpd"

// mountHTTP mounts the handlers of other packages on the HTTP muxes: web
// serves the http and https listeners, client the clientsvc listener. Both
// already serve GET /healthz. Handlers that need the account go through
// HandleAuth (HTTP Basic with the server's Authenticator) and read it with
// httpd.PrincipalFrom.
//
// This is the one place where the HTTP endpoints are wired: each package
// (webdav/, server/discover, server/clientsvc, ...) adds its lines here.
func (s *Server) mountHTTP(web, client *httpd.Mux) {
	_, _ = web, client
}
