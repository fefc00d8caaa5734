package config

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// verifyArgon2id checks password against a PHC argon2id string (test-only;
// server/auth owns real verification).
func verifyArgon2id(t testing.TB, phc, password string) bool {
	t.Helper()
	parts := strings.Split(phc, "$")
	if len(parts) != 6 {
		t.Fatalf("not a PHC string: %q", phc)
	}
	var m, it uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &it, &p); err != nil {
		t.Fatal(err)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	got := argon2.IDKey([]byte(password), salt, it, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

func TestCheckPasswordHash(t *testing.T) {
	good := []string{
		exampleHash,
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"$2y$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
	}
	for _, h := range good {
		if err := checkPasswordHash(h); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
	bad := []string{
		"", "change-me", "$argon2id$", "$argon2id$v=19$m=65536,t=3,p=4$salt",
		"$argon2id$v=19$t=3,m=65536,p=4$e2UyS884MAkXnzSZh2F2/A$iM+M3ANPyYLQujfhO44qh08jVuNfs3mEfKNmegx/UZg",
		"$argon2id$v=19$m=65536,t=3,p=0$e2UyS884MAkXnzSZh2F2/A$iM+M3ANPyYLQujfhO44qh08jVuNfs3mEfKNmegx/UZg",
		"$argon2id$v=19$m=65536,t=3,p=4$e2UyS884MAkXnzSZh2F2/A$aGFzaA",
		"$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lh!y",
		"$2b$1a$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
	}
	for _, h := range bad {
		err := checkPasswordHash(h)
		if err == nil {
			t.Errorf("%q accepted", h)
			continue
		}
		if !strings.Contains(err.Error(), "floe hash-password") {
			t.Errorf("%q: error without hint: %v", h, err)
		}
		if len(h) > 12 && strings.Contains(err.Error(), h) {
			t.Errorf("error echoes the value: %v", err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	seed := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	seed(examplePath)
	seed("testdata/good.toml")
	seed("testdata/bad.toml")
	if b, err := os.ReadFile(examplePath); err == nil {
		f.Add([]byte(exampleUncommented(f, string(b))), false)
	}
	for _, s := range []string{
		"", "[server\n", "a = [1, {b = 2}]\n", "smtp = { max_errors = 0 }\n",
		"[[account]]\naddress = \"bob@example.test\"\npassword_hash = \"x\"\n",
		"[listeners]\nsmtp = \"127.0.0.1:99999\"\nimap = \":587\"\n",
		"[[domain]]\nname = \"bücher.example\"\n[[domain]]\nname = \"a.org\"\ncatch_all = \"b@c.org\"\n",
		"domain = [{name = \"a.org\"}, {name = 5}]\n",
		"[[e.g]]\n[e.g.i]\nj = [\n1,\n]\n",
		"[smtp]\nmax_message_size = \"99999999999TiB\"\nmax_line_length = -1\n",
		"\"\\u00e9\" = 1\n'a.b'.c = 2\n",
	} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, dev bool) {
		base := Production()
		if dev {
			base = Development()
		}
		c, err := parse("f.toml", data, base)
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error is not a non-empty *Errors: %T %v", err, err)
			}
			if c != nil {
				t.Fatalf("config returned with an error")
			}
			for _, e := range errs.List {
				if e.Reason == "" || e.File != "f.toml" {
					t.Fatalf("bad error %#v", e)
				}
				// Syntax errors and unknown keys are always in the file.
				if e.Key == "" && e.Line == 0 && !strings.HasSuffix(e.Reason, "more errors not shown") {
					t.Fatalf("error without a line: %v", e)
				}
				if e.Line > strings.Count(string(data), "\n")+1 {
					t.Fatalf("line %d beyond the end of the file: %v", e.Line, e)
				}
			}
			return
		}
		// A loaded config is valid and normalised: validating again
		// changes nothing and finds nothing.
		n := c.Clone()
		if err := n.Validate(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		if !reflect.DeepEqual(n, c) {
			t.Fatalf("Validate changed a loaded config:\n%+v\n%+v", c, n)
		}
	})
}

func TestLoadRealFileWithLines(t *testing.T) {
	// Load (not parse) reports the path it was given.
	dir := t.TempDir()
	p := filepath.Join(dir, "floe.toml")
	if err := os.WriteFile(p, []byte("[smtp]\nmax_errors = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, nil)
	want := p + ":2: smtp.max_errors: must be a positive number, not 0"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
