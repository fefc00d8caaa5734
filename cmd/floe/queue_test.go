package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// floe queue list/show/retry/delete against entries put in the store.
func TestQueueCommands(t *testing.T) {
	file, dataDir := writeConfig(t, nil, "")
	initStore(t, dataDir)
	floe(t, "", "queue", "list", "--config", file).expect(t, 0, "The outbound queue is empty.")

	ctx := context.Background()
	st, err := sqlite.Open(ctx, dataDir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []storage.QueueID
	for i, attempts := range []int{0, 2} {
		ref, err := st.PutBlob(ctx, strings.NewReader("Subject: q\r\n\r\nbody "+string(rune('a'+i))+"\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		id, err := st.Enqueue(ctx, storage.QueueEntry{Blob: ref.ID, Size: ref.Size, From: "a@example.com",
			Created: time.Now().Add(-time.Hour), NextAttempt: time.Now().Add(time.Hour), Attempts: attempts,
			Recipients: []storage.QueueRecipient{{Address: "b@remote.test"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	st.Close()

	r := floe(t, "", "queue", "list", "--config", file)
	r.expect(t, 0, "2 messages queued, 1 deferred (tried at least once), oldest queued 1h")
	if !strings.Contains(r.stdout, "b@remote.test") && !strings.Contains(r.stdout, "a@example.com") {
		t.Fatalf("entries not listed:\n%s", r.stdout)
	}
	id := func(i int) string { return strconv.FormatInt(int64(ids[i]), 10) }
	floe(t, "", "queue", "show", id(0), "--config", file).expect(t, 0, "b@remote.test")
	floe(t, "", "queue", "retry", id(1), "--config", file).expect(t, 0, "")
	floe(t, "", "queue", "delete", id(0), "--config", file).expect(t, 0, "")
	floe(t, "", "queue", "list", "--config", file).expect(t, 0, "1 messages queued")
}
