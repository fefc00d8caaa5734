package imap

import (
	"fmt"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

func tmsg(seq uint32, id, subject string, day int, refs ...string) threadMsg {
	m := storage.Message{
		UID:          storage.UID(seq * 10),
		InternalDate: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		Envelope: &storage.Envelope{
			Subject:   subject,
			MessageID: id,
			Date:      time.Date(2024, 1, day, 12, 0, 0, 0, time.UTC),
		},
		References: refs,
	}
	return newThreadMsg(seq, seq, &m)
}

func TestFormatThreads(t *testing.T) {
	n := func(num uint32, kids ...*threadNode) *threadNode { return &threadNode{num: num, children: kids} }
	tests := []struct {
		in   []*threadNode
		want string
	}{
		{nil, ""},
		{[]*threadNode{n(2), n(3)}, "(2)(3)"},
		// RFC 5256 4 examples: "(3 6 (4 23)(44 7 96))" and "((3)(5))".
		{[]*threadNode{n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))}, "(3 6 (4 23)(44 7 96))"},
		{[]*threadNode{n(0, n(3), n(5))}, "((3)(5))"},
		{[]*threadNode{n(1, n(2, n(3, n(4))))}, "(1 2 3 4)"},
	}
	for _, tc := range tests {
		if got := formatThreads(tc.in); got != tc.want {
			t.Errorf("formatThreads = %q, want %q", got, tc.want)
		}
	}
}

func TestThreadReferences(t *testing.T) {
	tests := []struct {
		name string
		msgs []threadMsg
		want string
	}{
		{
			name: "graph, dummy parent, subject merge",
			msgs: []threadMsg{
				tmsg(1, "<1@x>", "A", 1),
				tmsg(2, "<2@x>", "Re: A", 2, "<1@x>"),
				tmsg(3, "<3@x>", "Re: A", 3, "<1@x>", "<2@x>"),
				tmsg(4, "<4@x>", "Re: A", 4, "<1@x>"),
				tmsg(5, "<5@x>", "B", 5),
				tmsg(6, "<6@x>", "C", 6, "<gone@x>"),
				tmsg(7, "<7@x>", "Re: C", 7, "<gone@x>"),
				tmsg(8, "<8@x>", "Re: B", 8),
			},
			// 2 and 4 reply to 1, 3 to 2; 6 and 7 share a missing parent
			// (a kept top-level dummy); 8 joins 5 by subject as a reply.
			want: "(1 (2 3)(4))(5 8)((6)(7))",
		},
		{
			name: "two non-replies with one subject get a dummy",
			msgs: []threadMsg{
				tmsg(1, "<a@x>", "Lunch", 3),
				tmsg(2, "<b@x>", "lunch", 1),
			},
			want: "((2)(1))",
		},
		{
			name: "dummy with one child is promoted; dates order the roots",
			msgs: []threadMsg{
				tmsg(1, "<a@x>", "one", 9, "<missing@x>"),
				tmsg(2, "<b@x>", "two", 2),
			},
			want: "(2)(1)",
		},
		{
			name: "reparenting from a lying References",
			msgs: []threadMsg{
				// 1 claims 2 is its grandparent via <p>; 2 has no refs.
				tmsg(1, "<c@x>", "x1", 3, "<b@x>", "<p@x>"),
				tmsg(2, "<b@x>", "x2", 1),
			},
			want: "(2 1)",
		},
		{
			name: "duplicate message-id and no message-id",
			msgs: []threadMsg{
				tmsg(1, "<d@x>", "s1", 1),
				tmsg(2, "<d@x>", "s2", 2),
				tmsg(3, "", "s3", 3),
				tmsg(4, "<e@x>", "s4", 4, "<d@x>"),
			},
			want: "(1 4)(2)(3)",
		},
		{
			name: "loops are not created",
			msgs: []threadMsg{
				tmsg(1, "<a@x>", "l1", 1, "<b@x>"),
				tmsg(2, "<b@x>", "l2", 2, "<a@x>"),
				tmsg(3, "<c@x>", "l3", 3, "<c@x>"),
			},
			// 2's reference to 1 would make a loop: 1 stays under 2;
			// 3 references itself.
			want: "(2 1)(3)",
		},
		{
			name: "ties broken by sequence number",
			msgs: []threadMsg{
				tmsg(1, "<a@x>", "t", 5),
				tmsg(2, "<b@x>", "u", 5),
				tmsg(3, "<c@x>", "v", 5, "<a@x>"),
				tmsg(4, "<d@x>", "w", 5, "<a@x>"),
			},
			want: "(1 (3)(4))(2)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := formatThreads(threadReferences(tc.msgs))
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestThreadReferencesLoopFromStep1C(t *testing.T) {
	// 1 references 2, 2 references 1: whichever comes last must not become
	// its own ancestor.
	msgs := []threadMsg{
		tmsg(1, "<a@x>", "q", 1, "<b@x>"),
		tmsg(2, "<b@x>", "q", 2, "<a@x>"),
	}
	got := formatThreads(threadReferences(msgs))
	if got != "(1)(2)" && got != "(1 2)" && got != "(2 1)" {
		t.Errorf("got %s", got)
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	msgs := []threadMsg{
		tmsg(1, "", "A", 1),
		tmsg(2, "", "B", 2),
		tmsg(3, "", "Re: A", 3),
		tmsg(4, "", "b", 4),
		tmsg(5, "", "Fwd: a", 2),
		tmsg(6, "", "C", 0),
	}
	got := formatThreads(threadOrderedSubject(msgs))
	// Threads by the date of their first message: C (day 0), A (1), B (2);
	// children of a thread by date.
	if want := "(6)(1 (5)(3))(2 4)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestThreadLarge(t *testing.T) {
	// A long reply chain and many roots stay linear enough and terminate.
	var msgs []threadMsg
	for i := 1; i <= 3000; i++ {
		var refs []string
		if i > 1 && i%3 != 0 {
			refs = []string{fmt.Sprintf("<%d@x>", i-1)}
		}
		msgs = append(msgs, tmsg(uint32(i), fmt.Sprintf("<%d@x>", i), fmt.Sprintf("s%d", i%50), 1+i%28, refs...))
	}
	if got := threadReferences(msgs); len(got) == 0 {
		t.Fatal("no threads")
	}
	if got := threadOrderedSubject(msgs); len(got) != 50 {
		t.Fatalf("ORDEREDSUBJECT: %d threads, want 50", len(got))
	}
}
