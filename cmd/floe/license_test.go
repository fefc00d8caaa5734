package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floemail/floe/server/clientsvc"
)

// TestLicenseCommands: offline activation up to the seats, the document
// verified with the printed public key, list, seats, revoke, keys.
func TestLicenseCommands(t *testing.T) {
	file, _ := writeConfig(t, nil, "[[clientsvc.domain]]\nname = \"example.com\"\nseats = 1\n")
	c := func(args ...string) []string { return append(args, "--config", file) }
	floe(t, "alice-Secret-1\n", c("account", "add", "alice@example.com", "--password-stdin")...).expect(t, 0, "")
	floe(t, "bob-Secret-12\n", c("account", "add", "bob@example.com", "--password-stdin")...).expect(t, 0, "")

	key := strings.TrimSpace(floe(t, "", c("license", "key", "alice@example.com")...).stdout)
	if !strings.HasPrefix(key, "FLOE-") || len(key) != 28 {
		t.Fatalf("key %q", key)
	}
	floe(t, "", c("license", "key", "alice@example.com")...).expect(t, 0, key)
	if k := floe(t, "", c("license", "key", "alice@example.com", "--reset")...).stdout; strings.Contains(k, key) {
		t.Errorf("--reset kept the key")
	}

	out := filepath.Join(t.TempDir(), "license.json")
	floe(t, "", c("license", "issue", "alice@example.com", "PC-1", "--out", out)...).expect(t, 0, "license written to "+out)
	floe(t, "", c("license", "issue", "bob@example.com", "PC-2")...).expectErr(t, 1, "all 1 client seats of example.com are in use")

	r := floe(t, "", c("license", "pubkey")...)
	r.expect(t, 0, "BEGIN PUBLIC KEY")
	blk, _ := pem.Decode([]byte(r.stdout[strings.Index(r.stdout, "-----BEGIN"):]))
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	var doc clientsvc.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	l, err := clientsvc.VerifyDocument(pub.(ed25519.PublicKey), doc)
	if err != nil || l.Account != "alice@example.com" || l.MachineID != "PC-1" {
		t.Fatalf("license %+v: %v", l, err)
	}

	floe(t, "", c("license", "list")...).expect(t, 0, "alice@example.com  PC-1")
	floe(t, "", c("license", "seats", "example.com")...).expect(t, 0, "example.com  1      1     0")
	floe(t, "", c("license", "revoke", "99")...).expectErr(t, 1, "no activation 99")
	floe(t, "", c("license", "revoke", "1")...).expect(t, 0, "revoked activation 1")
	floe(t, "", c("license", "issue", "bob@example.com", "PC-2")...).expect(t, 0, `"signature"`)
	floe(t, "", c("license", "issue", "nobody@example.com", "PC-3")...).expectErr(t, 1, "no account nobody@example.com")
	floe(t, "", c("license", "issue", "bob@example.com", "bad id")...).expectErr(t, 2, "machine_id")
}
