package carddav

import (
	"bytes"
	"errors"
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/floemail/floe/webdav/davxml"
)

// ErrSelection is a malformed address-data selection.
var ErrSelection = errors.New("invalid address-data")

// PropSelection is a CARDDAV:prop element of address-data (RFC 6352
// 10.4.2): a property returned, without its value when NoValue.
type PropSelection struct {
	Name    string // upper case
	NoValue bool
}

// ParseSelection reads the prop children of an address-data element: nil
// when it has none or has CARDDAV:allprop (every property is returned).
func ParseSelection(children []davxml.Any) ([]PropSelection, error) {
	var out []PropSelection
	all := false
	for _, c := range children {
		if c.XMLName.Space != davxml.NSCardDAV {
			continue
		}
		switch c.XMLName.Local {
		case "allprop":
			all = true
		case "prop":
			name, novalue := "", ""
			for _, a := range c.Attrs {
				switch a.Name.Local {
				case "name":
					name = strings.ToUpper(strings.TrimSpace(a.Value))
				case "novalue":
					novalue = a.Value
				}
			}
			if name == "" {
				return nil, errors.Join(ErrSelection, errors.New("prop without a name"))
			}
			if novalue != "" && novalue != "yes" && novalue != "no" {
				return nil, errors.Join(ErrSelection, errors.New("novalue must be yes or no"))
			}
			out = append(out, PropSelection{Name: name, NoValue: novalue == "yes"})
		}
	}
	if all && len(out) > 0 {
		return nil, errors.Join(ErrSelection, errors.New("allprop and prop together"))
	}
	if all {
		return nil, nil
	}
	return out, nil
}

// Select returns the vCard with only the selected properties (VERSION is
// always kept: a vCard needs it), encoded.
func Select(card vcard.Card, sel []PropSelection) ([]byte, error) {
	out := vcard.Card{}
	if v, ok := card[vcard.FieldVersion]; ok {
		out[vcard.FieldVersion] = v
	}
	for _, s := range sel {
		fields, ok := card[s.Name]
		if !ok || s.Name == vcard.FieldVersion {
			continue
		}
		if s.NoValue {
			cp := make([]*vcard.Field, len(fields))
			for i, f := range fields {
				cp[i] = &vcard.Field{Params: f.Params, Group: f.Group}
			}
			fields = cp
		}
		out[s.Name] = fields
	}
	var b bytes.Buffer
	if err := vcard.NewEncoder(&b).Encode(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
