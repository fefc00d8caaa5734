package view_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// TestAppendAll: several messages into a folder shared with the viewer,
// in one transaction: "i" is needed, flags the viewer may not set are
// dropped and its \Seen is its own, the owner's quota counts them
// together, and a refusal stores none.
func TestAppendAll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	jane := e.account("jane@example.test")
	john := e.account("john@example.test")
	box := e.mailbox(jane, "Inbox-shared")
	jv := e.view(john)

	// Without "i": refused, nothing stored, both blobs gone.
	e.grant(jane, box.ID, "john@example.test", "lr")
	jv.Refresh()
	f, err := jv.Lookup(ctx, "~jane@example.test/Inbox-shared")
	if err != nil {
		t.Fatal(err)
	}
	a, b := spool(t, e, "one"), spool(t, e, "two")
	_, err = jv.AppendAll(ctx, f.ID(), []view.AppendMessage{{Ref: a}, {Ref: b}})
	wantErr(t, "append all without i", err, storage.ErrPermission)

	// With "lrsi": \Seen is John's own, \Flagged (needs "w") dropped.
	e.grant(jane, box.ID, "john@example.test", "lrsi")
	jv.Refresh()
	a, b = spool(t, e, "one"), spool(t, e, "two")
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	out, err := jv.AppendAll(ctx, f.ID(), []view.AppendMessage{
		{Ref: a, Flags: []string{storage.FlagSeen, storage.FlagFlagged}, Date: date},
		{Ref: b},
	})
	if err != nil || len(out) != 2 || out[0].UID+1 != out[1].UID {
		t.Fatalf("AppendAll = %+v, %v", out, err)
	}
	mine, err := jv.Messages(ctx, f.ID(), storage.Query{})
	if err != nil || len(mine) != 2 || !slices.Equal(mine[0].Flags, []string{storage.FlagSeen}) || !mine[0].InternalDate.Equal(date) {
		t.Fatalf("as John sees them: %+v %v", mine, err)
	}
	owners, _ := e.st.Messages(ctx, box.ID, storage.Query{})
	if len(owners[0].Flags) != 0 {
		t.Fatalf("Jane sees John's \\Seen: %v", owners[0].Flags)
	}

	// Jane's quota takes one more message: two are refused together.
	u, _ := e.st.Usage(ctx, jane.ID)
	jane.QuotaMessages = u.Messages + 1
	if err := e.st.UpdateAccount(ctx, jane); err != nil {
		t.Fatal(err)
	}
	a, b = spool(t, e, "three"), spool(t, e, "four")
	_, err = jv.AppendAll(ctx, f.ID(), []view.AppendMessage{{Ref: a}, {Ref: b}})
	var de *storage.DeliveryError
	if !errors.Is(err, storage.ErrOverQuota) || !errors.As(err, &de) || de.Delivery != 1 {
		t.Fatalf("over quota: %v", err)
	}
	if n, _ := e.st.Messages(ctx, box.ID, storage.Query{}); len(n) != 2 {
		t.Fatalf("%d messages after a refused AppendAll, want 2", len(n))
	}
}
