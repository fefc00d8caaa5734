package imap

// THREAD algorithms of RFC 5256: ORDEREDSUBJECT (section 3, "ORDEREDSUBJECT")
// and REFERENCES (section 3, "REFERENCES", steps 1 to 6). These functions
// are pure: they take the matching messages in sequence order and return
// the thread forest; cmd_sort.go reads the messages and writes the response.

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// threadMsg is what threading needs of one message.
type threadMsg struct {
	num   uint32    // what the response shows: sequence number or UID
	seq   uint32    // tie-breaker (RFC 5256: sequence order)
	date  time.Time // sent date (Date header, else internal date)
	base  string    // base subject, compared with i;ascii-casemap
	reply bool      // subject extraction removed a reply/forward marker
	id    string    // Message-ID, "" when none
	refs  []string  // References, or the first In-Reply-To ID
}

// threadNode is one node of a thread tree; num 0 is a dummy (only at the
// top level, holding several children).
type threadNode struct {
	num      uint32
	children []*threadNode
}

// newThreadMsg extracts the threading data of a message loaded with
// FieldEnvelope|FieldThreading.
func newThreadMsg(seq, num uint32, m *storage.Message) threadMsg {
	t := threadMsg{num: num, seq: seq, date: sentDate(m), base: m.BaseSubject}
	subject := ""
	if m.Envelope != nil {
		subject = m.Envelope.Subject
		if ids := mimeparse.MessageIDs(m.Envelope.MessageID); len(ids) > 0 {
			t.id = ids[0]
		}
	}
	if t.base == "" && subject != "" {
		t.base = mimeparse.BaseSubject(subject)
	}
	t.reply = !strings.EqualFold(strings.Join(strings.Fields(subject), " "), strings.Join(strings.Fields(t.base), " "))
	for _, r := range m.References {
		t.refs = append(t.refs, mimeparse.MessageIDs(r)...)
	}
	if len(t.refs) == 0 && m.Envelope != nil {
		if ids := mimeparse.MessageIDs(m.Envelope.InReplyTo); len(ids) > 0 {
			t.refs = ids[:1]
		}
	}
	return t
}

// asciiLower folds ASCII letters only (the i;ascii-casemap collation).
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// compareDate orders by sent date, then sequence number.
func compareDate(a, b *threadMsg) int {
	if c := a.date.Compare(b.date); c != 0 {
		return c
	}
	return int(a.seq) - int(b.seq)
}

// threadOrderedSubject implements ORDEREDSUBJECT: messages are sorted by
// base subject then sent date; each run of one base subject is a thread
// whose first message is the parent of all the others, and threads are
// ordered by the sent date of their first message.
func threadOrderedSubject(msgs []threadMsg) []*threadNode {
	sorted := make([]*threadMsg, len(msgs))
	keys := make(map[*threadMsg]string, len(msgs))
	for i := range msgs {
		sorted[i] = &msgs[i]
		keys[&msgs[i]] = asciiLower(msgs[i].base)
	}
	slices.SortStableFunc(sorted, func(a, b *threadMsg) int {
		if c := strings.Compare(keys[a], keys[b]); c != 0 {
			return c
		}
		return compareDate(a, b)
	})
	type group struct {
		first *threadMsg
		node  *threadNode
	}
	var groups []group
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && keys[sorted[j]] == keys[sorted[i]] {
			j++
		}
		root := &threadNode{num: sorted[i].num}
		for _, m := range sorted[i+1 : j] {
			root.children = append(root.children, &threadNode{num: m.num})
		}
		groups = append(groups, group{sorted[i], root})
		i = j
	}
	slices.SortStableFunc(groups, func(a, b group) int { return compareDate(a.first, b.first) })
	out := make([]*threadNode, len(groups))
	for i, g := range groups {
		out[i] = g.node
	}
	return out
}

// container is a node of the REFERENCES message-ID graph.
type container struct {
	msg      *threadMsg // nil: dummy
	parent   *container
	children []*container
}

func (c *container) unlink() {
	if p := c.parent; p != nil {
		if i := slices.Index(p.children, c); i >= 0 {
			p.children = slices.Delete(p.children, i, i+1)
		}
		c.parent = nil
	}
}

func (c *container) adopt(child *container) {
	child.unlink()
	child.parent = c
	c.children = append(c.children, child)
}

// isAncestor reports whether a is b or one of b's ancestors.
func isAncestor(a, b *container) bool {
	for n := b; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

// first returns the message that represents c for dates and subjects: c's
// own or, for a dummy, its first child's (recursively).
func (c *container) first() *threadMsg {
	for n := c; n != nil; {
		if n.msg != nil {
			return n.msg
		}
		if len(n.children) == 0 {
			return nil
		}
		n = n.children[0]
	}
	return nil
}

func compareContainers(a, b *container) int {
	ma, mb := a.first(), b.first()
	switch {
	case ma == nil && mb == nil:
		return 0
	case ma == nil:
		return -1
	case mb == nil:
		return 1
	}
	return compareDate(ma, mb)
}

// sortSiblings sorts every sibling list by sent date, deepest first, so that
// a dummy is ordered by its (already sorted) first child (RFC 5256 step 6).
func sortSiblings(cs []*container) {
	for _, c := range cs {
		sortSiblings(c.children)
	}
	slices.SortStableFunc(cs, compareContainers)
}

// prune applies RFC 5256 REFERENCES step 3 to a sibling list: dummies
// without children disappear, dummies with children are replaced by them,
// except at the top level when they have more than one child.
func prune(cs []*container, parent *container) []*container {
	var out []*container
	for _, c := range cs {
		c.children = prune(c.children, c)
		if c.msg != nil {
			out = append(out, c)
			continue
		}
		switch {
		case len(c.children) == 0:
		case parent != nil || len(c.children) == 1:
			for _, k := range c.children {
				k.parent = parent
				out = append(out, k)
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// threadReferences implements the REFERENCES algorithm of RFC 5256.
func threadReferences(msgs []threadMsg) []*threadNode {
	// Step 1: the message-ID graph.
	byID := make(map[string]*container)
	var all []*container // creation order, for a deterministic root set
	get := func(id string) *container {
		c, ok := byID[id]
		if !ok {
			c = &container{}
			byID[id] = c
			all = append(all, c)
		}
		return c
	}
	for i := range msgs {
		m := &msgs[i]
		id := m.id
		if id == "" || (byID[id] != nil && byID[id].msg != nil) {
			// No or duplicate Message-ID: a unique one (step 1.A).
			id = "\x00" + strconv.Itoa(i)
		}
		c := get(id)
		c.msg = m
		// Step 1.B: link the references as a chain, never changing an
		// existing parent and never making a loop.
		var prev *container
		for _, r := range m.refs {
			rc := get(r)
			if prev != nil && rc.parent == nil && !isAncestor(rc, prev) {
				prev.adopt(rc)
			}
			prev = rc
		}
		// Step 1.C: the last reference is the message's parent.
		c.unlink()
		if prev != nil && !isAncestor(c, prev) {
			prev.adopt(c)
		}
	}
	// Step 2: the root set.
	var roots []*container
	for _, c := range all {
		if c.parent == nil {
			roots = append(roots, c)
		}
	}
	// Step 3: prune dummies.
	roots = prune(roots, nil)
	// Step 4: sort the root set by sent date.
	sortSiblings(roots)
	// Step 5: group the root set by base subject.
	subject := func(c *container) (string, bool, bool) {
		m := c.first()
		if m == nil {
			return "", false, false
		}
		return asciiLower(m.base), m.reply, true
	}
	table := make(map[string]*container)
	for _, c := range roots {
		s, reply, ok := subject(c)
		if !ok || s == "" {
			continue
		}
		old := table[s]
		replace := old == nil
		if !replace {
			_, oldReply, _ := subject(old)
			replace = (c.msg == nil && old.msg != nil) ||
				(old.msg != nil && c.msg != nil && oldReply && !reply)
		}
		if replace {
			table[s] = c
		}
	}
	removed := make(map[*container]bool)
	for i := 0; i < len(roots); i++ {
		c := roots[i]
		if removed[c] {
			continue
		}
		s, reply, ok := subject(c)
		if !ok || s == "" {
			continue
		}
		t := table[s]
		if t == nil || t == c {
			continue
		}
		_, tReply, _ := subject(t)
		switch {
		case t.msg == nil && c.msg == nil:
			for _, k := range slices.Clone(c.children) {
				t.adopt(k)
			}
			removed[c] = true
		case t.msg == nil:
			t.adopt(c)
			removed[c] = true
		case c.msg == nil:
			// Keep the dummy: the message in the table goes under it.
			c.adopt(t)
			removed[t] = true
			table[s] = c
		case !tReply && reply:
			t.adopt(c)
			removed[c] = true
		default:
			d := &container{}
			j := slices.Index(roots, t)
			d.adopt(t)
			d.adopt(c)
			roots[j] = d
			removed[c] = true
			table[s] = d
		}
	}
	var kept []*container
	for _, c := range roots {
		if !removed[c] {
			kept = append(kept, c)
		}
	}
	// Step 6: sort every sibling list by sent date.
	sortSiblings(kept)
	return toNodes(kept)
}

func toNodes(cs []*container) []*threadNode {
	out := make([]*threadNode, 0, len(cs))
	for _, c := range cs {
		n := &threadNode{children: toNodes(c.children)}
		if c.msg != nil {
			n.num = c.msg.num
		}
		out = append(out, n)
	}
	return out
}

// formatThreads writes the thread-list of an RFC 5256 THREAD response:
// "(1 2 (3)(4 5))": a single child follows its parent after a space,
// several children are each parenthesised; a dummy shows only its children.
func formatThreads(ts []*threadNode) string {
	var b strings.Builder
	for _, t := range ts {
		b.WriteByte('(')
		writeBranch(&b, t)
		b.WriteByte(')')
	}
	return b.String()
}

func writeBranch(b *strings.Builder, n *threadNode) {
	for {
		if n.num != 0 {
			b.WriteString(strconv.FormatUint(uint64(n.num), 10))
		}
		switch len(n.children) {
		case 0:
			return
		case 1:
			if n.num != 0 {
				b.WriteByte(' ')
			}
			n = n.children[0]
			continue
		}
		if n.num != 0 {
			b.WriteByte(' ')
		}
		for _, k := range n.children {
			b.WriteByte('(')
			writeBranch(b, k)
			b.WriteByte(')')
		}
		return
	}
}
