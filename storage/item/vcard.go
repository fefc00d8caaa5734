package item

import (
	"bytes"
	"io"
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/floemail/floe/storage"
)

// DecodeContact decodes one vCard with the size and nesting limits
// applied first. Errors are *Invalid (valid-address-data).
func DecodeContact(data []byte) (card vcard.Card, err error) {
	if len(data) > MaxPayload {
		return nil, invalid(PreMaxResourceSize, "the item is larger than %d bytes", MaxPayload)
	}
	if err := checkNesting(data, 2); err != nil {
		return nil, invalid(PreValidAddressData, "%v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			card, err = nil, invalid(PreValidAddressData, "malformed vCard data")
		}
	}()
	dec := vcard.NewDecoder(bytes.NewReader(data))
	card, err = dec.Decode()
	if err != nil {
		return nil, invalid(PreValidAddressData, "not vCard data: %s", cleanErr(err))
	}
	if _, err := dec.Decode(); err != io.EOF {
		return nil, invalid(PreValidAddressData, "more than one vCard in one address object")
	}
	return card, nil
}

// ParseContact validates an address object resource (RFC 6352 5.1: one
// vCard, version 3.0 or 4.0, with a UID) and returns its index. A vCard
// without UID gets fallbackUID when it is not empty (the returned payload
// then differs from data); without either it is refused.
func ParseContact(data []byte, fallbackUID string) (*storage.ItemIndex, []byte, error) {
	card, err := DecodeContact(data)
	if err != nil {
		return nil, nil, err
	}
	switch v := strings.TrimSpace(card.Value(vcard.FieldVersion)); v {
	case "3.0", "4.0":
	case "":
		return nil, nil, invalid(PreValidAddressData, "the vCard has no VERSION")
	default:
		return nil, nil, invalid(PreSupportedAddressData, "vCard version %s is not supported (3.0 and 4.0 are)", v)
	}
	uid := strings.TrimSpace(card.Value(vcard.FieldUID))
	out := data
	if uid == "" {
		if fallbackUID == "" {
			return nil, nil, invalid(PreValidAddressData, "the vCard has no UID")
		}
		uid = fallbackUID
		card.SetValue(vcard.FieldUID, uid)
		var b bytes.Buffer
		if err := vcard.NewEncoder(&b).Encode(card); err != nil {
			return nil, nil, invalid(PreValidAddressData, "the vCard cannot be re-encoded: %s", cleanErr(err))
		}
		out = b.Bytes()
	}
	if len(uid) > storage.MaxItemUID {
		return nil, nil, invalid(PreValidAddressData, "the UID is longer than %d bytes", storage.MaxItemUID)
	}
	return IndexContact(card, uid), out, nil
}

// IndexContact returns the index of a decoded vCard with the given UID.
func IndexContact(card vcard.Card, uid string) *storage.ItemIndex {
	idx := &storage.ItemIndex{Kind: storage.ItemContact, UID: uid, DefaultName: DefaultName(uid, storage.ItemContact)}
	add := func(list *[]string, v string) {
		v = strings.TrimSpace(v)
		if v == "" || len(*list) >= storage.MaxItemListValues {
			return
		}
		v = cut(v, storage.MaxItemText)
		for _, x := range *list {
			if x == v {
				return
			}
		}
		*list = append(*list, v)
	}
	fn := strings.TrimSpace(card.PreferredValue(vcard.FieldFormattedName))
	for _, f := range card[vcard.FieldFormattedName] {
		add(&idx.Names, f.Value)
	}
	for _, n := range card.Names() {
		add(&idx.Names, strings.TrimSpace(strings.Join(nonEmpty(n.GivenName, n.AdditionalName, n.FamilyName), " ")))
	}
	for _, f := range card[vcard.FieldNickname] {
		add(&idx.Names, f.Value)
	}
	for _, f := range card[vcard.FieldOrganization] {
		add(&idx.Names, strings.ReplaceAll(f.Value, ";", " "))
	}
	for _, f := range card[vcard.FieldEmail] {
		add(&idx.Emails, strings.ToLower(strings.TrimPrefix(f.Value, "mailto:")))
	}
	for _, f := range card[vcard.FieldTelephone] {
		add(&idx.Phones, strings.TrimPrefix(f.Value, "tel:"))
	}
	if fn == "" && len(idx.Names) > 0 {
		fn = idx.Names[0]
	}
	if fn == "" && len(idx.Emails) > 0 {
		fn = idx.Emails[0]
	}
	idx.Summary = cut(fn, storage.MaxItemText)
	return idx
}

func nonEmpty(v ...string) []string {
	var out []string
	for _, s := range v {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
