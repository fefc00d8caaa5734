package imap

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// seedMessages delivers n messages to alice's INBOX with subjects from
// subjects (cycled) and returns their UIDs.
func seedMessages(t *testing.T, env *testEnv, subjects ...string) []int {
	t.Helper()
	var uids []int
	for i, s := range subjects {
		raw := strings.Replace(testMessage(s), "Date: Mon, 02 Jan 2006 15:04:05 +0000",
			"Date: Mon, 02 Jan 2006 15:04:"+fmt.Sprintf("%02d", 59-i)+" +0000", 1)
		uids = append(uids, int(env.deliver(t, testUser, raw)))
	}
	return uids
}

// TestESort: SORT RETURN (RFC 5267 3): ESEARCH in the requested order,
// MIN/MAX the first and last sorted, ALL with ranges only where numbers
// ascend, COUNT, PARTIAL, SAVE; plain SORT is unchanged.
func TestESort(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	seedMessages(t, env, "c", "a", "b", "d", "e") // dates descend: message 1 is the newest
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	tests := []struct{ cmd, want string }{
		{"SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "t0") MIN 2 MAX 5 COUNT 5`},
		{"SORT RETURN (ALL) (SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "t1") ALL 2:3,1,4:5`},
		{"SORT RETURN () (DATE) UTF-8 ALL", `* ESEARCH (TAG "t2") ALL 5,4,3,2,1`},
		{"UID SORT RETURN (ALL) (REVERSE DATE) UTF-8 2:4", `* ESEARCH (TAG "t3") UID ALL 2:4`},
		{"SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "t4") PARTIAL (2:3 3,1)`},
		{"SORT RETURN (PARTIAL 4:9 COUNT) (REVERSE SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "t5") COUNT 5 PARTIAL (4:9 3,2)`},
		{"SORT RETURN (PARTIAL 6:9) (SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "t6") PARTIAL (6:9 NIL)`},
		{"SORT RETURN (COUNT) (SUBJECT) UTF-8 SUBJECT zzz", `* ESEARCH (TAG "t7") COUNT 0`},
		{"SORT (SUBJECT) UTF-8 ALL", `* SORT 2 3 1 4 5`},
	}
	for i, tc := range tests {
		lines := c.cmd("t"+strconv.Itoa(i), tc.cmd, "OK")
		if lines[0] != tc.want {
			t.Errorf("%s: got %q, want %q", tc.cmd, lines[0], tc.want)
		}
	}
	// "3:2" is not a descending range: writing it so would be wrong.
	if resultSet([]uint32{3, 2}, true) != "3,2" {
		t.Fatalf("resultSet(3,2) = %q", resultSet([]uint32{3, 2}, true))
	}
	// SAVE keeps the sorted result as a set.
	c.cmd("v", "SORT RETURN (SAVE) (SUBJECT) UTF-8 SUBJECT a", "OK")
	lines := c.cmd("w", "FETCH $ (UID)", "OK")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "* 2 FETCH (UID 2)") {
		t.Fatalf("FETCH $ after SORT RETURN (SAVE): %q", lines)
	}
	for _, bad := range []string{
		"SORT RETURN (PARTIAL 1) (SUBJECT) UTF-8 ALL",
		"SORT RETURN (PARTIAL 1:*) (SUBJECT) UTF-8 ALL",
		"SORT RETURN (ALL PARTIAL 1:2) (SUBJECT) UTF-8 ALL",
		"SORT RETURN (BOGUS) (SUBJECT) UTF-8 ALL",
		"SORT RETURN (SUBJECT) UTF-8 ALL",
		"SORT RETURNS () (SUBJECT) UTF-8 ALL",
	} {
		c.cmd("b", bad, "BAD")
	}
}

// TestSearchPartial: SEARCH RETURN (PARTIAL) (RFC 5267 4.4) in mailbox
// order, UIDs or sequence numbers.
func TestSearchPartial(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	seedMessages(t, env, "a", "b", "c", "d", "e")
	expungeUIDs(t, env, 2)
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	tests := []struct{ cmd, want string }{
		{"SEARCH RETURN (PARTIAL 1:2) ALL", `* ESEARCH (TAG "p0") PARTIAL (1:2 1:2)`},
		{"UID SEARCH RETURN (PARTIAL 2:3) ALL", `* ESEARCH (TAG "p1") UID PARTIAL (2:3 3:4)`},
		{"UID SEARCH RETURN (PARTIAL 3:1 MIN) ALL", `* ESEARCH (TAG "p2") UID MIN 1 PARTIAL (1:3 1,3:4)`},
		{"SEARCH RETURN (PARTIAL 5:6) ALL", `* ESEARCH (TAG "p3") PARTIAL (5:6 NIL)`},
		{"SEARCH RETURN (CONTEXT COUNT) ALL", `* ESEARCH (TAG "p4") COUNT 4`},
	}
	for i, tc := range tests {
		lines := c.cmd("p"+strconv.Itoa(i), tc.cmd, "OK")
		if lines[0] != tc.want {
			t.Errorf("%s: got %q, want %q", tc.cmd, lines[0], tc.want)
		}
	}
}

// TestSearchUpdate: SEARCH RETURN (UPDATE) (RFC 5267 4.3): flag changes by
// this or another session, new messages and expunges change the result,
// reported as ADDTO/REMOVEFROM after the FETCH/EXISTS that caused them and
// before EXPUNGE; CANCELUPDATE stops them; tags in use are BAD; leaving the
// mailbox ends them.
func TestSearchUpdate(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	seedMessages(t, env, "a", "b", "c", "d")
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("u1", "SEARCH RETURN (UPDATE COUNT) FLAGGED", "OK")
	if lines[0] != `* ESEARCH (TAG "u1") COUNT 0` {
		t.Fatalf("got %q", lines)
	}
	lines = c.cmd("u2", "UID SEARCH RETURN (UPDATE ALL) UNSEEN", "OK")
	if lines[0] != `* ESEARCH (TAG "u2") UID ALL 1:4` {
		t.Fatalf("got %q", lines)
	}
	c.cmd("u1", "SEARCH RETURN (UPDATE) ALL", "BAD") // tag in use

	// Our own STORE: FETCH first, then the ESEARCH updates.
	lines = c.cmd("a", `STORE 2:3 +FLAGS (\Flagged \Seen)`, "OK")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "* 2 FETCH (") || !strings.HasPrefix(lines[1], "* 3 FETCH (") ||
		lines[2] != `* ESEARCH (TAG "u1") ADDTO (0 2:3)` || lines[3] != `* ESEARCH (TAG "u2") UID REMOVEFROM (0 2:3)` {
		t.Fatalf("STORE: %q", lines)
	}

	// Another session: a new flagged message, a flag change, an expunge.
	other := env.rawLogin(t)
	other.cmd("s", "SELECT INBOX", "OK")
	other.cmd("x", `STORE 2 -FLAGS (\Flagged)`, "OK")
	other.cmd("y", `STORE 4 +FLAGS (\Deleted)`, "OK")
	other.cmd("z", "EXPUNGE", "OK")
	env.deliverTo(t, testUser, "INBOX", testMessage("e"))
	other.cmd("o", "NOOP", "OK") // learn of UID 5
	other.cmd("f", `UID STORE 5 +FLAGS (\Flagged)`, "OK")
	lines = c.cmd("n", "NOOP", "OK")
	// The expunged message 4 leaves u2 (by UID) before its EXPUNGE; the
	// new message 4 (UID 5) joins both after EXISTS and its FETCH.
	idx := func(prefix string) int {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return i
			}
		}
		t.Fatalf("no %q in %q", prefix, lines)
		return -1
	}
	rm := idx(`* ESEARCH (TAG "u2") UID REMOVEFROM (0 4)`)
	ex := idx("* 4 EXPUNGE")
	exists := idx("* 4 EXISTS")
	add1 := idx(`* ESEARCH (TAG "u1") `)
	add2 := idx(`* ESEARCH (TAG "u2") UID ADDTO (0 5)`)
	if !(rm < ex && ex < exists && exists < add1 && exists < add2) {
		t.Fatalf("order of updates: %q", lines)
	}
	// u1: message 2 lost \Flagged, message 4 (UID 5) has it.
	if l := lines[add1]; l != `* ESEARCH (TAG "u1") REMOVEFROM (0 2)` && l != `* ESEARCH (TAG "u1") ADDTO (0 4)` {
		t.Fatalf("u1 update %q", l)
	}
	if !hasLine(lines, `* ESEARCH (TAG "u1") REMOVEFROM (0 2)`) || !hasLine(lines, `* ESEARCH (TAG "u1") ADDTO (0 4)`) {
		t.Fatalf("u1 updates: %q", lines)
	}

	c.cmd("cu", `CANCELUPDATE "u1"`, "OK")
	c.cmd("cu2", `CANCELUPDATE "u1"`, "NO")
	c.cmd("cu3", `CANCELUPDATE u2`, "BAD")
	lines = c.cmd("b", `STORE 1 +FLAGS (\Flagged \Seen)`, "OK")
	if hasLine(lines, `* ESEARCH (TAG "u1")`) || !hasLine(lines, `* ESEARCH (TAG "u2") UID REMOVEFROM (0 1)`) {
		t.Fatalf("after CANCELUPDATE u1: %q", lines)
	}
	// Leaving the mailbox ends the contexts; the tag is free again.
	c.cmd("us", "UNSELECT", "OK")
	c.cmd("s2", "SELECT INBOX", "OK")
	lines = c.cmd("d", `STORE 1 -FLAGS (\Flagged \Seen)`, "OK")
	if hasLine(lines, "* ESEARCH") {
		t.Fatalf("updates after UNSELECT: %q", lines)
	}
	c.cmd("u2", "SEARCH RETURN (UPDATE) ALL", "OK")
}

// TestSearchUpdateLimit: beyond maxUpdateContexts the command answers
// without updates and says NO [NOUPDATE "tag"] (RFC 5267 4.3.1).
func TestSearchUpdateLimit(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	seedMessages(t, env, "a")
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	for i := range maxUpdateContexts {
		c.cmd("c"+strconv.Itoa(i), "SEARCH RETURN (UPDATE) SEEN", "OK")
	}
	lines := c.cmd("over", "SEARCH RETURN (UPDATE COUNT) SEEN", "OK")
	if lines[0] != `* ESEARCH (TAG "over") COUNT 0` || lines[1] != `* NO [NOUPDATE "over"] too many search contexts` {
		t.Fatalf("got %q", lines)
	}
	lines = c.cmd("st", `STORE 1 +FLAGS (\Seen)`, "OK")
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "* ESEARCH") {
			n++
		}
	}
	if n != maxUpdateContexts || hasLine(lines, `* ESEARCH (TAG "over")`) {
		t.Fatalf("%d updates: %q", n, lines)
	}
}

// applyUpdates applies the ADDTO/REMOVEFROM data of an ESEARCH response
// to a client's copy of a sorted result, as RFC 5267 4.3.3-4 tell a
// client to.
func applyUpdates(t *testing.T, list []uint32, line string) []uint32 {
	t.Helper()
	for _, kw := range []string{"ADDTO (", "REMOVEFROM ("} {
		for rest := line; ; {
			i := strings.Index(rest, kw)
			if i < 0 {
				break
			}
			rest = rest[i+len(kw):]
			j := strings.IndexByte(rest, ')')
			f := strings.Fields(rest[:j])
			rest = rest[j:]
			for k := 0; k+1 < len(f); k += 2 {
				pos, _ := strconv.Atoi(f[k])
				var nums []uint32
				for _, part := range strings.Split(f[k+1], ",") {
					a, b, isRange := strings.Cut(part, ":")
					x, _ := strconv.Atoi(a)
					y := x
					if isRange {
						y, _ = strconv.Atoi(b)
					}
					if y < x {
						t.Fatalf("descending range in %q", line)
					}
					for n := x; n <= y; n++ {
						nums = append(nums, uint32(n))
					}
				}
				if pos == 0 {
					t.Fatalf("sorted context update at position 0: %q", line)
				}
				if kw == "ADDTO (" {
					list = slices.Insert(list, pos-1, nums...)
				} else {
					if pos-1+len(nums) > len(list) || !slices.Equal(list[pos-1:pos-1+len(nums)], nums) {
						t.Fatalf("REMOVEFROM %d %v does not match the list %v (%q)", pos, nums, list, line)
					}
					list = slices.Delete(list, pos-1, pos-1+len(nums))
				}
			}
		}
	}
	return list
}

// TestSortUpdate: a UID SORT RETURN (UPDATE) context stays equal to a
// fresh UID SORT through random deliveries, flag changes and expunges by
// another session, when the client applies ADDTO/REMOVEFROM at their
// positions (RFC 5267 4.3, CONTEXT=SORT).
func TestSortUpdate(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	subject := func() string { return string(rune('a' + rnd.IntN(6))) }
	var subs []string
	for range 8 {
		subs = append(subs, subject())
	}
	seedMessages(t, env, subs...)
	c := env.rawLogin(t)
	c.cmd("s", "SELECT INBOX", "OK")
	const crit = "(SUBJECT REVERSE ARRIVAL) UTF-8 UNSEEN"
	parseAll := func(line string) []uint32 {
		i := strings.Index(line, " ALL ")
		if i < 0 {
			return nil
		}
		return applyUpdates(t, nil, "ADDTO (1 "+line[i+5:]+")")
	}
	lines := c.cmd("ctx", "UID SORT RETURN (UPDATE ALL) "+crit, "OK")
	list := parseAll(lines[0])
	other := env.rawLogin(t)
	other.cmd("s", "SELECT INBOX", "OK")
	adds, removes := 0, 0
	for step := range 40 {
		switch rnd.IntN(4) {
		case 0:
			env.deliver(t, testUser, testMessage(subject()))
		case 1:
			other.cmd("f", "UID STORE 1:* "+[]string{"+", "-"}[rnd.IntN(2)]+`FLAGS (\Seen)`, "OK")
			other.cmd("f2", "UID STORE "+strconv.Itoa(1+rnd.IntN(20))+` +FLAGS (\Seen)`, "OK")
		case 2:
			other.cmd("g", "UID STORE "+strconv.Itoa(1+rnd.IntN(20))+` -FLAGS (\Seen)`, "OK")
		case 3:
			other.cmd("x", "UID EXPUNGE "+strconv.Itoa(1+rnd.IntN(20)), "OK")
		}
		lines := c.cmd("n", "NOOP", "OK")
		for _, l := range lines {
			if strings.HasPrefix(l, `* ESEARCH (TAG "ctx") UID `) {
				list = applyUpdates(t, list, l)
				adds += strings.Count(l, "ADDTO")
				removes += strings.Count(l, "REMOVEFROM")
			}
		}
		fresh := parseAll(c.cmd("chk", "UID SORT RETURN (ALL) "+crit, "OK")[0])
		if !slices.Equal(list, fresh) {
			t.Fatalf("step %d: the client's result %v, a fresh SORT %v (last updates %q)", step, list, fresh, lines)
		}
	}
	if adds < 5 || removes < 5 || len(list) < 3 {
		t.Fatalf("the run exercised too little: %d ADDTO, %d REMOVEFROM, %d messages at the end", adds, removes, len(list))
	}
}
