package config

import (
	"reflect"
	"testing"
	"time"
)

func TestClientSvcAndDiscoverErrors(t *testing.T) {
	t.Parallel()
	src := `[discover]
hostname = "bad_host"
webdav_url = "ftp://x"
[clientsvc]
license_days = 0
default_seats = -1
[clientsvc.update]
version = "1.0"
sha256 = "abc"
[clientsvc.provisioning]
conflict_resolution = "whoever"
download_mode = "some"
forced = ["nope"]
[[clientsvc.domain]]
name = "example.org"
seats = -2
[[clientsvc.domain]]
name = "Example.org"
`
	_, err := parse("f.toml", []byte(src), Production())
	want := []string{
		`f.toml:2: discover.hostname: "bad_host": invalid character '_'; host names contain only letters, digits, hyphens and dots`,
		`f.toml:3: discover.webdav_url: "ftp://x" is not an http(s) URL`,
		`f.toml:5: clientsvc.license_days: must be a positive number, not 0`,
		`f.toml:6: clientsvc.default_seats: must not be negative`,
		`f.toml:8: clientsvc.update.version: "1.0" is offered without clientsvc.update.url (where to download it)`,
		`f.toml:9: clientsvc.update.sha256: must be 64 hex digits (sha256sum of the download)`,
		`f.toml:11: clientsvc.provisioning.conflict_resolution: "whoever": use "server" (server wins) or "client" (last change wins)`,
		`f.toml:12: clientsvc.provisioning.download_mode: "some": use headers, full or custom`,
		`f.toml:13: clientsvc.provisioning.forced[0]: "nope" is not a provisioning setting; use one of priority_sync_interval, standard_sync_interval, folder_sync_interval, conflict_resolution, full_sync_threshold, download_mode, download_threshold`,
		`f.toml:16: clientsvc.domain[0].seats: must not be negative`,
		`f.toml:18: clientsvc.domain[1].name: domain "example.org" already has an entry at line 14`,
	}
	if got := errLines(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%q\nwant:\n%q", got, want)
	}
}

func TestProvisioningFor(t *testing.T) {
	t.Parallel()
	c := ClientSvc{
		DefaultSeats: 3,
		Provisioning: Provisioning{FolderSyncInterval: Duration(time.Hour), ConflictResolution: "server", Forced: []string{"folder_sync_interval"}},
		Domains: []ClientSvcDomain{{Name: "a.example", Seats: 9, Provisioning: Provisioning{
			ConflictResolution: "client", DownloadMode: "full", Forced: []string{"conflict_resolution", "folder_sync_interval"}}}},
	}
	p := c.ProvisioningFor("a.example")
	if p.FolderSyncInterval != Duration(time.Hour) || p.ConflictResolution != "client" || p.DownloadMode != "full" ||
		!reflect.DeepEqual(p.Forced, []string{"folder_sync_interval", "conflict_resolution"}) {
		t.Errorf("a.example: %+v", p)
	}
	if q := c.ProvisioningFor("b.example"); q.ConflictResolution != "server" || len(q.Forced) != 1 {
		t.Errorf("b.example: %+v", q)
	}
	if c.DomainSeats("a.example") != 9 || c.DomainSeats("b.example") != 3 {
		t.Errorf("seats")
	}
	// ProvisioningFor must not alias the global Forced list.
	c.ProvisioningFor("a.example")
	if len(c.Provisioning.Forced) != 1 {
		t.Errorf("global Forced changed: %v", c.Provisioning.Forced)
	}
}
