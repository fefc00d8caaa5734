package acl

import (
	"errors"
	"slices"
	"testing"
)

func TestParseString(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"", "", false},
		{"lrswipkxtea", "lrswipkxtea", false},
		{"aetxkpiwsrl", "lrswipkxtea", false},
		{"lrr", "lr", false},
		{"c", "k", false},
		{"d", "xte", false},
		{"lr0", "lr", false},
		{"L", "", true},
		{"lr z", "", true},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("Parse(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && got.String() != tc.want {
			t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if All.String() != "lrswipkxtea" {
		t.Errorf("All = %q", All)
	}
}

func TestHas(t *testing.T) {
	rs := Of(Lookup, Read)
	if !rs.Has(Of(Read)) || !rs.Has(Of(Lookup, Read)) || rs.Has(Of(Read, Insert)) || !rs.Has(0) {
		t.Errorf("Has on %q wrong", rs)
	}
	if !rs.Any(Of(Read, Insert)) || rs.Any(Of(Insert)) {
		t.Errorf("Any on %q wrong", rs)
	}
}

func TestParseIdentifier(t *testing.T) {
	tests := []struct {
		in, dflt string
		want     Identifier
		kind     Kind
	}{
		{"anyone", "", Anyone, KindAnyone},
		{" ANYONE ", "", Anyone, KindAnyone},
		{"Authenticated", "", Authenticated, KindAuthenticated},
		{"Bob@Example.TEST", "", "bob@example.test", KindAddress},
		{"team@example.test", "", "team@example.test", KindAddress},
		{"bob+x@example.test", "", "bob+x@example.test", KindAddress},
		{"example.test", "", "@example.test", KindDomain},
		{"@Example.Test", "", "@example.test", KindDomain},
		{"bob", "example.test", "bob@example.test", KindAddress},
		{"bob", "", "", KindInvalid},
		{"", "", "", KindInvalid},
		{"-bob@example.test", "", "", KindInvalid},
		{"bob@", "", "", KindInvalid},
		{"@", "", "", KindInvalid},
		{"a@b@example.test", "", "", KindInvalid},
		{"bob@exa mple.test", "", "", KindInvalid},
		{"bob/x@example.test", "", "", KindInvalid},
		{"bob@example..test", "", "", KindInvalid},
		{"bob@-example.test", "", "", KindInvalid},
		{"b*b@example.test", "", "", KindInvalid},
		{"bob\x00@example.test", "", "", KindInvalid},
		{"\xff@example.test", "", "", KindInvalid},
	}
	for _, tc := range tests {
		got, err := ParseIdentifier(tc.in, tc.dflt)
		if tc.kind == KindInvalid {
			if err == nil || !errors.Is(err, ErrIdentifier) {
				t.Errorf("ParseIdentifier(%q) = %q, %v; want ErrIdentifier", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want || got.Kind() != tc.kind {
			t.Errorf("ParseIdentifier(%q, %q) = %q (kind %d), %v; want %q (kind %d)", tc.in, tc.dflt, got, got.Kind(), err, tc.want, tc.kind)
		}
	}
	if d := Identifier("bob@example.test").Domain(); d != "example.test" {
		t.Errorf("Domain = %q", d)
	}
	if d := Identifier("@example.test").Domain(); d != "example.test" {
		t.Errorf("Domain = %q", d)
	}
	if !Identifier("bob@example.test").IsPerson() || Identifier("@example.test").IsPerson() || Anyone.IsPerson() || Authenticated.IsPerson() {
		t.Error("IsPerson wrong")
	}
}

func TestParseEntryName(t *testing.T) {
	id, neg, err := ParseEntryName("-Bob@Example.test", "")
	if err != nil || !neg || id != "bob@example.test" {
		t.Errorf("got %q %v %v", id, neg, err)
	}
	id, neg, err = ParseEntryName("anyone", "")
	if err != nil || neg || id != Anyone {
		t.Errorf("got %q %v %v", id, neg, err)
	}
	if _, _, err := ParseEntryName("--bob@example.test", ""); err == nil {
		t.Error("double minus accepted")
	}
	e := Entry{Identifier: "bob@example.test", Negative: true, Rights: Of(Write)}
	if e.Name() != "-bob@example.test" || e.String() != "-bob@example.test w" {
		t.Errorf("entry text %q %q", e.Name(), e)
	}
}

func TestEvaluate(t *testing.T) {
	jane := Principal{Address: "jane@example.test", Groups: []string{"team@example.test"}}
	other := Principal{Address: "joe@other.test"}
	anon := Principal{}
	lrs := Of(Lookup, Read, Seen)
	tests := []struct {
		name    string
		entries []Entry
		p       Principal
		want    Rights
	}{
		{"empty", nil, jane, 0},
		{"address", []Entry{{Identifier: "jane@example.test", Rights: lrs}}, jane, lrs},
		{"other address", []Entry{{Identifier: "john@example.test", Rights: lrs}}, jane, 0},
		{"group", []Entry{{Identifier: "team@example.test", Rights: Of(Insert)}}, jane, Of(Insert)},
		{"group not member", []Entry{{Identifier: "team@example.test", Rights: Of(Insert)}}, other, 0},
		{"domain", []Entry{{Identifier: "@example.test", Rights: Of(Lookup)}}, jane, Of(Lookup)},
		{"other domain", []Entry{{Identifier: "@example.test", Rights: Of(Lookup)}}, other, 0},
		{"authenticated", []Entry{{Identifier: Authenticated, Rights: Of(Lookup)}}, other, Of(Lookup)},
		{"authenticated anon", []Entry{{Identifier: Authenticated, Rights: Of(Lookup)}}, anon, 0},
		{"anyone anon", []Entry{{Identifier: Anyone, Rights: Of(Lookup)}}, anon, Of(Lookup)},
		{"union", []Entry{
			{Identifier: Anyone, Rights: Of(Lookup)},
			{Identifier: "team@example.test", Rights: Of(Read)},
			{Identifier: "jane@example.test", Rights: Of(Write)},
		}, jane, Of(Lookup, Read, Write)},
		{"negative wins", []Entry{
			{Identifier: "@example.test", Rights: All},
			{Identifier: "jane@example.test", Negative: true, Rights: Of(Write, Administer)},
		}, jane, All &^ Of(Write, Administer)},
		{"negative via group", []Entry{
			{Identifier: "jane@example.test", Rights: lrs},
			{Identifier: "team@example.test", Negative: true, Rights: Of(Read)},
		}, jane, Of(Lookup, Seen)},
		{"negative for someone else", []Entry{
			{Identifier: Anyone, Rights: lrs},
			{Identifier: "john@example.test", Negative: true, Rights: lrs},
		}, jane, lrs},
		{"negative anyone", []Entry{
			{Identifier: "jane@example.test", Rights: lrs},
			{Identifier: Anyone, Negative: true, Rights: Of(Seen)},
		}, jane, Of(Lookup, Read)},
	}
	for _, tc := range tests {
		if got := Evaluate(tc.entries, tc.p); got != tc.want {
			t.Errorf("%s: Evaluate = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestIdentifiers(t *testing.T) {
	p := Principal{Address: "jane@example.test", Groups: []string{"team@example.test"}}
	got := p.Identifiers()
	want := []Identifier{"jane@example.test", "team@example.test", "@example.test", Authenticated, Anyone}
	if !slices.Equal(got, want) {
		t.Errorf("Identifiers = %q, want %q", got, want)
	}
	for _, id := range got {
		if !p.Matches(id) {
			t.Errorf("%q does not match its own identifier %q", p.Address, id)
		}
	}
	if got := (Principal{}).Identifiers(); !slices.Equal(got, []Identifier{Anyone}) {
		t.Errorf("anonymous Identifiers = %q", got)
	}
}

func TestApply(t *testing.T) {
	var acl []Entry
	acl = Apply(acl, Change{Identifier: "john@example.test", Op: OpSet, Rights: Of(Lookup, Read)})
	acl = Apply(acl, Change{Identifier: "anyone", Op: OpAdd, Rights: Of(Lookup)})
	acl = Apply(acl, Change{Identifier: "john@example.test", Op: OpAdd, Rights: Of(Insert)})
	acl = Apply(acl, Change{Identifier: "john@example.test", Negative: true, Op: OpSet, Rights: Of(Seen)})
	want := "anyone l|john@example.test lri|-john@example.test s"
	if got := entriesText(acl); got != want {
		t.Fatalf("after adds: %q, want %q", got, want)
	}
	in := slices.Clone(acl)
	acl = Apply(acl, Change{Identifier: "john@example.test", Op: OpRemove, Rights: Of(Lookup, Read, Insert)})
	if got := entriesText(acl); got != "anyone l|-john@example.test s" {
		t.Fatalf("entry emptied by remove stays: %q", got)
	}
	if entriesText(in) != want {
		t.Fatal("Apply modified its input")
	}
	acl = Apply(acl, Change{Identifier: "john@example.test", Negative: true, Op: OpDelete})
	acl = Apply(acl, Change{Identifier: "anyone", Op: OpSet, Rights: 0})
	if len(acl) != 0 {
		t.Fatalf("not empty: %q", entriesText(acl))
	}
}

func entriesText(es []Entry) string {
	var s string
	for i, e := range es {
		if i > 0 {
			s += "|"
		}
		s += e.String()
	}
	return s
}

func TestParseModifiedRights(t *testing.T) {
	tests := []struct {
		in   string
		op   Op
		want Rights
		err  bool
	}{
		{"lr", OpSet, Of(Lookup, Read), false},
		{"+w", OpAdd, Of(Write), false},
		{"-te", OpRemove, Of(DeleteMessages, Expunge), false},
		{"", OpSet, 0, false},
		{"+", OpAdd, 0, false},
		{"+-l", 0, 0, true},
		{"lrq", 0, 0, true},
	}
	for _, tc := range tests {
		op, r, err := ParseModifiedRights(tc.in)
		if (err != nil) != tc.err || (!tc.err && (op != tc.op || r != tc.want)) {
			t.Errorf("ParseModifiedRights(%q) = %d %q %v", tc.in, op, r, err)
		}
	}
}

func TestParseSpecDescribe(t *testing.T) {
	tests := []struct {
		in       string
		want     string // letters
		describe string
	}{
		{"none", "", "None"},
		{"Read", "lrs", "Read"},
		{"write", "ik", "Write"},
		{"modify", "w", "Modify"},
		{"delete", "xte", "Delete"},
		{"administer", "a", "Administer"},
		{"all", "lrswipkxte", "All"},
		{"FULL", "lrswipkxtea", "Full"},
		{"read+write", "lrsik", "Read, Write"},
		{"read, modify,delete", "lrswxte", "Read, Modify, Delete"},
		{"lrs", "lrs", "Read"},
		{"lr", "lr", "Custom (lr)"},
		{"lrsp", "lrsp", "Custom (lrsp)"},
		{"lrswikxtea", "lrswikxtea", "Read, Write, Modify, Delete, Administer"},
	}
	for _, tc := range tests {
		r, err := ParseSpec(tc.in)
		if err != nil || r.String() != tc.want {
			t.Errorf("ParseSpec(%q) = %q, %v; want %q", tc.in, r, err, tc.want)
			continue
		}
		if d := Describe(r); d != tc.describe {
			t.Errorf("Describe(%q) = %q, want %q", r, d, tc.describe)
		}
	}
	for _, bad := range []string{"custom", "read+lr", "reading", "q"} {
		if r, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) = %q, want error", bad, r)
		}
	}
	if w := Words(Of(Lookup, Read, Seen, Insert)); w != "see the folder and read its items; add items" {
		t.Errorf("Words = %q", w)
	}
	if w := Words(0); w != "no access" {
		t.Errorf("Words(0) = %q", w)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"lrswipkxtea", "cd", "lr0", "", "xyz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		// String is canonical: parsing it again gives the same set.
		r2, err := Parse(r.String())
		if err != nil || r2 != r {
			t.Fatalf("Parse(%q) = %q, reparse %q %v", s, r, r2, err)
		}
	})
}

func FuzzParseIdentifier(f *testing.F) {
	for _, s := range []string{"anyone", "authenticated", "bob@example.test", "-bob@example.test", "@example.test",
		"example.test", "bob", "Jane@EXAMPLE.test", "a@b@c", "", "@", "x@y..z"} {
		f.Add(s, "example.test")
		f.Add(s, "")
	}
	f.Fuzz(func(t *testing.T, s, dflt string) {
		id, neg, err := ParseEntryName(s, dflt)
		if err != nil {
			return
		}
		if id.Kind() == KindInvalid {
			t.Fatalf("ParseEntryName(%q) = %q of no kind", s, id)
		}
		// Canonical: parsing the canonical form gives it back.
		e := Entry{Identifier: id, Negative: neg}
		id2, neg2, err := ParseEntryName(e.Name(), "")
		if err != nil || id2 != id || neg2 != neg {
			t.Fatalf("ParseEntryName(%q) = %q, reparse of %q = %q %v %v", s, id, e.Name(), id2, neg2, err)
		}
	})
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"read", "full", "read+write", "lrs", "+w", "custom", "all,none", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseSpec(s)
		if err != nil {
			return
		}
		if r&^All != 0 {
			t.Fatalf("ParseSpec(%q) = %b: unknown bits", s, r)
		}
		// Letters always parse back to the same rights.
		// (Canonical letters never spell a set name: no repeats, RFC order.)
		if r2, err := ParseSpec(r.String()); err != nil || r2 != r {
			t.Fatalf("ParseSpec(%q) = %q; letters reparse %q %v", s, r, r2, err)
		}
		_ = Describe(r)
		_ = Words(r)
	})
}

func FuzzParseModifiedRights(f *testing.F) {
	for _, s := range []string{"+lr", "-w", "lrswipkxtea", "+", "-", "+-l", "cd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		op, r, err := ParseModifiedRights(s)
		if err != nil {
			return
		}
		if op > OpRemove || r&^All != 0 {
			t.Fatalf("ParseModifiedRights(%q) = %d %b", s, op, r)
		}
		got := Apply(nil, Change{Identifier: Anyone, Op: op, Rights: r})
		if len(got) > 1 {
			t.Fatalf("Apply gave %d entries", len(got))
		}
	})
}
