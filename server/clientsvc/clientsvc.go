// Package clientsvc is the client services of port 5229 (SPEC §10): the
// provisioning document (settings the administrator forces or defaults for
// a domain's clients), the update check (the client version offered and
// where to download it), and client activation: each user has an
// activation key; a client activates with it and a machine identifier and
// receives a license document signed with the server's Ed25519 key, which
// it can verify offline. A domain's activations are limited by its seats
// ([clientsvc] in the config).
//
// Service holds the logic shared by the HTTPS handler and the `floe
// license` command (offline activation); Handler is the http.Handler that
// server/httpd mounts on the clientsvc listener.
package clientsvc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// Store is what the client services need from storage.
type Store interface {
	storage.Directory
	storage.Clients
}

// Service implements provisioning, update check and activation.
type Service struct {
	store  Store
	config func() *config.Config
	key    ed25519.PrivateKey
	now    func() time.Time
}

// NewService returns a Service signing licenses with key.
func NewService(store Store, cfg func() *config.Config, key ed25519.PrivateKey) *Service {
	return &Service{store: store, config: cfg, key: key, now: time.Now}
}

// PublicKey returns the key that verifies issued licenses.
func (s *Service) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// ActivationKey returns the account's activation key, creating it on first
// use.
func (s *Service) ActivationKey(ctx context.Context, acct storage.AccountID) (string, error) {
	return s.store.ActivationKey(ctx, acct, NewActivationKey)
}

// ResetActivationKey gives the account a new key; the old one stops
// working for new activations (existing activations stay).
func (s *Service) ResetActivationKey(ctx context.Context, acct storage.AccountID) (string, error) {
	k := NewActivationKey()
	return k, s.store.SetActivationKey(ctx, acct, k)
}

// SeatsError is returned by Activate when the domain's seats are all in
// use. Its message is meant for the user.
type SeatsError struct {
	Domain string
	Seats  int
}

func (e *SeatsError) Error() string {
	if e.Seats == 0 {
		return fmt.Sprintf("client activation is not available for %s: the administrator has not assigned any client seats to it", e.Domain)
	}
	return fmt.Sprintf("all %d client seats of %s are in use; ask your administrator to revoke an activation you no longer use or to add seats", e.Seats, e.Domain)
}

// Unwrap makes errors.Is(err, storage.ErrLimit) hold.
func (e *SeatsError) Unwrap() error { return storage.ErrLimit }

// Errors of Activate besides *SeatsError and storage errors.
var (
	ErrWrongKey  = errors.New("this activation key does not belong to the account you are logged in as; copy your own key from the settings page")
	ErrMachineID = errors.New("machine_id must be 1 to 200 printable characters")
)

// ValidMachineID accepts 1-200 printable ASCII characters.
func ValidMachineID(m string) bool {
	if m == "" || len(m) > storage.MaxMachineID {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 0x21 || m[i] > 0x7e {
			return false
		}
	}
	return true
}

// Activate activates machine for acct (renewing an existing activation of
// the same machine without using a seat) and returns the signed license
// document and the stored activation. Beyond the domain's seats it returns
// a *SeatsError. It is used online (after checking the user's key) and
// offline by the administrator (`floe license issue`).
func (s *Service) Activate(ctx context.Context, acct storage.Account, machine string) (Document, storage.Activation, error) {
	if !ValidMachineID(machine) {
		return Document{}, storage.Activation{}, ErrMachineID
	}
	cfg := s.config()
	domain := acct.Address[strings.LastIndexByte(acct.Address, '@')+1:]
	seats := cfg.ClientSvc.DomainSeats(domain)
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(cfg.ClientSvc.LicenseValidity())
	a, err := s.store.Activate(ctx, storage.Activation{Account: acct.ID, MachineID: machine, Expires: exp}, seats)
	if errors.Is(err, storage.ErrLimit) {
		return Document{}, a, &SeatsError{Domain: domain, Seats: seats}
	}
	if err != nil {
		return Document{}, a, err
	}
	doc, err := Sign(s.key, License{
		ID: a.ID, Account: a.Address, Domain: a.Domain, MachineID: a.MachineID,
		Server: cfg.PublicHostname(), Issued: a.Renewed, Expires: a.Expires,
	})
	return doc, a, err
}

// ActivateWithKey is the online activation: key must be acct's key.
func (s *Service) ActivateWithKey(ctx context.Context, acct storage.Account, key, machine string) (Document, storage.Activation, error) {
	id, err := s.store.AccountByActivationKey(ctx, NormalizeKey(key))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && id != acct.ID) {
		return Document{}, storage.Activation{}, ErrWrongKey
	}
	if err != nil {
		return Document{}, storage.Activation{}, err
	}
	return s.Activate(ctx, acct, machine)
}

// Setting is one provisioned setting.
type Setting struct {
	Value  any    `json:"value"`
	Unit   string `json:"unit,omitempty"` // "minutes", "messages", "bytes"
	Forced bool   `json:"forced"`
}

// ProvisioningDoc is the provisioning document of a domain.
type ProvisioningDoc struct {
	Version  int                `json:"version"` // 1
	Domain   string             `json:"domain"`
	Settings map[string]Setting `json:"settings"`
}

// Provisioning returns the document for domain: every setting the
// configuration provisions (non-zero), with its value and whether clients
// must not change it. Intervals are in whole minutes.
func (s *Service) Provisioning(domain string) ProvisioningDoc {
	cfg := s.config()
	p := cfg.ClientSvc.ProvisioningFor(domain)
	doc := ProvisioningDoc{Version: 1, Domain: domain, Settings: map[string]Setting{}}
	forced := map[string]bool{}
	for _, f := range p.Forced {
		forced[f] = true
	}
	put := func(name string, v any, unit string) {
		doc.Settings[name] = Setting{Value: v, Unit: unit, Forced: forced[name]}
	}
	minutes := func(d config.Duration) int64 { return int64(d.D() / time.Minute) }
	if p.PrioritySyncInterval > 0 {
		put("priority_sync_interval", minutes(p.PrioritySyncInterval), "minutes")
	}
	if p.StandardSyncInterval > 0 {
		put("standard_sync_interval", minutes(p.StandardSyncInterval), "minutes")
	}
	if p.FolderSyncInterval > 0 {
		put("folder_sync_interval", minutes(p.FolderSyncInterval), "minutes")
	}
	if p.ConflictResolution != "" {
		put("conflict_resolution", p.ConflictResolution, "")
	}
	if p.FullSyncThreshold > 0 {
		put("full_sync_threshold", p.FullSyncThreshold, "messages")
	}
	if p.DownloadMode != "" {
		put("download_mode", p.DownloadMode, "")
	}
	if p.DownloadThreshold > 0 {
		put("download_threshold", int64(p.DownloadThreshold), "bytes")
	}
	return doc
}

// UpdateDoc is the answer of the update check.
type UpdateDoc struct {
	// Version is the offered version ("" when none is offered).
	Version string `json:"version"`
	URL     string `json:"url,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Notes   string `json:"notes,omitempty"`
	// Current echoes the version the client said it runs; UpdateAvailable
	// is true when Version is newer than Current (or Current is empty and
	// a version is offered).
	Current         string `json:"current,omitempty"`
	UpdateAvailable bool   `json:"update_available"`
}

// Update answers the update check for a client running current.
func (s *Service) Update(current string) UpdateDoc {
	u := s.config().ClientSvc.Update
	d := UpdateDoc{Version: u.Version, URL: u.URL, SHA256: u.SHA256, Notes: u.Notes, Current: current}
	d.UpdateAvailable = u.Version != "" && (current == "" || CompareVersions(u.Version, current) > 0)
	return d
}

// CompareVersions compares dotted versions ("1.10.2" > "1.9"), numerically
// where both parts are numbers, else as strings; a missing part is 0.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(strings.TrimPrefix(a, "v"), "."), strings.Split(strings.TrimPrefix(b, "v"), ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := "0", "0"
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, ex := strconv.ParseUint(x, 10, 64)
		ny, ey := strconv.ParseUint(y, 10, 64)
		switch {
		case ex == nil && ey == nil:
			if nx != ny {
				if nx < ny {
					return -1
				}
				return 1
			}
		case x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}
