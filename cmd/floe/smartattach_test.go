package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/sqlite"
)

// floe smartattach list/revoke/purge against links put in the store.
func TestSmartAttachCommands(t *testing.T) {
	file, dataDir := writeConfig(t, nil, "")
	initStore(t, dataDir)
	floe(t, "", "smartattach", "list", "--config", file).expect(t, 0, "No live download links")

	ctx := context.Background()
	st, err := sqlite.Open(ctx, dataDir, sqlite.Options{MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.com"}); err != nil {
		t.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, storage.Account{Address: "ann@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.CreateMailbox(ctx, acct.ID, "Files", "")
	if err != nil {
		t.Fatal(err)
	}
	// file1.zip exists (its link expired: purge deletes it); file0.zip
	// does not.
	f1, _, err := ingest.PutFile(ctx, st, storage.FileWrite{Mailbox: mb.ID, Name: "file1.zip", Modified: time.Now().Add(-3 * time.Hour)}, strings.NewReader("zip"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, exp := range []time.Duration{time.Hour, -time.Hour} {
		_, hash, _ := storage.NewLinkToken()
		content := storage.BlobID("abcd")
		if i == 1 {
			content = f1.Content
		}
		id, err := st.CreateLink(ctx, storage.Link{TokenHash: hash, Account: acct.ID, Mailbox: mb.ID, Name: "file" + strconv.Itoa(i) + ".zip",
			Content: content, Size: 12_345_678, Created: time.Now().Add(-2 * time.Hour), Expires: time.Now().Add(exp), Note: "mail to x@y.test: hello"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strconv.FormatInt(int64(id), 10))
	}
	st.Close()

	r := floe(t, "", "smartattach", "list", "--config", file)
	r.expect(t, 0, "Files/Attachments/file0.zip")
	for _, want := range []string{"live", "ann@example.com", "12.3 MB", "mail to x@y.test: hello"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "file1.zip") {
		t.Fatalf("expired link listed without --all:\n%s", r.stdout)
	}
	floe(t, "", "smartattach", "list", "--all", "--config", file).expect(t, 0, "expired")
	floe(t, "", "smartattach", "list", "--account", "ann@example.com", "--config", file).expect(t, 0, "file0.zip")
	floe(t, "", "smartattach", "list", "--account", "nobody@example.com", "--config", file).expectErr(t, 1, "no account nobody@example.com")

	floe(t, "", "smartattach", "revoke", ids[0], "--config", file).expect(t, 0, "Revoked download link "+ids[0])
	floe(t, "", "smartattach", "list", "--config", file).expect(t, 0, "No live download links")
	floe(t, "", "smartattach", "list", "--all", "--config", file).expect(t, 0, "revoked ")
	floe(t, "", "smartattach", "revoke", "99999", "--config", file).expectErr(t, 1, "no download link 99999")
	floe(t, "", "smartattach", "revoke", "x", "--config", file).expectErr(t, 2, "not a link ID")

	floe(t, "", "smartattach", "purge", "--config", file).expect(t, 0, "Deleted 1 files whose links all ended; forgot 2 expired or revoked download links.")
	floe(t, "", "smartattach", "list", "--all", "--config", file).expect(t, 0, "No download links.")
	st, err = sqlite.Open(ctx, dataDir, sqlite.Options{MaintenanceInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.File(ctx, mb.ID, "file1.zip"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("file1.zip after purge: %v", err)
	}
}
