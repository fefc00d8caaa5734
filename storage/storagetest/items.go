package storagetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// putItem stores a message carrying an item index with the given UID and
// times, into one target, and returns the outcome.
func putItem(t *testing.T, st storage.Store, tgt storage.Target, uid, summary string, start, end time.Time) storage.Delivered {
	t.Helper()
	raw, p := NewMessage(uid, "a@example.test", "a@example.test", summary)
	p.Item = &storage.ItemIndex{Kind: storage.ItemEvent, UID: uid, DefaultName: uid + ".ics", Summary: summary,
		Start: start, End: end, Status: "CONFIRMED", Names: []string{summary}}
	ref := must(st.PutBlob(ctxT(t), bytes.NewReader(raw)))(t)
	ds := must(st.Deliver(ctxT(t), ref, p, []storage.Target{tgt}))(t)
	return ds[0]
}

func itemNames(items []storage.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out
}

func eqNames(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %q, want %q", what, got, want)
	}
}

// testItems: the item index is stored with the message, queried by name,
// UID and time range; the newest message of a UID is the item; DAV writes
// keep names, replace atomically and refuse UID conflicts; copies carry
// the index; changes since a modseq report changed and removed names.
func testItems(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "items")
	created := must(st.EnsureGroupwareMailboxes(ctx, a.ID))(t)
	if len(created) != len(storage.GroupwareMailboxes) {
		t.Fatalf("created %v", created)
	}
	if again := must(st.EnsureGroupwareMailboxes(ctx, a.ID))(t); len(again) != 0 {
		t.Fatalf("created twice: %v", again)
	}
	types := must(st.FolderTypes(ctx, a.ID))(t)
	cal := mailbox(t, st, a.ID, "Calendar")
	if types[cal.ID] != storage.FolderTypeEvent || len(types) != len(storage.GroupwareMailboxes) {
		t.Fatalf("types %v", types)
	}
	md := must(st.GetMetadata(ctx, a.ID, cal.ID, []string{storage.FolderTypePrivateEntry}, 0))(t)
	if len(md) != 1 || string(md[0].Value) != "event.default" {
		t.Fatalf("private type %+v", md)
	}
	inbox := mailbox(t, st, a.ID, "INBOX")
	if _, ok := types[inbox.ID]; ok {
		t.Fatal("INBOX typed")
	}

	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tgt := storage.Target{Account: a.ID, Mailbox: cal.ID}
	d1 := putItem(t, st, tgt, "one", "first", day, day.Add(time.Hour))
	noErr(t, d1.Err)
	since := d1.ModSeq
	named := tgt
	named.ItemName = "chosen name.ics"
	d2 := putItem(t, st, named, "two", "second", day.Add(48*time.Hour), day.Add(49*time.Hour))
	noErr(t, d2.Err)

	items := must(st.Items(ctx, cal.ID, storage.ItemQuery{}))(t)
	eqNames(t, "all", itemNames(items), "chosen name.ics", "one.ics")
	if it := items[1]; it.UID != d1.UID || it.Index.Summary != "first" || !it.Index.Start.Equal(day) || it.Blob == "" || it.Index.Names[0] != "first" {
		t.Fatalf("item %+v", it)
	}
	withContent := must(st.Items(ctx, cal.ID, storage.ItemQuery{Names: []string{"one.ics"}, Content: true}))(t)
	eqNames(t, "by name", itemNames(withContent), "one.ics")
	if withContent[0].Structure == nil || len(withContent[0].Header) == 0 || items[0].Structure != nil {
		t.Fatalf("content: %+v / without: %+v", withContent[0], items[0])
	}
	eqNames(t, "by uid", itemNames(must(st.Items(ctx, cal.ID, storage.ItemQuery{UIDs: []string{"two"}}))(t)), "chosen name.ics")
	eqNames(t, "by time", itemNames(must(st.Items(ctx, cal.ID, storage.ItemQuery{Start: day, End: day.Add(2 * time.Hour)}))(t)), "one.ics")
	eqNames(t, "open end", itemNames(must(st.Items(ctx, cal.ID, storage.ItemQuery{Start: day.Add(24 * time.Hour)}))(t)), "chosen name.ics")

	// A new message of the same UID (an IMAP client's update) becomes the
	// item; the name stays.
	d3 := putItem(t, st, tgt, "two", "second v2", day, day.Add(time.Hour))
	noErr(t, d3.Err)
	items = must(st.Items(ctx, cal.ID, storage.ItemQuery{UIDs: []string{"two"}}))(t)
	if len(items) != 1 || items[0].UID != d3.UID || items[0].Name != "chosen name.ics" {
		t.Fatalf("after update %+v", items)
	}
	// DAV PUT of a new resource with an existing UID: conflict.
	conflict := tgt
	conflict.ItemName = "other.ics"
	wantErr(t, putItem(t, st, conflict, "one", "dup", day, day).Err, storage.ErrExists)
	// A DAV replacement names the current message; a stale one fails.
	stale := tgt
	stale.ItemName, stale.Replace = "chosen name.ics", d2.UID
	wantErr(t, putItem(t, st, stale, "two", "stale", day, day).Err, storage.ErrNoMessage)
	fresh := stale
	fresh.Replace = d3.UID
	d4 := putItem(t, st, fresh, "two", "second v3", day, day.Add(time.Hour))
	noErr(t, d4.Err)
	if uids := listUIDs(t, st, cal.ID); slices.Contains(uids, d3.UID) {
		t.Fatalf("replaced message still there: %v", uids)
	}

	// Changes since the first item: the second (changed); then an
	// expunge of every message of "one" removes its name.
	ch := must(st.ItemChangesSince(ctx, cal.ID, since))(t)
	eqNames(t, "changed", itemNames(ch.Changed), "chosen name.ics")
	if len(ch.Removed) != 0 {
		t.Fatalf("removed %v", ch.Removed)
	}
	since = ch.ModSeq
	must(st.Expunge(ctx, cal.ID, []storage.UID{d1.UID}))(t)
	ch = must(st.ItemChangesSince(ctx, cal.ID, since))(t)
	if len(ch.Changed) != 0 || !slices.Equal(ch.Removed, []string{"one.ics"}) || ch.ModSeq <= since {
		t.Fatalf("after expunge %+v", ch)
	}
	// Expunging the current message of "two" while an older duplicate
	// remains: the older becomes current, reported as changed.
	since = ch.ModSeq
	uids := listUIDs(t, st, cal.ID)
	must(st.Expunge(ctx, cal.ID, []storage.UID{d4.UID}))(t)
	ch = must(st.ItemChangesSince(ctx, cal.ID, since))(t)
	if len(ch.Removed) != 0 || len(ch.Changed) != 1 || ch.Changed[0].UID == d4.UID {
		t.Fatalf("duplicate current again %+v (uids %v)", ch, uids)
	}

	// An item whose default name another item holds still gets one.
	named2 := tgt
	named2.ItemName = "taken.ics"
	noErr(t, putItem(t, st, named2, "holder", "holds the name", day, day).Err)
	dTaken := putItem(t, st, tgt, "taken", "default name taken", day, day)
	noErr(t, dTaken.Err)
	got := must(st.Items(ctx, cal.ID, storage.ItemQuery{UIDs: []string{"taken"}}))(t)
	if len(got) != 1 || got[0].Name == "taken.ics" || got[0].Name == "" {
		t.Fatalf("item with a taken default name: %+v", got)
	}

	// A copy (IMAP COPY) carries the index and a name.
	other := must(st.CreateMailbox(ctx, a.ID, "Calendar/Other", ""))(t)
	must(st.Copy(ctx, cal.ID, nil, other.ID, 0))(t)
	eqNames(t, "copied", itemNames(must(st.Items(ctx, other.ID, storage.ItemQuery{}))(t)), "holder.ics", "taken.ics", "two.ics")

	// Mail is no item; a deleted folder's items go.
	deliver(t, st, a.ID, "Calendar", "plain mail", "hello")
	if n := len(must(st.Items(ctx, cal.ID, storage.ItemQuery{}))(t)); n != 3 {
		t.Fatalf("%d items", n)
	}
	noErr(t, st.DeleteMailbox(ctx, other.ID))
	_, err := st.Items(ctx, other.ID, storage.ItemQuery{})
	wantErr(t, err, storage.ErrNoMailbox)
	checkHealthy(t, st)
}

// testItemData: the payload kept in the index (ItemIndex.Data) comes back
// with ItemQuery.Data and only then; a payload above MaxItemData is not
// kept, and such an item comes with its structure instead; copies share
// it.
func testItemData(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "itemdata")
	must(st.EnsureGroupwareMailboxes(ctx, a.ID))(t)
	cal := mailbox(t, st, a.ID, "Calendar")
	put := func(uid string, data []byte) storage.Delivered {
		t.Helper()
		raw, p := NewMessage(uid, "a@example.test", "a@example.test", uid)
		p.Item = &storage.ItemIndex{Kind: storage.ItemEvent, UID: uid, DefaultName: uid + ".ics", Data: data}
		ref := must(st.PutBlob(ctx, bytes.NewReader(raw)))(t)
		ds := must(st.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID, Mailbox: cal.ID}}))(t)
		noErr(t, ds[0].Err)
		return ds[0]
	}
	small := []byte("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
	put("small", small)
	put("large", bytes.Repeat([]byte("x"), storage.MaxItemData+1))
	put("none", nil)

	plain := must(st.Items(ctx, cal.ID, storage.ItemQuery{}))(t)
	for _, it := range plain {
		if it.Index.Data != nil || it.Structure != nil {
			t.Fatalf("%s: data or structure without asking: %+v", it.Name, it)
		}
	}
	got := map[string]storage.Item{}
	for _, it := range must(st.Items(ctx, cal.ID, storage.ItemQuery{Data: true}))(t) {
		got[it.Index.UID] = it
	}
	if it := got["small"]; !bytes.Equal(it.Index.Data, small) || it.Structure != nil {
		t.Fatalf("small: data %q, structure %v", it.Index.Data, it.Structure)
	}
	for _, uid := range []string{"large", "none"} {
		if it := got[uid]; it.Index.Data != nil || it.Structure == nil || len(it.Header) == 0 {
			t.Fatalf("%s: data %d bytes, structure %v: want no data and the structure", uid, len(it.Index.Data), it.Structure)
		}
	}
	both := must(st.Items(ctx, cal.ID, storage.ItemQuery{Names: []string{"small.ics"}, Data: true, Content: true}))(t)
	if len(both) != 1 || !bytes.Equal(both[0].Index.Data, small) || both[0].Structure == nil {
		t.Fatalf("data and content: %+v", both)
	}
	// Floating times are flagged.
	raw, p := NewMessage("floating", "a@example.test", "a@example.test", "floating")
	p.Item = &storage.ItemIndex{Kind: storage.ItemEvent, UID: "floating", DefaultName: "floating.ics", Floating: true, AllDay: true,
		Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)}
	ref := must(st.PutBlob(ctx, bytes.NewReader(raw)))(t)
	noErr(t, must(st.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID, Mailbox: cal.ID}}))(t)[0].Err)
	for _, it := range must(st.Items(ctx, cal.ID, storage.ItemQuery{}))(t) {
		if it.Index.Floating != (it.Index.UID == "floating") || it.Index.AllDay != (it.Index.UID == "floating") {
			t.Fatalf("%s: Floating %v AllDay %v", it.Index.UID, it.Index.Floating, it.Index.AllDay)
		}
	}
	// A copy in another calendar shares the index and its payload.
	other := must(st.CreateMailbox(ctx, a.ID, "Other", ""))(t)
	noErr(t, st.SetMetadata(ctx, a.ID, other.ID, []storage.MetadataEntry{{Name: storage.FolderTypeEntry, Value: []byte(storage.FolderTypeEvent)}}))
	must(st.Copy(ctx, cal.ID, storage.UIDSet{{Start: 1, Stop: 0}}, other.ID, 0))(t)
	copied := must(st.Items(ctx, other.ID, storage.ItemQuery{Names: []string{"small.ics"}, Data: true}))(t)
	if len(copied) != 1 || !bytes.Equal(copied[0].Index.Data, small) {
		t.Fatalf("copy: %+v", copied)
	}
}

// testItemSpans: a time-range query follows the item's current message
// through every change: a newer message of the UID (an IMAP client's
// update) moves the item, expunging it moves it back, a replacement over
// DAV moves it again; an item with no time is in every range.
func testItemSpans(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "itemspans")
	must(st.EnsureGroupwareMailboxes(ctx, a.ID))(t)
	cal := mailbox(t, st, a.ID, "Calendar")
	tgt := storage.Target{Account: a.ID, Mailbox: cal.ID}
	day := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	in := func(d time.Time) []string {
		return itemNames(must(st.Items(ctx, cal.ID, storage.ItemQuery{Start: d, End: d.Add(24 * time.Hour)}))(t))
	}
	first := putItem(t, st, tgt, "mover", "v1", day, day.Add(time.Hour))
	noErr(t, first.Err)
	// No time at all (a task without dates): in every range.
	raw, p := NewMessage("undated", "a@example.test", "a@example.test", "undated")
	p.Item = &storage.ItemIndex{Kind: storage.ItemTodo, UID: "undated", DefaultName: "undated.ics"}
	ref := must(st.PutBlob(ctx, bytes.NewReader(raw)))(t)
	noErr(t, must(st.Deliver(ctx, ref, p, []storage.Target{tgt}))(t)[0].Err)

	eqNames(t, "day 1", in(day), "mover.ics", "undated.ics")
	eqNames(t, "day 5", in(day.Add(96*time.Hour)), "undated.ics")
	second := putItem(t, st, tgt, "mover", "v2", day.Add(96*time.Hour), day.Add(97*time.Hour))
	noErr(t, second.Err)
	eqNames(t, "day 1 after the update", in(day), "undated.ics")
	eqNames(t, "day 5 after the update", in(day.Add(96*time.Hour)), "mover.ics", "undated.ics")
	must(st.Expunge(ctx, cal.ID, []storage.UID{second.UID}))(t)
	eqNames(t, "day 1 after the expunge", in(day), "mover.ics", "undated.ics")
	eqNames(t, "day 5 after the expunge", in(day.Add(96*time.Hour)), "undated.ics")
	repl := tgt
	repl.ItemName, repl.Replace = "mover.ics", first.UID
	noErr(t, putItem(t, st, repl, "mover", "v3", day.Add(48*time.Hour), day.Add(49*time.Hour)).Err)
	eqNames(t, "day 1 after the replacement", in(day), "undated.ics")
	eqNames(t, "day 3 after the replacement", in(day.Add(48*time.Hour)), "mover.ics", "undated.ics")
	// Open ranges.
	eqNames(t, "from day 3 on", itemNames(must(st.Items(ctx, cal.ID, storage.ItemQuery{Start: day.Add(48 * time.Hour)}))(t)), "mover.ics", "undated.ics")
	eqNames(t, "until day 2", itemNames(must(st.Items(ctx, cal.ID, storage.ItemQuery{End: day.Add(24 * time.Hour)}))(t)), "undated.ics")
}
