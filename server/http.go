package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/clientsvc"
	"github.com/floemail/floe/server/discover"
	"github.com/floemail/floe/server/httpd"
	"github.com/floemail/floe/server/metrics"
	"github.com/floemail/floe/server/settings"
	"github.com/floemail/floe/storage"
)

// httpDeps are the components the HTTP handlers are built from.
type httpDeps struct {
	store   storage.Store
	auth    *auth.Authenticator
	metrics *metrics.Metrics
	// owns tells whether an account may send as an address
	// (delivery.Deliverer.Owns).
	owns func(ctx context.Context, acct storage.AccountID, address string) (bool, error)
}

// mountHTTP mounts the handlers of other packages on the HTTP muxes: web
// serves the http and https listeners, client the clientsvc listener. Both
// already serve GET /healthz. Handlers that need the account go through
// HandleAuth (HTTP Basic with the server's Authenticator) and read it with
// httpd.PrincipalFrom.
//
// This is the one place where the HTTP endpoints are wired: each package
// (webdav/, server/discover, server/clientsvc, ...) adds its lines here.
//
// web, "/" (everything no more specific pattern takes): SmartDiscover
// (server/discover; its Autodiscover paths match in any letter case, which
// ServeMux patterns cannot express, hence the dispatch by discover.Owns),
// else the user settings API under /api/ and the settings page
// (server/settings). client: the client services (server/clientsvc).
// The settings and client services authenticate by themselves (the
// settings accept a session cookie besides Basic, and never app
// passwords), with the same Authenticator.
func (s *Server) mountHTTP(web, client *httpd.Mux, d httpDeps) error {
	cfg := s.Config()
	key, err := clientsvc.LoadOrCreateKey(clientsvc.KeyFile(cfg))
	if err != nil {
		return fmt.Errorf("client services: license signing key: %w (set [clientsvc] signing_key_file, or make data_dir writable)", err)
	}
	licenses := clientsvc.NewService(d.store, s.Config, key)
	cert := func() *tls.Certificate { return s.certs.cert.Load() }
	ports := s.boundPorts

	disc := d.metrics.HTTP("discover", discover.New(discover.Options{
		Config: s.Config, Auth: d.auth, Certificate: cert, Ports: ports, Logger: s.log.With("component", "discover"),
		DisplayName: func(ctx context.Context, address string) string {
			a, err := d.store.Account(ctx, address)
			if err != nil {
				return ""
			}
			return a.Name
		},
	}))
	set := settings.New(settings.Options{
		Config: s.Config, Store: d.store, Auth: d.auth, Clients: licenses, Certificate: cert, Ports: ports,
		Rules: d.store, ValidateRules: userRulesValidator(d.owns), Sharing: d.store,
		Logger: s.log.With("component", "settings"),
	})
	api, page := d.metrics.HTTP("api", set), d.metrics.HTTP("web", set)
	web.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case discover.Owns(r.URL.Path):
			disc.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/api/"):
			api.ServeHTTP(w, r)
		default:
			page.ServeHTTP(w, r)
		}
	}))

	client.Handle("/api/", d.metrics.HTTP("clientsvc", clientsvc.NewHandler(clientsvc.Options{
		Service: licenses, Store: d.store, Auth: d.auth, Logger: s.log.With("component", "clientsvc"),
	})))
	return nil
}

// userRulesValidator checks a rule document a user sends through the
// settings API with the rules layer and returns it normalised: without list
// files or text files (which would let a user read files of the server),
// without "scope" (the config file's), and sending only from the user's
// own addresses: the "from" of send actions and of the responder must be
// one the account may send as (owns: its address, its aliases, its
// send-as grants, as submission checks), else rules would send mail,
// DKIM-signed by this server, in another person's name.
func userRulesValidator(owns func(ctx context.Context, acct storage.AccountID, address string) (bool, error)) settings.ValidateRules {
	return func(ctx context.Context, acct storage.Account, doc []byte) ([]byte, error) {
		st, src, err := rules.ParseJSON("your rules", doc)
		if err != nil {
			return nil, err
		}
		if _, err := rules.Compile(st, src, rules.Options{AllowFiles: false, AccountDocument: true}); err != nil {
			return nil, err
		}
		var problems []*rules.Error
		bad := func(key, reason string) {
			line := 0
			if src.Line != nil {
				line = src.Line(key)
			}
			problems = append(problems, &rules.Error{File: src.File, Line: line, Key: key, Reason: reason})
		}
		from := func(key, addr string) error {
			if addr == "" || owns == nil {
				return nil
			}
			ok, err := owns(ctx, acct.ID, addr)
			if err != nil {
				return fmt.Errorf("your addresses could not be checked; try again later")
			}
			if !ok {
				bad(key, fmt.Sprintf("%q is not one of your addresses; leave it empty to send from %s", addr, acct.Address))
			}
			return nil
		}
		for i, r := range st.Rules {
			path := "rules[" + strconv.Itoa(i) + "]"
			for j, a := range r.Actions {
				if a.Do == rules.DoSend {
					if err := from(path+".actions["+strconv.Itoa(j)+"].from", a.From); err != nil {
						return nil, err
					}
				}
			}
		}
		if st.Responder != nil {
			if err := from("responder.from", st.Responder.From); err != nil {
				return nil, err
			}
		}
		if len(problems) > 0 {
			return nil, &rules.Errors{List: problems}
		}
		return rules.MarshalJSON(st)
	}
}

// healthCheck is the admin listener's /healthz: the store answers a read.
func healthCheck(ctx context.Context, st storage.Store) error {
	if _, err := st.Domains(ctx); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

// boundPorts returns the port each open listener is bound to, by name.
func (s *Server) boundPorts() map[string]int {
	m := map[string]int{}
	for name, a := range s.Addrs() {
		if ta, ok := a.(*net.TCPAddr); ok {
			m[name] = ta.Port
		}
	}
	return m
}

// Metrics returns the server's metrics (exported on the admin listener).
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }
