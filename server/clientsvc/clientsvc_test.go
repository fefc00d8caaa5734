package clientsvc

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

type env struct {
	store *sqlite.Store
	svc   *Service
	h     *Handler
	cfg   *config.Config
	accts map[string]storage.Account
}

var (
	hashOnce sync.Once
	pwHash   string
)

// newEnv opens a store with accounts a1..a3@example.org and b1@example.net
// (password "pw"), two seats for example.org, none for example.net.
func newEnv(t *testing.T) *env {
	t.Helper()
	hashOnce.Do(func() {
		h, err := auth.HashPassword("pw")
		if err != nil {
			panic(err)
		}
		pwHash = h
	})
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Development()
	cfg.Server.DataDir = t.TempDir()
	cfg.Auth.FailureDelay = 0
	cfg.ClientSvc.Domains = []config.ClientSvcDomain{{Name: "example.org", Seats: 2,
		Provisioning: config.Provisioning{ConflictResolution: "client", Forced: []string{"conflict_resolution"}}}}
	cfg.ClientSvc.Provisioning = config.Provisioning{
		PrioritySyncInterval: config.Duration(5 * time.Minute), FolderSyncInterval: config.Duration(time.Hour),
		ConflictResolution: "server", DownloadMode: "custom", DownloadThreshold: 5 * config.MiB,
		Forced: []string{"folder_sync_interval"},
	}
	cfg.ClientSvc.Update = config.ClientUpdate{Version: "2.1.0", URL: "https://dl.example.org/floe-sync-2.1.0.msi", Notes: "fixes"}
	e := &env{store: st, cfg: cfg, accts: map[string]storage.Account{}}
	for _, d := range []string{"example.org", "example.net"} {
		if err := st.PutDomain(ctx, storage.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"a1@example.org", "a2@example.org", "a3@example.org", "b1@example.net"} {
		acct, err := st.CreateAccount(ctx, storage.Account{Address: a, PasswordHash: pwHash})
		if err != nil {
			t.Fatal(err)
		}
		e.accts[a] = acct
	}
	key, err := LoadOrCreateKey(KeyFile(cfg))
	if err != nil {
		t.Fatal(err)
	}
	e.svc = NewService(st, func() *config.Config { return e.cfg }, key)
	e.h = NewHandler(Options{Service: e.svc, Store: st, Auth: auth.New(st, cfg.Auth, slog.New(slog.DiscardHandler))})
	return e
}

func (e *env) do(t *testing.T, method, path, user, body string) (int, []byte) {
	t.Helper()
	r := httptest.NewRequest(method, "https://mail.example.org:5229"+path, strings.NewReader(body))
	if user != "" {
		r.SetBasicAuth(user, "pw")
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	return w.Code, w.Body.Bytes()
}

func (e *env) key(t *testing.T, user string) string {
	t.Helper()
	code, body := e.do(t, "GET", "/api/v1/activation-key", user, "")
	var k struct {
		ActivationKey string `json:"activation_key"`
	}
	if code != 200 || json.Unmarshal(body, &k) != nil || !strings.HasPrefix(k.ActivationKey, "FLOE-") {
		t.Fatalf("activation key: %d %s", code, body)
	}
	return k.ActivationKey
}

func (e *env) activate(t *testing.T, user, key, machine string) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(ActivateRequest{ActivationKey: key, MachineID: machine})
	return e.do(t, "POST", "/api/v1/activate", user, string(b))
}

func publicKey(t *testing.T, e *env) ed25519.PublicKey {
	t.Helper()
	code, body := e.do(t, "GET", "/api/v1/license/public-key", "", "")
	var p PublicKeyDoc
	if code != 200 || json.Unmarshal(body, &p) != nil || p.Algorithm != "Ed25519" {
		t.Fatalf("public key: %d %s", code, body)
	}
	raw, err := base64.StdEncoding.DecodeString(p.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize || p.KeyID != KeyID(raw) || !strings.Contains(p.PEM, "BEGIN PUBLIC KEY") {
		t.Fatalf("public key doc: %+v", p)
	}
	return raw
}

// TestActivationSeats: activation up to the seats, refusal beyond with a
// clear message, the signature verified with the published key, revoke
// frees a seat.
func TestActivationSeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pub := publicKey(t, e)
	k1, k2, k3 := e.key(t, "a1@example.org"), e.key(t, "a2@example.org"), e.key(t, "a3@example.org")
	if k1 == k2 || e.key(t, "a1@example.org") != k1 {
		t.Fatalf("keys: %s %s", k1, k2)
	}

	code, body := e.activate(t, "a1@example.org", k1, "machine-1")
	if code != 200 {
		t.Fatalf("activate: %d %s", code, body)
	}
	var doc Document
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	l, err := VerifyDocument(pub, doc)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if l.Account != "a1@example.org" || l.Domain != "example.org" || l.MachineID != "machine-1" || l.Product != Product ||
		l.Server != "localhost" || l.Expires.Sub(l.Issued) != 365*24*time.Hour {
		t.Errorf("license: %+v", l)
	}
	// A tampered document does not verify.
	payload, _ := base64.StdEncoding.DecodeString(doc.Payload)
	forged := doc
	forged.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte("machine-1"), []byte("machine-9"), 1))
	if _, err := VerifyDocument(pub, forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("forged: %v", err)
	}
	// Nor with another key.
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := VerifyDocument(other, doc); !errors.Is(err, ErrBadSignature) {
		t.Errorf("other key: %v", err)
	}

	// Re-activating the same machine uses no seat; a key typed in lower
	// case with spaces works.
	if code, body := e.activate(t, "a1@example.org", strings.ToLower(" "+k1+" "), "machine-1"); code != 200 {
		t.Fatalf("renew: %d %s", code, body)
	}
	if code, body := e.activate(t, "a2@example.org", k2, "machine-2"); code != 200 {
		t.Fatalf("second seat: %d %s", code, body)
	}
	code, body = e.activate(t, "a3@example.org", k3, "machine-3")
	if code != 403 || !strings.Contains(string(body), "all 2 client seats of example.org are in use") {
		t.Errorf("beyond seats: %d %s", code, body)
	}
	// Someone else's key is refused, without saying whose it is.
	code, body = e.activate(t, "a3@example.org", k1, "machine-3")
	if code != 403 || !strings.Contains(string(body), "does not belong to the account") {
		t.Errorf("foreign key: %d %s", code, body)
	}
	// A domain without seats is told so.
	code, body = e.activate(t, "b1@example.net", e.key(t, "b1@example.net"), "m")
	if code != 403 || !strings.Contains(string(body), "has not assigned any client seats") {
		t.Errorf("no seats: %d %s", code, body)
	}

	// Revoke frees a seat.
	list, err := e.store.Activations(t.Context(), "example.org")
	if err != nil || len(list) != 2 {
		t.Fatalf("activations: %+v %v", list, err)
	}
	if err := e.store.RevokeActivation(t.Context(), list[0].ID); err != nil {
		t.Fatal(err)
	}
	if code, body := e.activate(t, "a3@example.org", k3, "machine-3"); code != 200 {
		t.Errorf("after revoke: %d %s", code, body)
	}
}

func TestActivationErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	k := e.key(t, "a1@example.org")
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"activation_key":"` + k + `","machine_id":""}`, 400, "machine_id"},
		{`{"activation_key":"` + k + `","machine_id":"has space"}`, 400, "machine_id"},
		{`{"activation_key":"` + k + `","machine_id":"m","extra":1}`, 400, "unknown field"},
		{`{"activation_key":`, 400, "not the expected JSON"},
		{`{"activation_key":"` + k + `","machine_id":"m"} {}`, 400, "after the JSON"},
		{`{"activation_key":"` + strings.Repeat("x", MaxRequestBody) + `"}`, 400, "too large"},
	} {
		code, body := e.do(t, "POST", "/api/v1/activate", "a1@example.org", tc.body)
		if code != tc.code || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%.40s: %d %s", tc.body, code, body)
		}
	}
	// Without or with wrong credentials: 401 with a challenge.
	r := httptest.NewRequest("GET", "/api/v1/provisioning", nil)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no auth: %d", w.Code)
	}
	r.SetBasicAuth("a1@example.org", "wrong")
	w = httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("wrong password: %d", w.Code)
	}
	if code, _ := e.do(t, "GET", "/nope", "a1@example.org", ""); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

// TestProvisioningAndUpdate: the documents match the config.
func TestProvisioningAndUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code, body := e.do(t, "GET", "/api/v1/provisioning", "a1@example.org", "")
	var doc struct {
		Version  int    `json:"version"`
		Domain   string `json:"domain"`
		Settings map[string]struct {
			Value  any    `json:"value"`
			Unit   string `json:"unit"`
			Forced bool   `json:"forced"`
		} `json:"settings"`
	}
	if code != 200 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("%d %s", code, body)
	}
	if doc.Version != 1 || doc.Domain != "example.org" || len(doc.Settings) != 5 {
		t.Fatalf("doc: %s", body)
	}
	want := map[string]struct {
		v      any
		unit   string
		forced bool
	}{
		"priority_sync_interval": {float64(5), "minutes", false},
		"folder_sync_interval":   {float64(60), "minutes", true},
		"conflict_resolution":    {"client", "", true}, // the domain's override and forced
		"download_mode":          {"custom", "", false},
		"download_threshold":     {float64(5 << 20), "bytes", false},
	}
	for k, w := range want {
		g := doc.Settings[k]
		if g.Value != w.v || g.Unit != w.unit || g.Forced != w.forced {
			t.Errorf("%s = %+v, want %+v", k, g, w)
		}
	}
	// Another domain gets the global settings.
	_, body = e.do(t, "GET", "/api/v1/provisioning", "b1@example.net", "")
	if !strings.Contains(string(body), `"value": "server"`) || !strings.Contains(string(body), `"domain": "example.net"`) {
		t.Errorf("example.net: %s", body)
	}

	for _, tc := range []struct {
		current string
		avail   bool
	}{{"", true}, {"2.0.9", true}, {"2.1.0", false}, {"2.10.0", false}, {"1.99", true}} {
		_, body := e.do(t, "GET", "/api/v1/update?current="+tc.current, "a1@example.org", "")
		var u UpdateDoc
		json.Unmarshal(body, &u)
		if u.Version != "2.1.0" || u.URL != "https://dl.example.org/floe-sync-2.1.0.msi" || u.Notes != "fixes" || u.UpdateAvailable != tc.avail {
			t.Errorf("current %q: %s", tc.current, body)
		}
	}
	e.cfg.ClientSvc.Update = config.ClientUpdate{}
	_, body = e.do(t, "GET", "/api/v1/update?current=1.0", "a1@example.org", "")
	if !strings.Contains(string(body), `"update_available": false`) {
		t.Errorf("nothing offered: %s", body)
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{{"1.0", "1.0.0", 0}, {"1.10", "1.9", 1}, {"v2", "1.99.99", 1}, {"1.0-beta", "1.0", 1}, {"1.0", "1.0.1", -1}} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q) = %d", tc.a, tc.b, got)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "k.pem")
	var wg sync.WaitGroup
	keys := make([]ed25519.PrivateKey, 4)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !k.Equal(keys[0]) {
			t.Fatalf("concurrent creation gave different keys")
		}
	}
}

func FuzzVerifyDocument(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	doc, _ := Sign(key, License{ID: 1, Account: "a@b.c", MachineID: "m", Issued: time.Unix(0, 0), Expires: time.Unix(100, 0)})
	f.Add(MarshalDocument(doc))
	f.Add([]byte(`{"algorithm":"Ed25519","payload":"e30=","signature":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Document
		if json.Unmarshal(b, &d) != nil {
			return
		}
		if l, err := VerifyDocument(key.Public().(ed25519.PublicKey), d); err == nil && l.Format != LicenseFormat {
			t.Fatalf("accepted %+v", l)
		}
	})
}

func FuzzCompareVersions(f *testing.F) {
	f.Add("1.2.3", "1.10")
	f.Add("v2.0-beta", "2.0")
	f.Add("", "0")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 64 || len(b) > 64 {
			return
		}
		x, y := CompareVersions(a, b), CompareVersions(b, a)
		if x != -y || CompareVersions(a, a) != 0 {
			t.Fatalf("Compare(%q,%q)=%d, reversed %d", a, b, x, y)
		}
	})
}
