package dkim

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

const testMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: Hello  there\r\n" +
	"Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"X-Unsigned: yes\r\n" +
	"\r\n" +
	"Hi Bob,\r\n\r\nthis is a test.  \r\n\r\n\r\n"

// verify checks msg with go-msgauth against the keys' TXT records.
func verify(t *testing.T, k *Keys, msg string) []*dkim.Verification {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(strings.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			for _, key := range k.List() {
				n, v, err := k.TXTRecord(key.Domain, key.Selector)
				if err != nil {
					return nil, err
				}
				if n == name {
					return []string{v}, nil
				}
			}
			return nil, errors.New("no such record")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestSignVerify(t *testing.T) {
	for _, alg := range []string{RSA, Ed25519} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			k, err := Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			key, err := k.Generate("Example.ORG", "s1", alg)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Active || key.Algorithm != alg || key.Domain != "example.org" {
				t.Fatalf("key = %+v", key)
			}
			fi, err := os.Stat(filepath.Join(dir, "example.org", "s1.pem"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode: %v %v", fi, err)
			}
			name, value, err := k.TXTRecord("example.org", "s1")
			if err != nil || name != "s1._domainkey.example.org" || !strings.HasPrefix(value, "v=DKIM1; k="+alg+"; p=") {
				t.Fatalf("TXTRecord = %q %q %v", name, value, err)
			}
			h, err := k.Sign("example.org", strings.NewReader(testMsg))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, "DKIM-Signature: ") || !strings.HasSuffix(h, "\r\n") {
				t.Fatalf("header = %q", h)
			}
			if !strings.Contains(h, "c=relaxed/relaxed") || !strings.Contains(h, "s=s1") || !strings.Contains(h, "d=example.org") {
				t.Errorf("header lacks tags: %q", h)
			}
			vs := verify(t, k, h+testMsg)
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
				t.Fatalf("verification: %+v", vs[0])
			}
			// From is oversigned; X-Unsigned is not signed.
			var froms int
			for _, hk := range vs[0].HeaderKeys {
				if strings.EqualFold(hk, "From") {
					froms++
				}
				if strings.EqualFold(hk, "X-Unsigned") {
					t.Errorf("X-Unsigned signed")
				}
			}
			if froms != 2 {
				t.Errorf("From signed %d times, want 2 (oversigned): %v", froms, vs[0].HeaderKeys)
			}
			// Tampering breaks it: a changed body, an added From.
			for _, bad := range []string{
				h + strings.Replace(testMsg, "test", "tост", 1),
				h + "From: mallory@example.com\r\n" + testMsg,
			} {
				if vs := verify(t, k, bad); len(vs) != 1 || vs[0].Err == nil {
					t.Errorf("tampered message verifies")
				}
			}
			// Relaxed canonicalisation tolerates whitespace changes.
			if vs := verify(t, k, h+strings.Replace(testMsg, "Hello  there", "Hello there", 1)); vs[0].Err != nil {
				t.Errorf("relaxed header canonicalisation: %v", vs[0].Err)
			}
		})
	}
}

func TestSignNoKey(t *testing.T) {
	k, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := k.Sign("example.org", strings.NewReader(testMsg))
	if h != "" || err != nil {
		t.Fatalf("Sign without key = %q, %v", h, err)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Generate("example.org", "old", RSA); err != nil {
		t.Fatal(err)
	}
	nk, err := k.Generate("example.org", "new", Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	if nk.Active {
		t.Fatal("a second key must not become active by itself")
	}
	if _, err := k.Generate("example.org", "new", RSA); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate selector: %v", err)
	}
	for _, bad := range [][2]string{{"exa mple.org", "s"}, {"example.org", "../x"}, {"", "s"}, {"example.org", ""}} {
		if _, err := k.Generate(bad[0], bad[1], RSA); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Generate(%q, %q) = %v", bad[0], bad[1], err)
		}
	}
	if _, err := k.Generate("example.org", "x", "dsa"); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("bad algorithm: %v", err)
	}
	sel := func() string {
		h, err := k.Sign("example.org", strings.NewReader(testMsg))
		if err != nil {
			t.Fatal(err)
		}
		vs := verify(t, k, h+testMsg)
		if vs[0].Err != nil {
			t.Fatal(vs[0].Err)
		}
		for _, tag := range strings.Split(strings.ReplaceAll(h, "\r\n", ""), ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(tag), "s="); ok {
				return v
			}
		}
		t.Fatalf("no s= in %q", h)
		return ""
	}
	if s := sel(); s != "old" {
		t.Fatalf("signing selector %q, want old", s)
	}
	if err := k.Activate("example.org", "new"); err != nil {
		t.Fatal(err)
	}
	if s := sel(); s != "new" {
		t.Fatalf("signing selector %q, want new", s)
	}
	if err := k.Activate("example.org", "nope"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Activate unknown: %v", err)
	}

	// Another process (the CLI) changes the files: a second Keys over the
	// same directory sees it after Reload.
	k2, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "example.org", "active"), []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k2.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, key := range k2.List() {
		if key.Active != (key.Selector == "old") {
			t.Errorf("after Reload: %+v", key)
		}
	}
	// A broken key file is skipped, not fatal.
	if err := os.WriteFile(filepath.Join(dir, "example.org", "broken.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := k2.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := len(k2.List()); n != 2 {
		t.Errorf("%d keys listed, want 2", n)
	}
}

// TestAutoReload: a change on disk is picked up by Sign without Reload.
func TestAutoReload(t *testing.T) {
	dir := t.TempDir()
	k, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Generate("example.org", "s1", Ed25519); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	k.checked = time.Time{} // as if the last check was long ago
	k.mu.Unlock()
	h, err := k.Sign("example.org", strings.NewReader(testMsg))
	if err != nil || h == "" {
		t.Fatalf("Sign after the key appeared on disk = %q, %v", h, err)
	}
}

func TestLongHeaderLine(t *testing.T) {
	k, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Generate("example.org", "s1", Ed25519); err != nil {
		t.Fatal(err)
	}
	msg := "From: a@example.org\r\nX-Long: " + strings.Repeat("x", 10000) + "\r\nSubject: s\r\n\r\nbody\r\n"
	h, err := k.Sign("example.org", strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	vs := verify(t, k, h+msg)
	if vs[0].Err != nil {
		t.Fatal(vs[0].Err)
	}
	if !strings.Contains(strings.Join(vs[0].HeaderKeys, ":"), "Subject") {
		t.Errorf("Subject after a long line not signed: %v", vs[0].HeaderKeys)
	}
}

// dkimpy returns a python3 that can import dkimpy (Debian python3-dkim).
// Under CI=true its absence is a failure.
func dkimpy(t *testing.T) string {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if err := exec.Command(py, "-c", "import dkim").Run(); err == nil {
			return py
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 dkimpy (Debian python3-dkim) is missing; .ci/deps.sh installs it")
	}
	t.Skip("python3 dkimpy (Debian python3-dkim) not installed")
	return ""
}

// TestDkimpyVerifies: an independent implementation verifies our
// signatures against the published TXT record.
func TestDkimpyVerifies(t *testing.T) {
	py := dkimpy(t)
	for _, alg := range []string{RSA, Ed25519} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			k, err := Open(filepath.Join(dir, "keys"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Generate("example.org", "sel", alg); err != nil {
				t.Fatal(err)
			}
			_, value, err := k.TXTRecord("example.org", "sel")
			if err != nil {
				t.Fatal(err)
			}
			rec := filepath.Join(dir, "record.txt")
			if err := os.WriteFile(rec, []byte(value), 0o600); err != nil {
				t.Fatal(err)
			}
			h, err := k.Sign("example.org", strings.NewReader(testMsg))
			if err != nil {
				t.Fatal(err)
			}
			run := func(msg string) (string, error) {
				cmd := exec.Command(py, "testdata/dkimverify.py", rec)
				cmd.Stdin = strings.NewReader(msg)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				return out.String(), err
			}
			if out, err := run(h + testMsg); err != nil {
				t.Fatalf("dkimpy rejects our signature: %v\n%s", err, out)
			}
			if out, err := run(h + strings.Replace(testMsg, "Bob", "Eve", 1)); err == nil {
				t.Fatalf("dkimpy accepts a tampered message:\n%s", out)
			}
		})
	}
}
