package acl

import "testing"

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
}

func TestCheck(t *testing.T) {
	tests := []struct {
		owner, user int64
		need        Rights
		want        bool
	}{
		{1, 1, All, true},
		{1, 1, Of(Read), true},
		{1, 2, Of(Lookup), false},
		{1, 2, 0, true}, // nothing needed
		{0, 0, Of(Read), false},
	}
	for _, tc := range tests {
		if got := Check(tc.owner, tc.user, tc.need); got != tc.want {
			t.Errorf("Check(%d, %d, %q) = %v, want %v", tc.owner, tc.user, tc.need, got, tc.want)
		}
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
