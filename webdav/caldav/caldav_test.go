package caldav

import (
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/davxml"
)

func at(h int) time.Time { return time.Date(2026, 3, 2, h, 0, 0, 0, time.UTC) }

func TestFreeBusyMerge(t *testing.T) {
	t.Parallel()
	ins := []item.Instance{
		{Start: at(9), End: at(10)},
		{Start: at(10), End: at(11)},                      // touches: merged
		{Start: at(12), End: at(13), Status: "TENTATIVE"}, // tentative
		{Start: at(14), End: at(15), Transparent: true},   // skipped
		{Start: at(16), End: at(17), Status: "CANCELLED"}, // skipped
		{Start: at(20), End: at(26)},                      // clipped at the range end
	}
	got := FreeBusy(ins, Range{Start: at(0), End: at(22)})
	want := []Busy{{at(9), at(11), "BUSY"}, {at(12), at(13), "BUSY-TENTATIVE"}, {at(20), at(22), "BUSY"}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) || got[i].Type != want[i].Type {
			t.Fatalf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	cal := string(FreeBusyCalendar(got, Range{Start: at(0), End: at(22)}, "jane@example.test", at(0)))
	if !strings.Contains(cal, "FREEBUSY;FBTYPE=BUSY:20260302T090000Z/20260302T110000Z\r\n") || !strings.Contains(cal, "ORGANIZER:mailto:jane@example.test") {
		t.Fatal(cal)
	}
}

// TestTimeRangeRules: RFC 4791 9.9 per component kind.
func TestTimeRangeRules(t *testing.T) {
	t.Parallel()
	r := Range{Start: at(10), End: at(12)}
	tests := []struct {
		name string
		idx  storage.ItemIndex
		want bool
	}{
		{"event inside", storage.ItemIndex{Kind: storage.ItemEvent, Start: at(10), End: at(11)}, true},
		{"event ends at start", storage.ItemIndex{Kind: storage.ItemEvent, Start: at(9), End: at(10)}, false},
		{"event starts at end", storage.ItemIndex{Kind: storage.ItemEvent, Start: at(12), End: at(13)}, false},
		{"zero-length at start", storage.ItemIndex{Kind: storage.ItemEvent, Start: at(10), End: at(10)}, true},
		{"zero-length at end", storage.ItemIndex{Kind: storage.ItemEvent, Start: at(12), End: at(12)}, false},
		{"todo without dates", storage.ItemIndex{Kind: storage.ItemTodo}, true},
		{"todo due at end", storage.ItemIndex{Kind: storage.ItemTodo, Start: at(12), End: at(12)}, true},
		{"journal without date", storage.ItemIndex{Kind: storage.ItemJournal}, false},
	}
	for _, tc := range tests {
		got, err := MatchIndex(&tc.idx, r)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v", tc.name, got, err)
		}
	}
	if _, err := ParseRange(&davxml.TimeRange{Start: "20260302T120000Z", End: "20260302T100000Z"}); err == nil {
		t.Fatal("backwards range accepted")
	}
	if _, err := ParseRange(&davxml.TimeRange{}); err == nil {
		t.Fatal("empty range accepted")
	}
}

// FuzzTimeRange: recurrence evaluation over any rule and range neither
// panics nor runs past the bounds.
func FuzzTimeRange(f *testing.F) {
	f.Add("FREQ=WEEKLY;BYDAY=MO", "20260101T000000Z", "20260201T000000Z")
	f.Add("FREQ=SECONDLY", "20260101T000000Z", "")
	f.Add("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "", "20300101T000000Z")
	f.Fuzz(func(t *testing.T, rule, start, end string) {
		r, err := ParseRange(&davxml.TimeRange{Start: start, End: end})
		if err != nil {
			return
		}
		rec := `{"s":"20200105T100000","d":3600,"r":` + quote(rule) + `}`
		idx := storage.ItemIndex{Kind: storage.ItemEvent, Recurring: true, Recurrence: []byte(rec)}
		ins, _, err := Instances(&idx, r)
		if err == nil && len(ins) > item.MaxInstances {
			t.Fatalf("%d instances", len(ins))
		}
	})
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		if c == '"' || c == '\\' || c < 0x20 {
			continue
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}
