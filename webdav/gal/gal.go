// Package gal maintains a Global Address Book (SPEC §6): a contacts folder
// the server fills with one vCard per account and group of a domain, so
// that IMAP sync clients (as messages) and CardDAV clients (as an address
// book) find every colleague. Sync reconciles the folder with the
// directory: new entries are added, changed ones replaced, removed ones
// expunged, each through the one write path (storage/ingest), so the
// folder's sync tokens and IMAP sessions see every change.
package gal

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/item"
)

// Entry is one address of the book.
type Entry struct {
	Address string // lowercase local@domain
	Name    string // display name; the local part when empty
	// Group entries list their members' addresses (vCard 4.0 KIND:group,
	// RFC 6350 6.1.4 and 6.6.5).
	Group   bool
	Members []string
}

// UID is the vCard UID of an entry: stable for its address.
func UID(address string) string { return "gal-" + strings.ToLower(address) }

func escape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\n", `\n`, "\r", "")
	return r.Replace(s)
}

// Card renders the vCard 4.0 of an entry. The text depends only on the
// entry, so an unchanged entry renders the same bytes.
func Card(e Entry) []byte {
	name := e.Name
	if name == "" {
		name, _, _ = strings.Cut(e.Address, "@")
	}
	var b bytes.Buffer
	b.WriteString("BEGIN:VCARD\r\nVERSION:4.0\r\nPRODID:-//Floe//Global Address Book//EN\r\n")
	fmt.Fprintf(&b, "UID:%s\r\n", UID(e.Address))
	if e.Group {
		b.WriteString("KIND:group\r\n")
	} else {
		b.WriteString("KIND:individual\r\n")
	}
	fmt.Fprintf(&b, "FN:%s\r\n", escape(name))
	if !e.Group {
		given, family := name, ""
		if i := strings.LastIndexByte(name, ' '); i > 0 {
			given, family = name[:i], name[i+1:]
		}
		fmt.Fprintf(&b, "N:%s;%s;;;\r\n", escape(family), escape(given))
	}
	fmt.Fprintf(&b, "EMAIL;TYPE=work:%s\r\n", escape(e.Address))
	members := slices.Clone(e.Members)
	slices.Sort(members)
	for _, m := range slices.Compact(members) {
		fmt.Fprintf(&b, "MEMBER:mailto:%s\r\n", escape(m))
	}
	b.WriteString("END:VCARD\r\n")
	return b.Bytes()
}

// Result counts what Sync changed.
type Result struct{ Added, Changed, Removed int }

// Sync makes the contacts folder mbox of owner hold exactly the cards of
// entries (see the package comment). A card whose stored payload equals
// the rendered one is left alone, so a sync with no directory change
// writes nothing and keeps the folder's sync token.
func Sync(ctx context.Context, st storage.Store, owner storage.Account, mbox storage.MailboxID, entries []Entry) (Result, error) {
	var res Result
	items, err := st.Items(ctx, mbox, storage.ItemQuery{Data: true})
	if err != nil {
		return res, err
	}
	have := make(map[string]storage.Item, len(items))
	for _, it := range items {
		have[it.Index.UID] = it
	}
	want := make(map[string]bool, len(entries))
	for _, e := range entries {
		uid := UID(e.Address)
		if want[uid] {
			continue
		}
		want[uid] = true
		card := Card(e)
		cur, exists := have[uid]
		if exists && samePayload(ctx, st, &cur, card) {
			continue
		}
		idx, stored, err := item.ParseContact(card, "")
		if err != nil {
			return res, fmt.Errorf("gal: card of %s: %w", e.Address, err)
		}
		msg := item.Compose(idx, stored, item.MessageOptions{FolderType: storage.FolderTypeContact, From: owner.Address})
		tgt := storage.Target{Account: owner.ID, Mailbox: mbox, ItemName: idx.DefaultName}
		if exists {
			tgt.Replace = cur.UID
		}
		if _, _, err := ingest.Put(ctx, st, bytes.NewReader(msg), tgt); err != nil {
			return res, fmt.Errorf("gal: store %s: %w", e.Address, err)
		}
		if exists {
			res.Changed++
		} else {
			res.Added++
		}
	}
	var gone []storage.UID
	for uid, it := range have {
		if !want[uid] {
			gone = append(gone, it.UID)
		}
	}
	if len(gone) > 0 {
		removed, err := st.Expunge(ctx, mbox, gone)
		if err != nil {
			return res, err
		}
		res.Removed = len(removed)
	}
	return res, nil
}

func samePayload(ctx context.Context, st storage.Store, it *storage.Item, card []byte) bool {
	if it.Index.Data != nil {
		return bytes.Equal(it.Index.Data, card)
	}
	if it.Structure == nil {
		return false
	}
	b, err := st.OpenBlob(ctx, it.Blob)
	if err != nil {
		return false
	}
	defer b.Close()
	data, _, err := item.PayloadOf(it.Structure, it.Header, b)
	return err == nil && bytes.Equal(data, card)
}

// AccountEntries returns the enabled accounts of domain as entries, with
// their display names.
func AccountEntries(ctx context.Context, st storage.Store, domain string) ([]Entry, error) {
	accts, err := st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	suffix := "@" + strings.ToLower(domain)
	for _, a := range accts {
		if a.Disabled || !strings.HasSuffix(a.Address, suffix) || strings.HasPrefix(a.Address, "@") {
			continue
		}
		out = append(out, Entry{Address: a.Address, Name: a.Name})
	}
	return out, nil
}
