package imap

import (
	"context"
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/floemail/floe/storage"
)

func TestQuota(t *testing.T) {
	env := newMbxEnv(t)
	ctx := context.Background()
	env.deliverTo(t, env.bob.ID, "INBOX", "one")
	u, err := env.store.Usage(ctx, env.bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	kib := (u.Bytes + 1023) / 1024

	admin := env.raw(t, "alice@example.test")
	bob := env.raw(t, "bob@example.test")

	// No limits: the account's root all the same, with its usage and the
	// largest number64 as limit (docs/imap.md: one root per account).
	unl := fmt.Sprintf(`* QUOTA "" (STORAGE %d 9223372036854775807 MESSAGE 1 9223372036854775807)`, kib)
	bob.want("q1 GETQUOTAROOT INBOX", "OK", `* QUOTAROOT "INBOX" ""`, unl)
	bob.want(`q2 GETQUOTA ""`, "OK", unl)

	// Only administrators set quotas (RFC 9208 4.1.3).
	bob.want(`q3 SETQUOTA "" (STORAGE 100)`, "NO [NOPERM]")
	admin.want(`q4 SETQUOTA "bob@example.test" (STORAGE 100 MESSAGE 10)`, "OK",
		fmt.Sprintf(`* QUOTA "bob@example.test" (STORAGE %d 100 MESSAGE 1 10)`, kib))
	admin.want(`q5 SETQUOTA "bob@example.test" (FOO 1)`, "NO")
	admin.want(`q6 SETQUOTA "nobody@example.test" (STORAGE 1)`, "NO [NONEXISTENT]")
	admin.want(`q7 SETQUOTA "" (STORAGE 5)`, "OK", `* QUOTA "" (STORAGE 0 5 MESSAGE 0 9223372036854775807)`)

	bob.want("q8 GETQUOTAROOT inbox", "OK",
		`* QUOTAROOT "INBOX" ""`,
		fmt.Sprintf(`* QUOTA "" (STORAGE %d 100 MESSAGE 1 10)`, kib))
	bob.want(`q9 GETQUOTA ""`, "OK", fmt.Sprintf(`* QUOTA "" (STORAGE %d 100 MESSAGE 1 10)`, kib))
	bob.want(`q10 GETQUOTA "alice@example.test"`, "NO [NONEXISTENT]")
	bob.want("q11 GETQUOTAROOT nosuch", "NO [NONEXISTENT]")
	a, err := env.store.AccountByID(ctx, env.bob.ID)
	if err != nil || a.QuotaBytes != 100*1024 || a.QuotaMessages != 10 {
		t.Fatalf("stored quota %+v %v", a, err)
	}

	// Resources left out become unlimited.
	admin.want(`q12 SETQUOTA "bob@example.test" (MESSAGE 20)`, "OK",
		fmt.Sprintf(`* QUOTA "bob@example.test" (STORAGE %d 9223372036854775807 MESSAGE 1 20)`, kib))
	// Accounts of the config file keep the config's limits.
	a, err = env.store.AccountByID(ctx, env.bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.Source = storage.SourceConfig
	if err := env.store.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	admin.want(`q13 SETQUOTA "bob@example.test" (STORAGE 1)`, "NO [CANNOT]")

	// go-imap client.
	cl := env.client(t, "bob@example.test")
	qs, err := cl.GetQuotaRoot("INBOX").Wait()
	if err != nil || len(qs) != 1 || qs[0].Root != "" || qs[0].Resources[imap.QuotaResourceMessage] != (imapclient.QuotaResourceData{Usage: 1, Limit: 20}) {
		t.Errorf("GetQuotaRoot %+v %v", qs, err)
	}
	if err := cl.SetQuota("", map[imap.QuotaResourceType]int64{imap.QuotaResourceStorage: 1}).Wait(); err == nil {
		t.Error("non-admin SetQuota succeeded")
	}
	acl := env.client(t, "alice@example.test")
	if err := acl.SetQuota("", map[imap.QuotaResourceType]int64{imap.QuotaResourceStorage: 7}).Wait(); err != nil {
		t.Fatal(err)
	}
	q, err := acl.GetQuota("").Wait()
	if err != nil || q.Resources[imap.QuotaResourceStorage].Limit != 7 {
		t.Errorf("GetQuota %+v %v", q, err)
	}
}
