package rules

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFolderName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 150) // 300 bytes
	for _, tc := range []struct{ in, want string }{
		{"Navy Project", "Navy Project"},
		{"Archive/2018-06-18", "Archive/2018-06-18"},
		{"INBOX", "INBOX"},
		{"  Important ", "Important"},
		{"../../x", "x"},
		{"./a/./b/..", "a/b"},
		{"a//b", "a/b"},
		{"/lead/", "lead"},
		{"x*y%z", "x_y_z"},
		{"#public/Spam", "#public/Spam"}, // ForeignFolder: delivery files into INBOX
		{"~bob/INBOX", "~bob/INBOX"},
		{"a/#b", "a/#b"},
		{"tab\there", "tab_here"},
		{"bad\xffutf8", "bad_utf8"},
		{"1/2/3/4/5/6/7/8/9/10/11/12", "1/2/3/4/5/6/7/8/9/10"},
		{long, strings.Repeat("é", 100)},
		{"", ""},
		{"/../", ""},
	} {
		if got := FolderName(tc.in); got != tc.want {
			t.Errorf("FolderName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestFolderFromMessage: text of the message expanded into a folder name
// (the recipient's extension, the sender's name) gives a safe folder of the
// account's own; a name with nothing left is INBOX.
func TestFolderFromMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		folder, rcpt, from string
		move, copy         string
	}{
		{"%%Extension%%", "john+../../x@example.org", "a@b.example", "x", ""},
		{"%%Extension%%", "john+#public@example.org", "a@b.example", "#public", ""}, // INBOX at delivery
		{"%%Extension%%", "john+..@example.org", "a@b.example", "", ""},
		{"%%Extension%%", "john+a//b@example.org", "a@b.example", "a/b", ""},
		{"Senders/%%From_Name%%", "john@example.org", `"*** SALE ***" <shop@b.example>`, "Senders/___ SALE ___", "Senders/___ SALE ___"},
		{"Senders/%%From_Name%%", "john@example.org", `"AC/DC" <band@b.example>`, "Senders/AC/DC", "Senders/AC/DC"},
	} {
		for _, do := range []string{"move", "copy"} {
			doc := `[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "` + do + `", folder = "` + tc.folder + `" }]
`
			_, prog, err := Load("t.toml", []byte(doc), Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := msg("From: " + tc.from + "\nTo: john@example.org\nSubject: x\n\nbody\n")
			c := baseCtx()
			c.Recipient = tc.rcpt
			p := Evaluate(context.Background(), []Stage{{Level: LevelAccount, Program: prog}}, m, c)
			if do == "move" && p.Folder != tc.move {
				t.Errorf("%s %q for %s from %s: folder %q, want %q", do, tc.folder, tc.rcpt, tc.from, p.Folder, tc.move)
			}
			if do == "copy" {
				var got string
				if len(p.Copies) > 0 {
					got = p.Copies[0]
				}
				want := tc.copy
				if want == "" && tc.move != "" {
					want = tc.move
				}
				if got != want {
					t.Errorf("%s %q for %s from %s: copies %q, want %q", do, tc.folder, tc.rcpt, tc.from, p.Copies, want)
				}
			}
		}
	}
}

func TestFolderCompileErrors(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"#public/x", "~bob", "a/../b", "100%", "a/ b"} {
		doc := `[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "move", folder = "` + f + `" }]
`
		if _, _, err := Load("t.toml", []byte(doc), Options{}); err == nil || !strings.Contains(err.Error(), "folder") {
			t.Errorf("folder %q: %v", f, err)
		}
	}
	doc := "[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"move\", folder = \"Projects/%%Extension%%\" }]\n"
	if _, _, err := Load("t.toml", []byte(doc), Options{}); err != nil {
		t.Errorf("a folder with a variable: %v", err)
	}
}

// FuzzFolderName: whatever the sender's text, the name is a valid mailbox
// name (ForeignFolder then tells whether it is the account's own), and
// cleaning it again changes nothing.
func FuzzFolderName(f *testing.F) {
	for _, s := range []string{"Navy Project", "../../x", "#public/a", "a//b/", "x*y%z", "\xff\x00", "~bob", " / . /a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := FolderName(s)
		if n == "" {
			return
		}
		if !utf8.ValidString(n) || strings.ContainsAny(n, "*%\x00\r\n") || strings.Contains(n, "//") ||
			strings.HasPrefix(n, "/") || strings.HasSuffix(n, "/") {
			t.Fatalf("FolderName(%q) = %q", s, n)
		}
		levels := strings.Split(n, "/")
		if len(levels) > MaxFolderLevels {
			t.Fatalf("FolderName(%q) = %q: %d levels", s, n, len(levels))
		}
		for _, l := range levels {
			if l == "." || l == ".." || len(l) > maxFolderLevel || strings.TrimSpace(l) != l {
				t.Fatalf("FolderName(%q) = %q: level %q", s, n, l)
			}
		}
		if again := FolderName(n); again != n {
			t.Fatalf("FolderName(%q) = %q, then %q", s, n, again)
		}
	})
}
