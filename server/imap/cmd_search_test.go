package imap

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
	"github.com/floemail/floe/storage/sqlite"
)

// searchEnv is a server with one account for the SEARCH/SORT/THREAD tests.
type searchEnv struct {
	store *sqlite.Store
	acct  storage.Account
	inbox storage.Mailbox
	addr  string
}

const (
	searchUser = "searcher@example.test"
	searchPass = "password"
)

func newSearchEnv(tb testing.TB) *searchEnv {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, tb.TempDir(), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test", Source: storage.SourceDB}); err != nil {
		tb.Fatal(err)
	}
	hash, err := auth.HashPassword(searchPass)
	if err != nil {
		tb.Fatal(err)
	}
	acct, err := st.CreateAccount(ctx, storage.Account{Address: searchUser, PasswordHash: hash, Source: storage.SourceDB})
	if err != nil {
		tb.Fatal(err)
	}
	inbox, err := st.Mailbox(ctx, acct.ID, "INBOX")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := config.Development()
	log := slog.New(slog.DiscardHandler)
	srv := New(Options{Config: func() *config.Config { return cfg }, Store: st, Auth: auth.New(st, cfg.Auth, log), Logger: log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l, false); close(done) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return &searchEnv{store: st, acct: acct, inbox: inbox, addr: l.Addr().String()}
}

// deliver stores raw as one message per target (flags, internal date).
func (e *searchEnv) deliver(tb testing.TB, raw string, targets ...storage.Target) []storage.UID {
	tb.Helper()
	ctx := context.Background()
	ref, err := e.store.PutBlob(ctx, strings.NewReader(raw))
	if err != nil {
		tb.Fatal(err)
	}
	p, err := mimeparse.Parse(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		tb.Fatal(err)
	}
	if len(targets) == 0 {
		targets = []storage.Target{{}}
	}
	for i := range targets {
		targets[i].Account = e.acct.ID
		targets[i].Mailbox = e.inbox.ID
	}
	res, err := e.store.Deliver(ctx, ref, p, targets)
	if err != nil {
		tb.Fatal(err)
	}
	var uids []storage.UID
	for _, r := range res {
		if r.Err != nil {
			tb.Fatal(r.Err)
		}
		uids = append(uids, r.UID)
	}
	return uids
}

func (e *searchEnv) client(tb testing.TB) *imapclient.Client {
	tb.Helper()
	c, err := imapclient.DialInsecure(e.addr, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.Login(searchUser, searchPass).Wait(); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// searchRaw is a transcript connection.
type searchRaw struct {
	tb testing.TB
	c  net.Conn
	r  *bufio.Reader
}

func (e *searchEnv) raw(tb testing.TB) *searchRaw {
	tb.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	r := &searchRaw{tb: tb, c: c, r: bufio.NewReader(c)}
	r.read() // greeting
	r.cmd("l LOGIN " + searchUser + " " + searchPass)
	r.cmd("s SELECT INBOX")
	return r
}

func (r *searchRaw) read() string {
	r.tb.Helper()
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := r.r.ReadString('\n')
	if err != nil {
		r.tb.Fatalf("read: %v", err)
	}
	return strings.TrimRight(line, "\r\n")
}

// cmd sends "tag ..." and returns the untagged lines and the tagged one.
func (r *searchRaw) cmd(line string) ([]string, string) {
	r.tb.Helper()
	tag, _, _ := strings.Cut(line, " ")
	if _, err := r.c.Write([]byte(line + "\r\n")); err != nil {
		r.tb.Fatal(err)
	}
	var untagged []string
	for {
		l := r.read()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// expect runs a command and checks its responses: want lists the untagged
// responses (prefix "* ") that must appear, in order among the others, and
// status the beginning of the tagged response.
func (r *searchRaw) expect(line, status string, want ...string) []string {
	r.tb.Helper()
	untagged, tagged := r.cmd(line)
	if !strings.HasPrefix(tagged, status) {
		r.tb.Fatalf("%s: tagged %q, want %q (untagged %q)", line, tagged, status, untagged)
	}
	i := 0
	for _, u := range untagged {
		if i < len(want) && u == want[i] {
			i++
		}
	}
	if i < len(want) {
		r.tb.Fatalf("%s: missing %q in %q", line, want[i], untagged)
	}
	return untagged
}

func msgText(from, to, cc, subject, date, id, refs, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", from, to)
	if cc != "" {
		fmt.Fprintf(&b, "Cc: %s\r\n", cc)
	}
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	if date != "" {
		fmt.Fprintf(&b, "Date: %s\r\n", date)
	}
	if id != "" {
		fmt.Fprintf(&b, "Message-ID: %s\r\n", id)
	}
	if refs != "" {
		fmt.Fprintf(&b, "References: %s\r\n", refs)
	}
	fmt.Fprintf(&b, "X-Test: %s\r\n\r\n%s\r\n", strings.ToUpper(subject), body)
	return b.String()
}

// fillSearchMailbox delivers five messages:
//
//	uid 1 alice  "Project plan"      Jan 10  \Seen             body "budget meeting"
//	uid 2 bob    "Re: Project plan"  Jan 11  \Seen \Answered   body "see attached budget"
//	uid 3 carol  "Lunch"             Jan 09  (none)            body "pizza today?"
//	uid 4 alice  "Re: Lunch"         Jan 12  \Flagged          body "yes please"
//	uid 5 dave   "Invoice"           Jan 08  \Deleted          body "payment due"
func fillSearchMailbox(tb testing.TB, e *searchEnv) {
	msgs := []struct {
		raw   string
		flags []string
		date  time.Time
	}{
		{msgText("Alice <alice@example.org>", "team@example.test", "", "Project plan", "Wed, 10 Jan 2024 10:00:00 +0000", "<p1@x>", "", "budget meeting"),
			[]string{`\Seen`}, time.Date(2024, 1, 10, 10, 0, 5, 0, time.UTC)},
		{msgText("Bob <bob@example.net>", "alice@example.org", "carol@example.com", "Re: Project plan", "Thu, 11 Jan 2024 10:00:00 +0000", "<p2@x>", "<p1@x>", "see attached budget"),
			[]string{`\Seen`, `\Answered`}, time.Date(2024, 1, 11, 10, 0, 5, 0, time.UTC)},
		{msgText("Carol <carol@example.com>", "team@example.test", "", "Lunch", "Tue, 09 Jan 2024 10:00:00 +0000", "<l1@x>", "", "pizza today?"),
			nil, time.Date(2024, 1, 9, 10, 0, 5, 0, time.UTC)},
		{msgText("Alice <alice@example.org>", "carol@example.com", "", "Re: Lunch", "Fri, 12 Jan 2024 10:00:00 +0000", "<l2@x>", "<l1@x>", "yes please"),
			[]string{`\Flagged`}, time.Date(2024, 1, 12, 10, 0, 5, 0, time.UTC)},
		{msgText("Dave <dave@example.net>", "billing@example.test", "", "Invoice", "Mon, 08 Jan 2024 10:00:00 +0000", "<i1@x>", "", "payment due"),
			[]string{`\Deleted`}, time.Date(2024, 1, 8, 10, 0, 5, 0, time.UTC)},
	}
	for _, m := range msgs {
		e.deliver(tb, m.raw, storage.Target{Flags: m.flags, InternalDate: m.date})
	}
}

func TestSearchClient(t *testing.T) {
	e := newSearchEnv(t)
	fillSearchMailbox(t, e)
	c := e.client(t)

	seqs := func(crit *imap.SearchCriteria) []uint32 {
		t.Helper()
		d, err := c.Search(crit, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return d.AllSeqNums()
	}
	uids := func(crit *imap.SearchCriteria) []imap.UID {
		t.Helper()
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return d.AllUIDs()
	}
	tests := []struct {
		name string
		crit imap.SearchCriteria
		want []uint32
	}{
		{"all", imap.SearchCriteria{}, []uint32{1, 2, 3, 4, 5}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{3, 4, 5}},
		{"text", imap.SearchCriteria{Text: []string{"budget"}}, []uint32{1, 2}},
		{"body", imap.SearchCriteria{Body: []string{"pizza"}}, []uint32{3}},
		{"text in header", imap.SearchCriteria{Text: []string{"invoice"}}, []uint32{5}},
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "ALICE"}}}, []uint32{1, 4}},
		{"subject substring", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "unc"}}}, []uint32{3, 4}},
		{"cc", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Cc", Value: "carol"}}}, []uint32{2}},
		{"header", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Test", Value: "re: lunch"}}}, []uint32{4}},
		{"since", imap.SearchCriteria{Since: day(2024, 1, 11)}, []uint32{2, 4}},
		{"sent before", imap.SearchCriteria{SentBefore: day(2024, 1, 10)}, []uint32{3, 5}},
		{"not or", imap.SearchCriteria{Not: []imap.SearchCriteria{{Or: [][2]imap.SearchCriteria{
			{{Flag: []imap.Flag{imap.FlagSeen}}, {Flag: []imap.Flag{imap.FlagDeleted}}}}}}}, []uint32{3, 4}},
		{"seq and larger", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(1, 2, 3)}, Larger: 1}, []uint32{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := seqs(&tc.crit); !slices.Equal(got, tc.want) {
				t.Errorf("SEARCH: got %v, want %v", got, tc.want)
			}
			var wantUIDs []imap.UID
			for _, n := range tc.want {
				wantUIDs = append(wantUIDs, imap.UID(n)) // UIDs equal seqs here
			}
			if got := uids(&tc.crit); !slices.Equal(got, wantUIDs) {
				t.Errorf("UID SEARCH: got %v, want %v", got, wantUIDs)
			}
		})
	}

	// ESEARCH (RFC 4731).
	d, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}},
		&imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnAll: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d.Min != 3 || d.Max != 5 || d.Count != 3 || d.All.String() != "3:5" {
		t.Errorf("ESEARCH: got min %d max %d count %d all %v", d.Min, d.Max, d.Count, d.All)
	}
	d, err = c.Search(&imap.SearchCriteria{Text: []string{"nomatchword"}}, &imap.SearchOptions{ReturnCount: true}).Wait()
	if err != nil || d.Count != 0 || d.Min != 0 {
		t.Errorf("ESEARCH no match: %+v %v", d, err)
	}

	// SORT and THREAD.
	sorted, err := c.Sort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}, {Key: imapclient.SortKeyDate, Reverse: true}},
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{5, 4, 3, 2, 1}; !slices.Equal(sorted, want) {
		t.Errorf("SORT (SUBJECT REVERSE DATE): got %v, want %v", sorted, want)
	}
	sorted, err = c.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyFrom}, {Key: imapclient.SortKeyArrival}},
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint32{1, 4, 2, 3}; !slices.Equal(sorted, want) {
		t.Errorf("UID SORT (FROM ARRIVAL): got %v, want %v", sorted, want)
	}
	threads, err := c.Thread(&imapclient.ThreadOptions{Algorithm: imap.ThreadReferences, SearchCriteria: &imap.SearchCriteria{}}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) != 3 || !slices.Equal(threads[0].Chain, []uint32{5}) ||
		!slices.Equal(threads[1].Chain, []uint32{3, 4}) || !slices.Equal(threads[2].Chain, []uint32{1, 2}) {
		t.Errorf("THREAD REFERENCES: got %+v", threads)
	}
}

func TestSearchTranscript(t *testing.T) {
	e := newSearchEnv(t)
	fillSearchMailbox(t, e)
	r := e.raw(t)

	r.expect("a1 SEARCH UNSEEN", "a1 OK", "* SEARCH 3 4 5")
	r.expect("a2 UID SEARCH TEXT budget", "a2 OK", "* SEARCH 1 2")
	r.expect("a3 SEARCH CHARSET UTF-8 FROM alice", "a3 OK", "* SEARCH 1 4")
	r.expect("a4 SEARCH CHARSET KOI8-R FROM alice", "a4 NO [BADCHARSET (UTF-8 US-ASCII)]")
	r.expect("a5 SEARCH BOGUS", "a5 BAD")
	r.expect("a6 SEARCH "+strings.Repeat("NOT ", 40)+"ALL", "a6 BAD")
	r.expect("a7 SEARCH RETURN (MIN MAX COUNT) FLAGGED", "a7 OK", `* ESEARCH (TAG "a7") MIN 4 MAX 4 COUNT 1`)
	r.expect("a8 UID SEARCH RETURN () ALL", "a8 OK", `* ESEARCH (TAG "a8") UID ALL 1:5`)
	untagged := r.expect("a9 SEARCH MODSEQ 1 UNDELETED", "a9 OK")
	if !slices.ContainsFunc(untagged, func(u string) bool {
		return strings.HasPrefix(u, "* SEARCH 1 2 3 4 (MODSEQ ") && strings.HasSuffix(u, ")")
	}) {
		t.Errorf("SEARCH MODSEQ: %q", untagged)
	}
	untagged = r.expect("a9b UID SEARCH RETURN (COUNT) MODSEQ 1", "a9b OK")
	if !slices.ContainsFunc(untagged, func(u string) bool {
		return strings.HasPrefix(u, `* ESEARCH (TAG "a9b") UID COUNT 5 MODSEQ `)
	}) {
		t.Errorf("ESEARCH MODSEQ: %q", untagged)
	}
	// A synchronising literal: the "+" continuation is among the lines.
	r.expect("a10 UID SEARCH SUBJECT {5}\r\nlunch", "a10 OK", "* SEARCH 3 4")

	// SEARCHRES (RFC 5182): SAVE alone gives no ESEARCH; $ refers to it.
	untagged = r.expect("b1 UID SEARCH RETURN (SAVE) TEXT budget", "b1 OK")
	for _, u := range untagged {
		if strings.Contains(u, "ESEARCH") {
			t.Errorf("SAVE alone produced %q", u)
		}
	}
	r.expect("b2 UID FETCH $ (FLAGS)", "b2 OK", `* 1 FETCH (UID 1 FLAGS (\Recent \Seen))`)
	r.expect("b3 UID SEARCH UID $ ANSWERED", "b3 OK", "* SEARCH 2")
	r.expect("b4 SEARCH RETURN (SAVE MIN) UNSEEN", "b4 OK", `* ESEARCH (TAG "b4") MIN 3`)
	r.expect("b5 UID SEARCH $", "b5 OK", "* SEARCH 3")
	// A failed SEARCH with SAVE empties the result.
	r.expect("b6 SEARCH RETURN (SAVE) CHARSET X-BAD ALL", "b6 NO")
	r.expect("b7 UID SEARCH $", "b7 OK", "* SEARCH")

	// SORT, THREAD.
	r.expect("c1 SORT (REVERSE ARRIVAL) UTF-8 ALL", "c1 OK", "* SORT 4 2 1 3 5")
	r.expect("c2 UID SORT (DATE) US-ASCII UNDELETED", "c2 OK", "* SORT 3 1 2 4")
	r.expect("c3 SORT (SIZE) KOI8-R ALL", "c3 NO [BADCHARSET")
	r.expect("c4 SORT (BOGUS) UTF-8 ALL", "c4 BAD")
	r.expect("c5 THREAD REFERENCES UTF-8 ALL", "c5 OK", "* THREAD (5)(3 4)(1 2)")
	r.expect("c6 UID THREAD ORDEREDSUBJECT UTF-8 ALL", "c6 OK", "* THREAD (5)(3 4)(1 2)")
	r.expect("c7 THREAD REFERENCES UTF-8 TEXT nomatchword", "c7 OK", "* THREAD")
	r.expect("c8 THREAD FOO UTF-8 ALL", "c8 BAD")
	r.expect("c9 SORT (DISPLAYFROM) UTF-8 ALL", "c9 OK", "* SORT 1 4 2 3 5")
}

func TestSearchRev2ESEARCH(t *testing.T) {
	e := newSearchEnv(t)
	fillSearchMailbox(t, e)
	r := e.raw(t)
	r.expect("e1 ENABLE IMAP4rev2", "e1 OK")
	// RFC 9051 6.4.4 / 7.3.4: an IMAP4rev2 session gets ESEARCH, never
	// SEARCH, with the tag, UID for UID SEARCH, and MODSEQ (RFC 7162
	// 3.1.5) as the highest modseq of the messages found.
	only := func(untagged []string, want string) {
		t.Helper()
		if len(untagged) != 1 || untagged[0] != want {
			t.Fatalf("got %q, want exactly %q", untagged, want)
		}
	}
	only(r.expect("e2 SEARCH SEEN", "e2 OK"), `* ESEARCH (TAG "e2") ALL 1:2`)
	fetched := r.expect("e3 UID FETCH 5 (MODSEQ)", "e3 OK")
	var modseq uint64
	if len(fetched) != 2 || !strings.HasPrefix(fetched[0], "* OK [HIGHESTMODSEQ ") { // CONDSTORE enabled now
		t.Fatalf("FETCH MODSEQ: %q", fetched)
	}
	fetched = fetched[1:]
	if _, err := fmt.Sscanf(fetched[0], "* 5 FETCH (UID 5 MODSEQ (%d))", &modseq); err != nil {
		if _, err := fmt.Sscanf(fetched[0], "* 5 FETCH (MODSEQ (%d) UID 5)", &modseq); err != nil {
			t.Fatalf("FETCH MODSEQ: %q", fetched)
		}
	}
	only(r.expect("e4 UID SEARCH DELETED MODSEQ 1", "e4 OK"), fmt.Sprintf(`* ESEARCH (TAG "e4") UID ALL 5 MODSEQ %d`, modseq))
	only(r.expect("e5 SEARCH SUBJECT nosuchsubject", "e5 OK"), `* ESEARCH (TAG "e5")`)
	only(r.expect("e6 UID SEARCH RETURN (COUNT) TEXT budget", "e6 OK"), `* ESEARCH (TAG "e6") UID COUNT 2`)
}

// TestSearchTextSubstring checks RFC 9051 6.4.4 for TEXT and BODY: the
// string is a substring (also inside a word), a string of several words is
// one phrase, and header text counts for TEXT only.
func TestSearchTextSubstring(t *testing.T) {
	e := newSearchEnv(t)
	for _, body := range []string{
		"asdfghjkl zxcvbnm",         // 1
		"asdfghjkl\r\nbody 2 token", // 2
		"zxcvbnm qwertyuiop",        // 3
		"body 20 token 2026",        // 4
	} {
		e.deliver(t, msgText("a@example.org", searchUser, "", "qwertyuiop x", "Mon, 08 Jan 2024 10:00:00 +0000", "", "", body), storage.Target{})
	}
	r := e.raw(t)
	for _, c := range []struct{ crit, want string }{
		{"TEXT sdfghjk", "* SEARCH 1 2"},
		{"BODY xcvbn", "* SEARCH 1 3"},
		{"BODY wertyuio", "* SEARCH 3"},
		{"TEXT wertyuio", "* SEARCH 1 2 3 4"}, // in every Subject
		{`TEXT "body 2 token"`, "* SEARCH 2"},
		{`BODY "Y 2 TOK"`, "* SEARCH 2"},
		{`TEXT "token body"`, "* SEARCH"},
		{"BODY 2", "* SEARCH 2 4"}, // one character
		{`BODY ""`, "* SEARCH 1 2 3 4"},
	} {
		r.expect("s SEARCH "+c.crit, "s OK", c.want)
	}
}

// BenchmarkSearch100k times UID SEARCH TEXT and SEARCH UNSEEN over IMAP on
// a 100,000-message mailbox (1,000 distinct messages, 100 copies each; one
// message in 100 contains the searched word, half are unseen).
func BenchmarkSearch100k(b *testing.B) {
	e := newSearchEnv(b)
	const distinct, copies = 1000, 100
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range distinct {
		word := "common"
		if i%100 == 0 {
			word = "needle"
		}
		raw := msgText(fmt.Sprintf("User %d <u%d@example.org>", i, i), searchUser, "", fmt.Sprintf("Message %d", i),
			"Mon, 08 Jan 2024 10:00:00 +0000", fmt.Sprintf("<m%d@x>", i), "", fmt.Sprintf("body %d %s text\r\n%s", i, word,
				strings.Repeat("lorem ipsum dolor sit amet ", 20)))
		targets := make([]storage.Target, copies)
		for j := range targets {
			if j%2 == 0 {
				targets[j].Flags = []string{`\Seen`}
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e.deliver(b, raw, targets...)
		}()
	}
	wg.Wait()
	r := e.raw(b)
	b.ResetTimer()
	b.Run("UID_SEARCH_TEXT", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			untagged, tagged := r.cmd(fmt.Sprintf("t%d UID SEARCH TEXT needle", i))
			if !strings.Contains(tagged, "OK") || len(untagged) == 0 || strings.Count(untagged[len(untagged)-1], " ") != 1+copies*distinct/100 {
				b.Fatalf("unexpected answer %q", tagged)
			}
		}
	})
	b.Run("SEARCH_UNSEEN", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			untagged, tagged := r.cmd(fmt.Sprintf("u%d SEARCH UNSEEN", i))
			if !strings.Contains(tagged, "OK") || len(untagged) == 0 || strings.Count(untagged[len(untagged)-1], " ") != 1+copies*distinct/2 {
				b.Fatalf("unexpected answer %q", tagged)
			}
		}
	})
	b.Run("SELECT", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, tagged := r.cmd(fmt.Sprintf("s%d SELECT INBOX", i)); !strings.Contains(tagged, "OK") {
				b.Fatalf("unexpected answer %q", tagged)
			}
		}
	})
	b.Run("UID_FETCH_FLAGS", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			untagged, tagged := r.cmd(fmt.Sprintf("x%d UID FETCH 1:* (FLAGS)", i))
			if !strings.Contains(tagged, "OK") || len(untagged) != copies*distinct {
				b.Fatalf("unexpected answer %q after %d lines", tagged, len(untagged))
			}
		}
	})
	b.Run("UID_SEARCH_RETURN_COUNT_FROM", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, tagged := r.cmd(fmt.Sprintf("f%d UID SEARCH RETURN (COUNT) FROM u77@", i))
			if !strings.Contains(tagged, "OK") {
				b.Fatalf("unexpected answer %q", tagged)
			}
		}
	})
}

// TestESearchModSeqOfReturned checks RFC 7162 3.1.5 for ESEARCH: MODSEQ is
// the highest modseq of the messages returned (MIN alone: that message's),
// and RFC 7162 3.1.2.1: the CONDSTORE-enabling FETCH MODSEQ reports the
// mailbox's HIGHESTMODSEQ first (imaptest "esearch-condstore").
func TestESearchModSeqOfReturned(t *testing.T) {
	e := newSearchEnv(t)
	for i := range 4 {
		e.deliver(t, msgText("a@example.org", searchUser, "", "m"+strconv.Itoa(i), "Mon, 08 Jan 2024 10:00:00 +0000", "", "", "x"), storage.Target{})
	}
	r := e.raw(t)
	got := r.expect("f FETCH 1 MODSEQ", "f OK")
	if len(got) != 2 || !strings.HasPrefix(got[0], "* OK [HIGHESTMODSEQ ") {
		t.Fatalf("first MODSEQ fetch: %q", got)
	}
	modseq := map[int]string{}
	for _, n := range []int{1, 3, 2, 4} { // 2 changes after 3
		got := r.expect(fmt.Sprintf("s STORE %d +FLAGS \\Seen", n), "s OK")
		i := strings.Index(got[len(got)-1], "MODSEQ (")
		if i < 0 {
			t.Fatalf("STORE: %q", got)
		}
		modseq[n] = strings.TrimSuffix(got[len(got)-1][i+len("MODSEQ ("):], "))")
	}
	for _, c := range []struct{ ret, set, want string }{
		{"(MIN)", "1:3", "MIN 1 MODSEQ " + modseq[1]},
		{"(MAX)", "1:3", "MAX 3 MODSEQ " + modseq[3]},
		{"()", "1:3", "ALL 1:3 MODSEQ " + modseq[2]},
		{"(MIN MAX)", "2:3", "MIN 2 MAX 3 MODSEQ " + modseq[2]},
		{"(MIN MAX)", "1:3", "MIN 1 MAX 3 MODSEQ " + modseq[3]},
	} {
		got := r.expect("q SEARCH RETURN "+c.ret+" "+c.set+` MODSEQ "/flags/\\seen" all 1`, "q OK")
		if want := `* ESEARCH (TAG "q") ` + c.want; len(got) != 1 || got[0] != want {
			t.Errorf("RETURN %s %s: %q, want %q", c.ret, c.set, got, want)
		}
	}
}
