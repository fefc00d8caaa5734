package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ClientSvc is the [clientsvc] table: the client services of port 5229
// (server/clientsvc) — provisioning, the update check and client
// activation — and the seats per domain.
type ClientSvc struct {
	// SigningKeyFile is the PEM (PKCS #8) Ed25519 private key that signs
	// license documents. Empty: data_dir/license/ed25519.pem, generated on
	// first use by the server or by `floe license`.
	SigningKeyFile string `toml:"signing_key_file"`
	// LicenseDays is how long an issued license document is valid; clients
	// re-activate before it expires (default 365).
	LicenseDays int `toml:"license_days"`
	// DefaultSeats is the number of client seats of a domain that has no
	// [[clientsvc.domain]] entry (default 0: activation refused).
	DefaultSeats int `toml:"default_seats"`
	// Update is the client version offered to every domain.
	Update ClientUpdate `toml:"update"`
	// Provisioning is the settings pushed to every domain's clients.
	Provisioning Provisioning `toml:"provisioning"`
	// Domains hold per-domain seats and provisioning overrides.
	Domains []ClientSvcDomain `toml:"domain"`
}

// ClientUpdate is the [clientsvc.update] table: the client version the
// administrator offers and where to download it. An empty Version offers
// nothing.
type ClientUpdate struct {
	Version string `toml:"version"`
	URL     string `toml:"url"`
	// SHA256 is the lowercase hex digest of the download (optional).
	SHA256 string `toml:"sha256"`
	Notes  string `toml:"notes"`
}

// Provisioning is a [clientsvc.provisioning] table: settings the
// administrator defaults or forces for clients (seed: "Provisioning
// system"). A zero value means "not provisioned": the client keeps its own.
type Provisioning struct {
	// PrioritySyncInterval: how often priority folders synchronise.
	PrioritySyncInterval Duration `toml:"priority_sync_interval"`
	// StandardSyncInterval: how often the other selected folders do.
	StandardSyncInterval Duration `toml:"standard_sync_interval"`
	// FolderSyncInterval: how often the folder structure does.
	FolderSyncInterval Duration `toml:"folder_sync_interval"`
	// ConflictResolution: "server" (server wins) or "client" (the last
	// change wins); "" not provisioned.
	ConflictResolution string `toml:"conflict_resolution"`
	// FullSyncThreshold: up to this many messages in a folder, every item
	// is compared at each sync.
	FullSyncThreshold int `toml:"full_sync_threshold"`
	// DownloadMode: "headers", "full" or "custom" (whole messages up to
	// DownloadThreshold, headers above).
	DownloadMode      string `toml:"download_mode"`
	DownloadThreshold Size   `toml:"download_threshold"`
	// Forced lists the settings above (by key name) that clients must not
	// change; the others are defaults the user may override.
	Forced []string `toml:"forced"`
}

// ProvisioningKeys are the setting names of Provisioning, as written in the
// config file and in the provisioning document.
var ProvisioningKeys = []string{
	"priority_sync_interval", "standard_sync_interval", "folder_sync_interval",
	"conflict_resolution", "full_sync_threshold", "download_mode", "download_threshold",
}

// ClientSvcDomain is a [[clientsvc.domain]] entry.
type ClientSvcDomain struct {
	// Name is a local domain.
	Name string `toml:"name"`
	// Seats is the number of client activations the domain's users may
	// hold together.
	Seats int `toml:"seats"`
	// Provisioning overrides the global table setting by setting: a
	// non-zero value here wins; a setting is forced when either table
	// forces it.
	Provisioning Provisioning `toml:"provisioning"`
}

func defaultClientSvc() ClientSvc {
	return ClientSvc{LicenseDays: 365}
}

// LicenseValidity returns LicenseDays as a duration.
func (c *ClientSvc) LicenseValidity() time.Duration {
	return time.Duration(c.LicenseDays) * 24 * time.Hour
}

// DomainSeats returns the seats of a domain.
func (c *ClientSvc) DomainSeats(domain string) int {
	for _, d := range c.Domains {
		if d.Name == domain {
			return d.Seats
		}
	}
	return c.DefaultSeats
}

// ProvisioningFor returns the effective provisioning of a domain: the
// global table with the domain's non-zero settings over it, and the union
// of both Forced lists.
func (c *ClientSvc) ProvisioningFor(domain string) Provisioning {
	p := c.Provisioning
	p.Forced = slices.Clone(p.Forced)
	for _, d := range c.Domains {
		if d.Name != domain {
			continue
		}
		o := d.Provisioning
		if o.PrioritySyncInterval != 0 {
			p.PrioritySyncInterval = o.PrioritySyncInterval
		}
		if o.StandardSyncInterval != 0 {
			p.StandardSyncInterval = o.StandardSyncInterval
		}
		if o.FolderSyncInterval != 0 {
			p.FolderSyncInterval = o.FolderSyncInterval
		}
		if o.ConflictResolution != "" {
			p.ConflictResolution = o.ConflictResolution
		}
		if o.FullSyncThreshold != 0 {
			p.FullSyncThreshold = o.FullSyncThreshold
		}
		if o.DownloadMode != "" {
			p.DownloadMode = o.DownloadMode
		}
		if o.DownloadThreshold != 0 {
			p.DownloadThreshold = o.DownloadThreshold
		}
		for _, f := range o.Forced {
			if !slices.Contains(p.Forced, f) {
				p.Forced = append(p.Forced, f)
			}
		}
	}
	return p
}

func (c *ClientSvc) clone() ClientSvc {
	n := *c
	n.Provisioning.Forced = slices.Clone(c.Provisioning.Forced)
	n.Domains = slices.Clone(c.Domains)
	for i := range n.Domains {
		n.Domains[i].Provisioning.Forced = slices.Clone(c.Domains[i].Provisioning.Forced)
	}
	return n
}

func (c *Config) validateClientSvc(v *validator) {
	cs := &c.ClientSvc
	v.positiveInt("clientsvc.license_days", cs.LicenseDays)
	if cs.DefaultSeats < 0 {
		v.fail("clientsvc.default_seats", "must not be negative")
	}
	u := &cs.Update
	if u.Version != "" && u.URL == "" {
		v.fail("clientsvc.update.version", "%q is offered without clientsvc.update.url (where to download it)", u.Version)
	}
	if u.URL != "" {
		if p, err := url.Parse(u.URL); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			v.fail("clientsvc.update.url", "%q is not an http(s) URL", u.URL)
		}
	}
	u.SHA256 = strings.ToLower(u.SHA256)
	if u.SHA256 != "" && (len(u.SHA256) != 64 || strings.Trim(u.SHA256, "0123456789abcdef") != "") {
		v.fail("clientsvc.update.sha256", "must be 64 hex digits (sha256sum of the download)")
	}
	validateProvisioning(v, "clientsvc.provisioning", &cs.Provisioning)
	seen := map[string]string{}
	for i := range cs.Domains {
		d := &cs.Domains[i]
		path := indexKey("clientsvc.domain", i)
		d.Name = strings.ToLower(strings.TrimSuffix(d.Name, "."))
		if err := checkDomain(d.Name); err != nil {
			v.fail(path+".name", "%q: %s", d.Name, err)
		} else if prev, dup := seen[d.Name]; dup {
			v.fail(path+".name", "domain %q already has an entry at %s", d.Name, prev)
		} else {
			seen[d.Name] = v.where(path)
		}
		if d.Seats < 0 {
			v.fail(path+".seats", "must not be negative")
		}
		validateProvisioning(v, path+".provisioning", &d.Provisioning)
	}
	if len(cs.Domains) == 0 {
		cs.Domains = nil
	}
}

func validateProvisioning(v *validator, path string, p *Provisioning) {
	p.ConflictResolution = strings.ToLower(p.ConflictResolution)
	switch p.ConflictResolution {
	case "", "server", "client":
	default:
		v.fail(path+".conflict_resolution", "%q: use \"server\" (server wins) or \"client\" (last change wins)", p.ConflictResolution)
	}
	p.DownloadMode = strings.ToLower(p.DownloadMode)
	switch p.DownloadMode {
	case "", "headers", "full", "custom":
	default:
		v.fail(path+".download_mode", "%q: use headers, full or custom", p.DownloadMode)
	}
	if p.FullSyncThreshold < 0 {
		v.fail(path+".full_sync_threshold", "must not be negative")
	}
	if p.DownloadThreshold < 0 {
		v.fail(path+".download_threshold", "must not be negative")
	}
	for i, f := range p.Forced {
		f = strings.ToLower(f)
		p.Forced[i] = f
		if !slices.Contains(ProvisioningKeys, f) {
			v.fail(fmt.Sprintf("%s.forced[%d]", path, i), "%q is not a provisioning setting; use one of %s", f, strings.Join(ProvisioningKeys, ", "))
		}
	}
	if len(p.Forced) == 0 {
		p.Forced = nil
	}
}
