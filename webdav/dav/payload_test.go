package dav

import (
	"bytes"
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/item"
)

// TestPayloadFromIndexAndMessage: a small item's calendar-data comes from
// the index, a large one's (not kept in the index) from its message; GET
// and calendar-multiget return both byte for byte.
func TestPayloadFromIndexAndMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if _, err := e.st.EnsureGroupwareMailboxes(ctx, e.jane.ID); err != nil {
		t.Fatal(err)
	}
	cal, err := e.st.Mailbox(ctx, e.jane.ID, "Calendar")
	if err != nil {
		t.Fatal(err)
	}
	small := event("small", "Small", "20260302T100000Z", "20260302T110000Z", "")
	large := event("large", "Large", "20260303T100000Z", "20260303T110000Z", "DESCRIPTION:"+strings.Repeat("x", storage.MaxItemData)+"\n")
	for _, data := range []string{small, large} {
		idx, err := item.ParseCalendar([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		msg := item.Compose(idx, []byte(data), item.MessageOptions{FolderType: "event", From: e.jane.Address})
		if _, _, err := ingest.Put(ctx, e.st, bytes.NewReader(msg), storage.Target{Account: e.jane.ID, Mailbox: cal.ID}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := e.st.Items(ctx, cal.ID, storage.ItemQuery{Data: true})
	if err != nil || len(items) != 2 {
		t.Fatal(items, err)
	}
	for _, it := range items {
		if kept := it.Index.Data != nil; kept != (it.Index.UID == "small") {
			t.Fatalf("%s: payload kept in the index: %v", it.Index.UID, kept)
		}
	}
	base := "/dav/calendars/jane@example.test/Calendar/"
	for name, want := range map[string]string{"small.ics": small, "large.ics": large} {
		resp, body := e.do(t, "jane@example.test", "GET", base+name, nil, "")
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("GET %s: %d, %d bytes (want %d)", name, resp.StatusCode, len(body), len(want))
		}
	}
	resp, body := e.do(t, "jane@example.test", "REPORT", base, map[string]string{"Depth": "1"},
		`<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>`+
			`<D:href>`+base+`small.ics</D:href><D:href>`+base+`large.ics</D:href></C:calendar-multiget>`)
	if resp.StatusCode != 207 || strings.Count(body, "<C:calendar-data>") != 2 || !strings.Contains(body, "SUMMARY:Small") ||
		!strings.Contains(body, "SUMMARY:Large") || !strings.Contains(body, strings.Repeat("x", 1000)) {
		t.Fatalf("multiget: %d %.400s", resp.StatusCode, body)
	}
}
