package storagetest

import (
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// testQueue checks the outbound queue: Enqueue/QueueEntry round trip, due
// selection, updates, reschedule, delete, and that a queue entry keeps its
// blob alive independently of the messages sharing the content.
func testQueue(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	acct := newAccount(t, st, "q")
	ref, p := put(t, st, "queued", "to the world")

	now := time.Now().Truncate(time.Millisecond)
	e := storage.QueueEntry{
		Blob: ref.ID, Size: ref.Size, From: "q@example.test", EnvID: "env-1", Ret: "HDRS", UTF8: true,
		Account: acct.ID, NextAttempt: now,
		Recipients: []storage.QueueRecipient{
			{Address: "a@remote.test", ORcpt: "rfc822;a@remote.test", Notify: "FAILURE,DELAY"},
			{Address: "b@other.test", Notify: "NEVER"},
		},
	}
	id := must(st.Enqueue(ctx, e))(t)
	if id == 0 {
		t.Fatal("Enqueue returned id 0")
	}
	got := must(st.QueueEntry(ctx, id))(t)
	if got.ID != id || got.Blob != ref.ID || got.Size != ref.Size || got.From != e.From || got.EnvID != "env-1" ||
		got.Ret != "HDRS" || !got.UTF8 || got.Account != acct.ID || !got.NextAttempt.Equal(now) || got.Created.IsZero() ||
		got.Attempts != 0 || got.DelayNotified || len(got.Recipients) != 2 {
		t.Fatalf("QueueEntry = %+v", got)
	}
	r0 := got.Recipients[0]
	if r0.Address != "a@remote.test" || r0.ORcpt != "rfc822;a@remote.test" || r0.Notify != "FAILURE,DELAY" || r0.Status != storage.RcptPending {
		t.Fatalf("recipient 0 = %+v", r0)
	}

	// A second entry due later.
	later := must(st.Enqueue(ctx, storage.QueueEntry{Blob: ref.ID, Size: ref.Size, NextAttempt: now.Add(time.Hour),
		Recipients: []storage.QueueRecipient{{Address: "c@remote.test"}}}))(t)
	due := must(st.DueQueueEntries(ctx, now, 10))(t)
	if len(due) != 1 || due[0].ID != id {
		t.Fatalf("due at now: %+v", due)
	}
	if all := must(st.QueueEntries(ctx))(t); len(all) != 2 || all[0].ID != id || all[1].ID != later {
		t.Fatalf("QueueEntries: %+v", all)
	}

	// Update the state.
	got.Attempts = 3
	got.NextAttempt = now.Add(2 * time.Hour)
	got.LastError = "451 try later"
	got.DelayNotified = true
	got.Recipients[0].Status = storage.RcptDelivered
	got.Recipients[1].Status = storage.RcptFailed
	got.Recipients[1].Error = "550 no such user"
	got.Recipients[1].RemoteReply = "5.1.1 no such user"
	got.Recipients[1].RemoteMTA = "mx.other.test"
	noErr(t, st.UpdateQueueEntry(ctx, got))
	upd := must(st.QueueEntry(ctx, id))(t)
	if upd.Attempts != 3 || !upd.NextAttempt.Equal(now.Add(2*time.Hour)) || upd.LastError != "451 try later" || !upd.DelayNotified ||
		upd.Recipients[0].Status != storage.RcptDelivered || upd.Recipients[1] != got.Recipients[1] {
		t.Fatalf("after update: %+v", upd)
	}
	if due := must(st.DueQueueEntries(ctx, now, 10))(t); len(due) != 0 {
		t.Fatalf("due after postponing: %+v", due)
	}
	bad := upd
	bad.Recipients = []storage.QueueRecipient{{Address: "x@y.test", Status: "bogus"}}
	wantErr(t, st.UpdateQueueEntry(ctx, bad), storage.ErrInvalid)

	// Reschedule one, then all.
	noErr(t, st.RescheduleQueue(ctx, later, now))
	if due := must(st.DueQueueEntries(ctx, now, 10))(t); len(due) != 1 || due[0].ID != later {
		t.Fatalf("due after retry: %+v", due)
	}
	noErr(t, st.RescheduleQueue(ctx, 0, now))
	if due := must(st.DueQueueEntries(ctx, now, 10))(t); len(due) != 2 {
		t.Fatalf("due after flush: %+v", due)
	}
	if due := must(st.DueQueueEntries(ctx, now, 1))(t); len(due) != 1 {
		t.Fatalf("limit 1: %+v", due)
	}
	wantErr(t, st.RescheduleQueue(ctx, 999999, now), storage.ErrNotFound)

	// Errors.
	_, err := st.Enqueue(ctx, storage.QueueEntry{Blob: ref.ID, Size: ref.Size})
	wantErr(t, err, storage.ErrInvalid)
	_, err = st.Enqueue(ctx, storage.QueueEntry{Blob: ref.ID, Size: ref.Size + 1, Recipients: []storage.QueueRecipient{{Address: "x@y.test"}}})
	wantErr(t, err, storage.ErrInvalid)
	_, err = st.QueueEntry(ctx, 999999)
	wantErr(t, err, storage.ErrNotFound)
	missing := upd
	missing.ID = 999999
	wantErr(t, st.UpdateQueueEntry(ctx, missing), storage.ErrNotFound)
	wantErr(t, st.DeleteQueueEntry(ctx, 999999), storage.ErrNotFound)
	checkHealthy(t, st)

	// The blob lives while a message or an entry refers to it: deliver a
	// copy, expunge it (the entries keep the file), delete the entries
	// (the last one removes it).
	ds := must(st.Deliver(ctx, ref, p, []storage.Target{{Account: acct.ID}}))(t)
	noErr(t, ds[0].Err)
	must(st.Expunge(ctx, ds[0].Mailbox, []storage.UID{ds[0].UID}))(t)
	readBlob(t, st, ref.ID)
	checkHealthy(t, st)
	noErr(t, st.DeleteQueueEntry(ctx, id))
	readBlob(t, st, ref.ID)
	noErr(t, st.DeleteQueueEntry(ctx, later))
	_, err = st.OpenBlob(ctx, ref.ID)
	wantErr(t, err, storage.ErrNotFound)
	if all := must(st.QueueEntries(ctx))(t); len(all) != 0 {
		t.Fatalf("entries left: %+v", all)
	}

	// An entry whose content is also a message: deleting the entry keeps
	// the message's blob.
	ref2, p2 := put(t, st, "both", "local and remote")
	id2 := must(st.Enqueue(ctx, storage.QueueEntry{Blob: ref2.ID, Size: ref2.Size, Recipients: []storage.QueueRecipient{{Address: "d@remote.test"}}}))(t)
	ds = must(st.Deliver(ctx, ref2, p2, []storage.Target{{Account: acct.ID}}))(t)
	noErr(t, ds[0].Err)
	noErr(t, st.DeleteQueueEntry(ctx, id2))
	readBlob(t, st, ref2.ID)
	checkHealthy(t, st)
}
