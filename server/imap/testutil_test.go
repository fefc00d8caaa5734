package imap

import (
	"context"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

type (
	storageUIDRange = storage.UIDRange
	storageUID      = storage.UID
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func flagUpdate(set []storage.UIDRange, flag string) storage.FlagUpdate {
	return storage.FlagUpdate{UIDs: storage.UIDSet(set), Op: storage.FlagsAdd, Flags: []string{flag}}
}

func inbox(t *testing.T, env *testEnv) storage.Mailbox {
	t.Helper()
	mb, err := env.store.Mailbox(t.Context(), env.accts[testUser].ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func markSeen(t *testing.T, env *testEnv, uid int) {
	t.Helper()
	set := []storage.UIDRange{{Start: storage.UID(uid), Stop: storage.UID(uid)}}
	if _, err := env.store.StoreFlags(t.Context(), inbox(t, env).ID, flagUpdate(set, storage.FlagSeen)); err != nil {
		t.Fatal(err)
	}
}

func expungeUIDs(t *testing.T, env *testEnv, uids ...int) {
	t.Helper()
	var us []storage.UID
	for _, u := range uids {
		us = append(us, storage.UID(u))
	}
	if _, err := env.store.Expunge(t.Context(), inbox(t, env).ID, us); err != nil {
		t.Fatal(err)
	}
}
