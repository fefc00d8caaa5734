package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// appDirectory adds app passwords to memDirectory.
type appDirectory struct {
	*memDirectory
	mu      sync.Mutex
	pws     map[storage.AccountID][]storage.AppPassword
	touched []int64
}

func (d *appDirectory) AppPasswords(_ context.Context, acct storage.AccountID) ([]storage.AppPassword, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pws[acct], nil
}

func (d *appDirectory) TouchAppPassword(_ context.Context, id int64, _ time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.touched = append(d.touched, id)
	return nil
}

func TestAppPasswords(t *testing.T) {
	a, mem := newTestAuth(t, config.Auth{MaxFailuresPerIP: 100, MaxFailuresPerAccount: 100, FailureWindow: config.Duration(time.Hour)})
	pw, hash := NewAppPassword()
	if len(pw) != 23 || strings.Count(pw, "-") != 3 || !strings.HasPrefix(hash, appPasswordPrefix) {
		t.Fatalf("NewAppPassword = %q %q", pw, hash)
	}
	if pw2, _ := NewAppPassword(); pw2 == pw {
		t.Fatal("two equal app passwords")
	}
	d := &appDirectory{memDirectory: mem, pws: map[storage.AccountID][]storage.AppPassword{
		1: {{ID: 7, Account: 1, Label: "phone", Hash: hash}},
	}}
	a.dir = d
	var results []string
	a.SetObserver(func(protocol, result string) { results = append(results, protocol+":"+result) })
	ctx := context.Background()

	p, err := a.Login(ctx, ip1, "imap", "alice@example.com", pw)
	if err != nil || p.Account != 1 || p.AppPassword != 7 {
		t.Fatalf("app password for IMAP: %+v %v", p, err)
	}
	// Typed without dashes, in upper case.
	if p, err := a.Login(ctx, ip1, "smtp", "alice@example.com", strings.ToUpper(strings.ReplaceAll(pw, "-", ""))); err != nil || p.AppPassword != 7 {
		t.Errorf("normalised: %+v %v", p, err)
	}
	// Never for the settings.
	if _, err := a.Login(ctx, ip1, ProtocolSettings, "alice@example.com", pw); !errors.Is(err, ErrFailed) {
		t.Errorf("settings accepted an app password: %v", err)
	}
	// The account password still works, with AppPassword 0.
	if p, err := a.Login(ctx, ip1, ProtocolSettings, "alice@example.com", "secret"); err != nil || p.AppPassword != 0 {
		t.Errorf("own password: %+v %v", p, err)
	}
	// Another account's app password does not open this one.
	if _, err := a.Login(ctx, ip1, "imap", "bob@example.com", pw); !errors.Is(err, ErrFailed) {
		t.Errorf("bob with alice's app password: %v", err)
	}
	if len(d.touched) == 0 || d.touched[0] != 7 {
		t.Errorf("use not recorded: %v", d.touched)
	}
	want := []string{"imap:ok", "smtp:ok", "settings:failed", "settings:ok", "imap:failed"}
	if strings.Join(results, " ") != strings.Join(want, " ") {
		t.Errorf("observed %v, want %v", results, want)
	}
}
