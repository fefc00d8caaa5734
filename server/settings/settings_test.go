package settings

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/clientsvc"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

var (
	hashOnce sync.Once
	pwHash   string
)

const oldPW = "old-password-1"

type env struct {
	cfg  *config.Config
	st   *sqlite.Store
	auth *auth.Authenticator
	srv  *httptest.Server
	h    *Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	hashOnce.Do(func() { pwHash, _ = auth.HashPassword(oldPW) })
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.PutDomain(ctx, storage.Domain{Name: "example.org"})
	for _, a := range []storage.Account{
		{Address: "alice@example.org", PasswordHash: pwHash, QuotaBytes: 1 << 20},
		{Address: "bob@example.org", PasswordHash: pwHash},
		{Address: "cfg@example.org", PasswordHash: pwHash, Source: storage.SourceConfig},
	} {
		if _, err := st.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Development()
	cfg.Auth.FailureDelay = 0
	a := auth.New(st, cfg.Auth, slog.New(slog.DiscardHandler))
	key, _ := clientsvc.LoadOrCreateKey(t.TempDir() + "/k.pem")
	h := New(Options{Config: func() *config.Config { return cfg }, Store: st, Auth: a,
		Clients: clientsvc.NewService(st, func() *config.Config { return cfg }, key)})
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return &env{cfg: cfg, st: st, auth: a, srv: srv, h: h}
}

// client is a browser-like client: a cookie jar and the CSRF token.
type client struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string
	user string // Basic credentials when set (no session)
	pass string
}

func (e *env) browser(t *testing.T) *client {
	c := *e.srv.Client() // a copy: each browser has its own jar
	c.Jar = &jar{m: map[string]*http.Cookie{}}
	return &client{t: t, e: e, c: &c}
}

type jar struct {
	mu sync.Mutex
	m  map[string]*http.Cookie
}

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.m, c.Name)
		} else {
			j.m[c.Name] = c
		}
	}
}

func (j *jar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.m {
		out = append(out, c)
	}
	return out
}

func (c *client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set(CSRFHeader, c.csrf)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func (c *client) login(addr, pw string) int {
	c.t.Helper()
	var s SessionInfo
	code := c.do("POST", "/api/v1/session", LoginRequest{addr, pw}, &s)
	c.csrf = s.CSRFToken
	return code
}

type apiErr struct {
	Error  string       `json:"error"`
	Errors []FieldError `json:"errors"`
}

// key is the field of the answer's only problem.
func (e apiErr) key() string {
	if len(e.Errors) != 1 {
		return fmt.Sprintf("%d problems", len(e.Errors))
	}
	return e.Errors[0].Key
}

func TestSessionAndCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	var er apiErr
	if code := b.do("POST", "/api/v1/session", LoginRequest{"alice@example.org", "wrong"}, &er); code != 401 || er.Error != "wrong address or password" {
		t.Errorf("bad login: %d %+v", code, er)
	}
	if code := b.login("alice@example.org", oldPW); code != 200 || b.csrf == "" {
		t.Fatalf("login: %d", code)
	}
	var me SessionInfo
	if code := b.do("GET", "/api/v1/me", nil, &me); code != 200 || me.Address != "alice@example.org" || me.CSRFToken != b.csrf ||
		me.MinPasswordLength != config.DefaultMinPasswordLength {
		t.Errorf("me: %d %+v", code, me)
	}
	// A state-changing call without the CSRF token is refused.
	tok := b.csrf
	b.csrf = ""
	if code := b.do("POST", "/api/v1/app-passwords", map[string]string{"label": "x"}, &er); code != 403 || !strings.Contains(er.Error, CSRFHeader) {
		t.Errorf("no csrf: %d %+v", code, er)
	}
	b.csrf = "wrong"
	if code := b.do("POST", "/api/v1/app-passwords", map[string]string{"label": "x"}, &er); code != 403 {
		t.Errorf("wrong csrf: %d", code)
	}
	b.csrf = tok
	// A form post (not JSON) is refused even with the token.
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/app-passwords", strings.NewReader("label=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(CSRFHeader, tok)
	if resp, err := b.c.Do(req); err != nil || resp.StatusCode != 415 {
		t.Errorf("form post: %v %v", resp.StatusCode, err)
	}
	// The cookie is HttpOnly, Secure, SameSite=Strict.
	for _, c := range b.c.Jar.(*jar).m {
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie attributes: %+v", c)
		}
	}
	if code := b.do("DELETE", "/api/v1/session", nil, nil); code != 204 {
		t.Errorf("logout: %d", code)
	}
	if code := b.do("GET", "/api/v1/me", nil, &er); code != 401 {
		t.Errorf("after logout: %d", code)
	}
}

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, other := e.browser(t), e.browser(t)
	b.login("alice@example.org", oldPW)
	other.login("alice@example.org", oldPW)
	var er apiErr
	for _, tc := range []struct {
		req  PasswordRequest
		code int
		msg  string
		key  string
	}{
		{PasswordRequest{"wrong", "new-password-2"}, 403, "current password is wrong", "old_password"},
		{PasswordRequest{oldPW, "short"}, 400, "at least 10", "new_password"},
		{PasswordRequest{oldPW, "alice@example.org"}, 400, "must not be your address", "new_password"},
	} {
		er = apiErr{}
		if code := b.do("POST", "/api/v1/password", tc.req, &er); code != tc.code || !strings.Contains(er.Error, tc.msg) || er.key() != tc.key {
			t.Errorf("%+v: %d %+v", tc.req, code, er)
		}
	}
	var ok map[string]any
	if code := b.do("POST", "/api/v1/password", PasswordRequest{oldPW, "new-password-2"}, &ok); code != 200 {
		t.Fatalf("change: %d %v", code, ok)
	}
	ctx := t.Context()
	ip := netip.MustParseAddr("127.0.0.1")
	if _, err := e.auth.Login(ctx, ip, "imap", "alice@example.org", "new-password-2"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if _, err := e.auth.Login(ctx, ip, "imap", "alice@example.org", oldPW); err == nil {
		t.Errorf("old password still works")
	}
	// The changing session goes on; the other one ended.
	if code := b.do("GET", "/api/v1/me", nil, nil); code != 200 {
		t.Errorf("own session: %d", code)
	}
	if code := other.do("GET", "/api/v1/me", nil, &er); code != 401 {
		t.Errorf("other session: %d", code)
	}
	// An account of the config file cannot change its password here.
	c := e.browser(t)
	c.login("cfg@example.org", oldPW)
	if code := c.do("POST", "/api/v1/password", PasswordRequest{oldPW, "new-password-2"}, &er); code != 409 || !strings.Contains(er.Error, "configuration file") {
		t.Errorf("config account: %d %+v", code, er)
	}
}

// TestPasswordMinimum: the minimum the page shows is the server's
// [auth] min_password_length, in the login answer and /api/v1/me, and it
// is the one enforced.
func TestPasswordMinimum(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.Auth.MinPasswordLength = 14
	b := e.browser(t)
	var s SessionInfo
	if code := b.do("POST", "/api/v1/session", LoginRequest{"alice@example.org", oldPW}, &s); code != 200 || s.MinPasswordLength != 14 {
		t.Fatalf("login: %d %+v", code, s)
	}
	b.csrf = s.CSRFToken
	var me SessionInfo
	if b.do("GET", "/api/v1/me", nil, &me); me.MinPasswordLength != 14 {
		t.Errorf("me: %+v", me)
	}
	var er apiErr
	if code := b.do("POST", "/api/v1/password", PasswordRequest{oldPW, "thirteen-char"}, &er); code != 400 ||
		!strings.Contains(er.Error, "at least 14") || er.key() != "new_password" {
		t.Errorf("13 characters: %d %+v", code, er)
	}
	if code := b.do("POST", "/api/v1/password", PasswordRequest{oldPW, "fourteen-chars"}, nil); code != 200 {
		t.Errorf("14 characters: %d", code)
	}
}

func TestAppPasswordsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.login("alice@example.org", oldPW)
	var created AppPasswordInfo
	if code := b.do("POST", "/api/v1/app-passwords", map[string]string{"label": "phone"}, &created); code != 201 ||
		created.Label != "phone" || !regexp.MustCompile(`^[a-z2-9]{5}(-[a-z2-9]{5}){3}$`).MatchString(created.Password) {
		t.Fatalf("create: %d %+v", code, created)
	}
	var er apiErr
	if code := b.do("POST", "/api/v1/app-passwords", map[string]string{"label": ""}, &er); code != 400 || er.key() != "label" {
		t.Errorf("empty label: %d", code)
	}
	ctx := t.Context()
	ip := netip.MustParseAddr("127.0.0.1")
	// Usable for IMAP ...
	if p, err := e.auth.Login(ctx, ip, "imap", "alice@example.org", created.Password); err != nil || p.AppPassword != created.ID {
		t.Errorf("IMAP with the app password: %+v %v", p, err)
	}
	// ... but not for the settings, by Basic or by the login form.
	basic := e.browser(t)
	basic.user, basic.pass = "alice@example.org", created.Password
	if code := basic.do("GET", "/api/v1/quota", nil, nil); code != 401 {
		t.Errorf("settings with an app password (Basic): %d", code)
	}
	if code := e.browser(t).login("alice@example.org", created.Password); code != 401 {
		t.Errorf("settings with an app password (session): %d", code)
	}
	// Basic with the real password works for the settings.
	basic.pass = oldPW
	var q Quota
	if code := basic.do("GET", "/api/v1/quota", nil, &q); code != 200 || q.BytesLimit != 1<<20 {
		t.Errorf("quota: %d %+v", code, q)
	}

	var list []AppPasswordInfo
	if b.do("GET", "/api/v1/app-passwords", nil, &list); len(list) != 1 || list[0].Password != "" || list[0].LastUsed == nil {
		t.Errorf("list: %+v", list)
	}
	bob := e.browser(t)
	bob.login("bob@example.org", oldPW)
	if code := bob.do("DELETE", "/api/v1/app-passwords/"+itoa(created.ID), nil, &er); code != 404 {
		t.Errorf("bob deleting alice's: %d", code)
	}
	if code := b.do("DELETE", "/api/v1/app-passwords/"+itoa(created.ID), nil, nil); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if _, err := e.auth.Login(ctx, ip, "imap", "alice@example.org", created.Password); err == nil {
		t.Errorf("revoked app password still works")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestClientSettingsAndPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser(t)
	b.login("alice@example.org", oldPW)
	var cs struct {
		LoginName string `json:"login_name"`
		IMAP      []struct {
			Port int `json:"port"`
		} `json:"imap"`
		Manual string `json:"manual"`
	}
	if code := b.do("GET", "/api/v1/client-settings", nil, &cs); code != 200 || cs.LoginName != "alice@example.org" ||
		len(cs.IMAP) != 2 || cs.IMAP[0].Port != 1993 || !strings.Contains(cs.Manual, "IMAP: localhost port 1993 (SSL/TLS)") {
		t.Errorf("client settings: %d %+v", code, cs)
	}
	var k map[string]string
	if code := b.do("GET", "/api/v1/activation-key", nil, &k); code != 200 || !strings.HasPrefix(k["activation_key"], "FLOE-") {
		t.Errorf("activation key: %d %v", code, k)
	}
	resp, err := b.c.Get(e.srv.URL + "/api/v1/profile.mobileconfig")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-apple-aspen-config" {
		t.Fatalf("profile: %v %v", resp, err)
	}
	resp.Body.Close()

	// The page and its assets, with a strict CSP; every input of the page
	// has a label.
	resp, err = e.srv.Client().Get(e.srv.URL + "/")
	if err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("page: %v %v", resp, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	labels := map[string]bool{}
	for _, m := range regexp.MustCompile(`<label for="([^"]+)"`).FindAllStringSubmatch(string(page), -1) {
		labels[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`<(input|select|textarea)\b([^>]*)>`).FindAllStringSubmatch(string(page), -1) {
		if strings.Contains(m[2], `type="hidden"`) {
			continue
		}
		id := regexp.MustCompile(`id="([^"]+)"`).FindStringSubmatch(m[2])
		if id == nil || !labels[id[1]] {
			t.Errorf("control without a label: %s", m[0])
		}
	}
	for _, p := range []string{"/static/app.js", "/static/app.css"} {
		resp, err := e.srv.Client().Get(e.srv.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, resp, err)
		} else {
			resp.Body.Close()
		}
	}
	if code := b.do("GET", "/api/v1/nope", nil, nil); code != 404 {
		t.Errorf("unknown call: %d", code)
	}
}
