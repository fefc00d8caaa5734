// Package settings is the user settings API (JSON over HTTPS, versioned
// paths under /api/v1/) and the settings web page at / that uses it. A
// user manages their own password, app passwords, client activation key,
// quota view, client settings and Apple profile here, their forwarder,
// responder and rules (validated by the rules layer, rules.go) and the
// sharing of their folders through their view (storage/view, sharing.go);
// see docs/api.md.
//
// Authentication: HTTP Basic with the account's own password (never an app
// password: auth.ProtocolSettings), or the session cookie the page gets
// from POST /api/v1/session. State-changing requests of a cookie session
// must carry the session's CSRF token in X-CSRF-Token; every request body
// must be JSON (Content-Type application/json), which a form on another
// site cannot send. Errors are {"error": "..."} (package jsonapi), with "errors":
// [{"key", "message"}] per field when the input is at fault (ErrorAnswer).
package settings

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/clientsvc"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/discover"
	"github.com/floemail/floe/server/httpauth"
	"github.com/floemail/floe/server/jsonapi"
	"github.com/floemail/floe/storage"
)

// Store is what the settings API needs from storage.
type Store interface {
	storage.Directory
	storage.Clients
}

// Options configure a Handler.
type Options struct {
	Config func() *config.Config
	Store  Store
	// Auth checks passwords (the shared Authenticator: one rate limiter).
	Auth httpauth.Authenticator
	// Clients gives the activation key; nil hides it.
	Clients *clientsvc.Service
	// Certificate signs the Apple profile when not self-signed; may be nil.
	Certificate func() *tls.Certificate
	// Ports returns the bound listener ports (discover.DescribeBound);
	// nil uses the configured ports.
	Ports func() map[string]int
	// Rules keeps the account's rule document and ValidateRules checks
	// one (the rules layer); without them the forwarder, responder and
	// rules calls answer 404 and the page hides them.
	Rules         RuleStore
	ValidateRules ValidateRules
	// Sharing is the store the user's view (storage/view) works on; nil
	// answers the sharing calls 404 and the page hides them.
	Sharing storage.Store
	Logger  *slog.Logger
}

func (h *Handler) describe(cfg *config.Config, email string) discover.Settings {
	var bound map[string]int
	if h.o.Ports != nil {
		bound = h.o.Ports()
	}
	return discover.DescribeBound(cfg, email, bound)
}

// Handler serves /api/v1/ and the web page.
type Handler struct {
	o        Options
	log      *slog.Logger
	mux      *http.ServeMux
	sessions *sessions
	ruleMu   [64]sync.Mutex // by account ID modulo 64 (rules.go)
}

// Limits.
const (
	maxBody        = 16 << 10
	maxPasswordLen = 1024
)

// New returns the handler.
func New(o Options) *Handler {
	h := &Handler{o: o, log: o.Logger, sessions: newSessions()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	m := http.NewServeMux()
	m.HandleFunc("POST /api/v1/session", h.login)
	m.HandleFunc("DELETE /api/v1/session", h.logout)
	m.HandleFunc("GET /api/v1/me", h.user(h.me))
	m.HandleFunc("GET /api/v1/quota", h.user(h.quota))
	m.HandleFunc("POST /api/v1/password", h.user(h.password))
	m.HandleFunc("GET /api/v1/app-passwords", h.user(h.appPasswords))
	m.HandleFunc("POST /api/v1/app-passwords", h.user(h.createAppPassword))
	m.HandleFunc("DELETE /api/v1/app-passwords/{id}", h.user(h.deleteAppPassword))
	m.HandleFunc("GET /api/v1/activation-key", h.user(h.activationKey))
	m.HandleFunc("GET /api/v1/client-settings", h.user(h.clientSettings))
	m.HandleFunc("GET /api/v1/profile.mobileconfig", h.user(h.profile))
	h.mountRules(m)
	h.mountSharing(m)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		jsonapi.WriteError(w, http.StatusNotFound, "no such API call; see docs/api.md")
	})
	h.mountPage(m)
	h.mux = m
	return h
}

// ServeHTTP serves the API and the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			h.log.Error("panic in settings", "panic", v, "stack", string(debug.Stack()))
			jsonapi.WriteError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.mux.ServeHTTP(w, r)
}

// caller is the authenticated user of a request.
type caller struct {
	acct storage.Account
	// cookie is the session cookie value ("" for Basic authentication);
	// csrf its token.
	cookie, csrf string
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// user authenticates the request (cookie session or Basic), enforces the
// CSRF and content-type rules for state-changing requests, and calls fn.
func (h *Handler) user(fn func(w http.ResponseWriter, r *http.Request, c *caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &caller{}
		var id storage.AccountID
		if ck, err := r.Cookie(CookieName); err == nil && ck.Value != "" {
			sess, ok := h.sessions.get(ck.Value)
			if !ok {
				jsonapi.WriteError(w, http.StatusUnauthorized, "your session has ended; log in again")
				return
			}
			if unsafeMethod(r.Method) && !csrfOK(sess, r.Header.Get(CSRFHeader)) {
				jsonapi.WriteError(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header; reload the page")
				return
			}
			id, c.cookie, c.csrf = sess.account, ck.Value, sess.csrf
		} else {
			// No credentials at all: 401 without a Basic challenge, so
			// that the page's requests never make a browser pop up its
			// own login dialog (API clients send Basic preemptively).
			if r.Header.Get("Authorization") == "" {
				jsonapi.WriteError(w, http.StatusUnauthorized, "log in first (session cookie or HTTP Basic)")
				return
			}
			p := httpauth.Basic(h.o.Auth, auth.ProtocolSettings, w, r)
			if p == nil {
				return
			}
			id = p.Account
		}
		if unsafeMethod(r.Method) && r.ContentLength != 0 && !isJSON(r) {
			jsonapi.WriteError(w, http.StatusUnsupportedMediaType, "send the request body as application/json")
			return
		}
		acct, err := h.o.Store.AccountByID(r.Context(), id)
		if err != nil || acct.Disabled {
			h.sessions.endOthers(id, "")
			jsonapi.WriteError(w, http.StatusUnauthorized, "this account cannot log in")
			return
		}
		c.acct = acct
		fn(w, r, c)
	}
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

func (h *Handler) internal(w http.ResponseWriter, what string, err error) {
	h.log.Error("settings: "+what, "error", err)
	jsonapi.WriteError(w, http.StatusInternalServerError, "internal error; try again later")
}

// secureCookie reports whether the cookie gets the Secure attribute: on
// TLS connections (always in production: the page is served on https).
func secureCookie(r *http.Request) bool { return r.TLS != nil }

// LoginRequest is the body of POST /api/v1/session.
type LoginRequest struct {
	Address  string `json:"address"`
	Password string `json:"password"`
}

// SessionInfo answers a login and GET /api/v1/me.
type SessionInfo struct {
	Address   string `json:"address"`
	CSRFToken string `json:"csrf_token,omitempty"`
	// MinPasswordLength is the shortest new password POST
	// /api/v1/password accepts ([auth] min_password_length), for the
	// page's hint.
	MinPasswordLength int `json:"min_password_length"`
}

// FieldError is one problem of a request, tied to the field it is about:
// Key is the field's path in the request body ("new_password",
// "grantee"), or for the forwarder, responder and rules calls its path in
// the account's rule document ("rules[2].conditions[0].regex",
// "responder.to_date", "forwarder.to[1]"; array indexes 0-based).
type FieldError struct {
	Key     string `json:"key"`
	Message string `json:"message"`
}

// ErrorAnswer is the body of every error answer: Error for people and,
// when the problem is in the input, Errors per field (a page shows each
// next to its field).
type ErrorAnswer struct {
	Error  string       `json:"error"`
	Errors []FieldError `json:"errors,omitempty"`
}

// writeFieldError answers status with msg, tied to the field key.
func writeFieldError(w http.ResponseWriter, status int, key, msg string) {
	jsonapi.WriteJSON(w, status, ErrorAnswer{Error: msg, Errors: []FieldError{{Key: key, Message: msg}}})
}

func (h *Handler) sessionInfo(address, csrf string) SessionInfo {
	return SessionInfo{Address: address, CSRFToken: csrf, MinPasswordLength: h.o.Config().Auth.MinPasswordLength}
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r) {
		jsonapi.WriteError(w, http.StatusUnsupportedMediaType, "send the request body as application/json")
		return
	}
	var req LoginRequest
	if err := jsonapi.DecodeJSON(w, r, maxBody, &req); err != nil {
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if h.o.Auth == nil {
		jsonapi.WriteError(w, http.StatusUnauthorized, "wrong address or password")
		return
	}
	p, err := h.o.Auth.Login(r.Context(), httpauth.RemoteAddr(r), auth.ProtocolSettings, req.Address, req.Password)
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		w.Header().Set("Retry-After", "60")
		jsonapi.WriteError(w, http.StatusTooManyRequests, "too many failed logins; wait a few minutes and try again")
		return
	case err != nil:
		jsonapi.WriteError(w, http.StatusUnauthorized, "wrong address or password")
		return
	}
	cookie, csrf := h.sessions.create(p.Account, p.Address)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: cookie, Path: "/", HttpOnly: true,
		Secure: secureCookie(r), SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMax / time.Second)})
	jsonapi.WriteJSON(w, http.StatusOK, h.sessionInfo(p.Address, csrf))
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(CookieName); err == nil {
		if sess, ok := h.sessions.get(ck.Value); ok && !csrfOK(sess, r.Header.Get(CSRFHeader)) {
			jsonapi.WriteError(w, http.StatusForbidden, "missing or wrong "+CSRFHeader+" header; reload the page")
			return
		}
		h.sessions.delete(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true,
		Secure: secureCookie(r), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request, c *caller) {
	jsonapi.WriteJSON(w, http.StatusOK, h.sessionInfo(c.acct.Address, c.csrf))
}

// Quota is the answer of GET /api/v1/quota; a limit of 0 is unlimited.
type Quota struct {
	BytesUsed     int64 `json:"bytes_used"`
	BytesLimit    int64 `json:"bytes_limit"`
	MessagesUsed  int64 `json:"messages_used"`
	MessagesLimit int64 `json:"messages_limit"`
}

func (h *Handler) quota(w http.ResponseWriter, r *http.Request, c *caller) {
	u, err := h.o.Store.Usage(r.Context(), c.acct.ID)
	if err != nil {
		h.internal(w, "usage", err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, Quota{BytesUsed: u.Bytes, BytesLimit: c.acct.QuotaBytes,
		MessagesUsed: u.Messages, MessagesLimit: c.acct.QuotaMessages})
}

// PasswordRequest is the body of POST /api/v1/password.
type PasswordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (h *Handler) password(w http.ResponseWriter, r *http.Request, c *caller) {
	var req PasswordRequest
	if err := jsonapi.DecodeJSON(w, r, maxBody, &req); err != nil {
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if msg := passwordProblem(req.NewPassword, c.acct.Address, h.o.Config().Auth.MinPasswordLength); msg != "" {
		writeFieldError(w, http.StatusBadRequest, "new_password", msg)
		return
	}
	if c.acct.Source == storage.SourceConfig {
		jsonapi.WriteError(w, http.StatusConflict, "your password is set by the administrator in the configuration file; ask them to change it")
		return
	}
	// The old password is checked like a login: failures are rate-limited.
	if _, err := h.o.Auth.Login(r.Context(), httpauth.RemoteAddr(r), auth.ProtocolSettings, c.acct.Address, req.OldPassword); err != nil {
		if errors.Is(err, auth.ErrRateLimited) {
			jsonapi.WriteError(w, http.StatusTooManyRequests, "too many failed attempts; wait a few minutes and try again")
			return
		}
		writeFieldError(w, http.StatusForbidden, "old_password", "the current password is wrong")
		return
	}
	hash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		h.internal(w, "hash", err)
		return
	}
	a := c.acct
	a.PasswordHash = hash
	if err := h.o.Store.UpdateAccount(r.Context(), a); err != nil {
		if errors.Is(err, storage.ErrConfigOwned) {
			jsonapi.WriteError(w, http.StatusConflict, "your password is set by the administrator in the configuration file; ask them to change it")
			return
		}
		h.internal(w, "update password", err)
		return
	}
	h.sessions.endOthers(c.acct.ID, c.cookie)
	h.log.Info("password changed", "account", c.acct.Address)
	jsonapi.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "message": "password changed; your other sessions have been logged out"})
}

// passwordProblem returns why p is not acceptable as a new password.
// min is [auth] min_password_length (the rule of `floe account passwd`).
func passwordProblem(p, address string, min int) string {
	switch {
	case auth.CheckPasswordStrength(p, min) != nil:
		return "the new password must have at least " + strconv.Itoa(min) + " characters"
	case len(p) > maxPasswordLen:
		return "the new password is too long"
	case !utf8.ValidString(p) || strings.ContainsAny(p, "\x00\r\n"):
		return "the new password contains characters that cannot be typed in mail clients"
	case strings.EqualFold(p, address) || strings.EqualFold(p, address[:strings.LastIndexByte(address, '@')]):
		return "the new password must not be your address"
	}
	return ""
}

// AppPasswordInfo describes an app password (never its value, except once
// in the answer to its creation).
type AppPasswordInfo struct {
	ID       int64      `json:"id"`
	Label    string     `json:"label"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used,omitempty"`
	Password string     `json:"password,omitempty"`
}

func appInfo(p storage.AppPassword) AppPasswordInfo {
	i := AppPasswordInfo{ID: p.ID, Label: p.Label, Created: p.Created}
	if !p.LastUsed.IsZero() {
		lu := p.LastUsed
		i.LastUsed = &lu
	}
	return i
}

func (h *Handler) appPasswords(w http.ResponseWriter, r *http.Request, c *caller) {
	list, err := h.o.Store.AppPasswords(r.Context(), c.acct.ID)
	if err != nil {
		h.internal(w, "app passwords", err)
		return
	}
	out := make([]AppPasswordInfo, 0, len(list))
	for _, p := range list {
		out = append(out, appInfo(p))
	}
	jsonapi.WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) createAppPassword(w http.ResponseWriter, r *http.Request, c *caller) {
	var req struct {
		Label string `json:"label"`
	}
	if err := jsonapi.DecodeJSON(w, r, maxBody, &req); err != nil {
		jsonapi.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	pw, hash := auth.NewAppPassword()
	p, err := h.o.Store.CreateAppPassword(r.Context(), storage.AppPassword{Account: c.acct.ID, Label: req.Label, Hash: hash})
	switch {
	case errors.Is(err, storage.ErrInvalid):
		writeFieldError(w, http.StatusBadRequest, "label", "label: give a name of 1 to "+strconv.Itoa(storage.MaxAppPasswordLabel)+" characters, e.g. \"phone\"")
		return
	case errors.Is(err, storage.ErrLimit):
		jsonapi.WriteError(w, http.StatusConflict, "you have "+strconv.Itoa(storage.MaxAppPasswords)+" app passwords; revoke one you no longer use first")
		return
	case err != nil:
		h.internal(w, "create app password", err)
		return
	}
	info := appInfo(p)
	info.Password = pw
	h.log.Info("app password created", "account", c.acct.Address, "id", p.ID)
	jsonapi.WriteJSON(w, http.StatusCreated, info)
}

func (h *Handler) deleteAppPassword(w http.ResponseWriter, r *http.Request, c *caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		jsonapi.WriteError(w, http.StatusNotFound, "no such app password")
		return
	}
	if err := h.o.Store.DeleteAppPassword(r.Context(), c.acct.ID, id); errors.Is(err, storage.ErrNotFound) {
		jsonapi.WriteError(w, http.StatusNotFound, "no such app password")
		return
	} else if err != nil {
		h.internal(w, "delete app password", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) activationKey(w http.ResponseWriter, r *http.Request, c *caller) {
	if h.o.Clients == nil {
		jsonapi.WriteError(w, http.StatusNotFound, "client activation is not offered by this server")
		return
	}
	k, err := h.o.Clients.ActivationKey(r.Context(), c.acct.ID)
	if err != nil {
		h.internal(w, "activation key", err)
		return
	}
	jsonapi.WriteJSON(w, http.StatusOK, map[string]string{"activation_key": k})
}

// ClientSettings is the answer of GET /api/v1/client-settings.
type ClientSettings struct {
	discover.Settings
	// Manual is the same as text to type by hand.
	Manual string `json:"manual"`
}

func (h *Handler) clientSettings(w http.ResponseWriter, r *http.Request, c *caller) {
	s := h.describe(h.o.Config(), c.acct.Address)
	jsonapi.WriteJSON(w, http.StatusOK, ClientSettings{Settings: s, Manual: discover.ManualText(s)})
}

func (h *Handler) profile(w http.ResponseWriter, r *http.Request, c *caller) {
	cfg := h.o.Config()
	var cert *tls.Certificate
	if h.o.Certificate != nil {
		cert = h.o.Certificate()
	}
	body, _ := discover.ProfileFor(h.describe(cfg, c.acct.Address), cfg.PublicHostname(), cert)
	discover.WriteProfile(w, c.acct.Address, body)
}
