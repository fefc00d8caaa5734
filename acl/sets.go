package acl

import (
	"fmt"
	"strings"
)

// Set is one of IceWarp's named sets of rights (SPEC §7; the seed's
// "Folder Access Rights" dialog), so that a person or an API can speak in
// sets as well as in RFC 4314 letters.
type Set struct {
	Name   string // lowercase, as ParseSpec accepts it
	Title  string // as shown to people
	Rights Rights
	// Words explains the set for the information mail.
	Words string
}

// The basic sets; a union of them is written as their names joined by "+".
var (
	SetRead       = Set{"read", "Read", Of(Lookup, Read, Seen), "see the folder and read its items"}
	SetWrite      = Set{"write", "Write", Of(Insert, CreateMailbox), "add items and create subfolders"}
	SetModify     = Set{"modify", "Modify", Of(Write), "change items (flags and keywords)"}
	SetDelete     = Set{"delete", "Delete", Of(DeleteMessages, Expunge, DeleteMailbox), "delete items and subfolders"}
	SetAdminister = Set{"administer", "Administer", Of(Administer), "change who may access the folder"}
)

// BasicSets are the sets a right belongs to, in the order they are named.
var BasicSets = []Set{SetRead, SetWrite, SetModify, SetDelete, SetAdminister}

// The composite sets of the seed: None, All (everything but Administer)
// and Full (everything).
var (
	SetNone = Set{"none", "None", 0, "no access"}
	SetAll  = Set{"all", "All", All &^ Of(Administer), "everything except changing who may access the folder"}
	SetFull = Set{"full", "Full", All, "everything, including changing who may access the folder"}
)

// ParseSpec parses rights given either as RFC 4314 letters ("lrs") or as
// set names, case-insensitively: "read", "full", "none", "all", or a union
// such as "read+write" or "read,write". A word that is a set name is the
// set even when it also reads as letters ("read" is Read = lrs, not
// r+e+a+d). "custom" is not a set: give the letters.
func ParseSpec(s string) (Rights, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if r, ok := setByName(t); ok {
		return r, nil
	}
	if strings.ContainsAny(t, "+,") {
		var r Rights
		for _, w := range strings.FieldsFunc(t, func(c rune) bool { return c == '+' || c == ',' || c == ' ' }) {
			sr, ok := setByName(w)
			if !ok {
				return 0, fmt.Errorf("acl: %q is not a set of rights (none, read, write, modify, delete, administer, all, full)", w)
			}
			r |= sr
		}
		return r, nil
	}
	r, err := Parse(t)
	if err != nil {
		return 0, fmt.Errorf("acl: %q is neither rights letters (lrswipkxtea) nor a set (none, read, write, modify, delete, administer, all, full)", s)
	}
	return r, nil
}

func setByName(w string) (Rights, bool) {
	for _, set := range append([]Set{SetNone, SetAll, SetFull}, BasicSets...) {
		if w == set.Name {
			return set.Rights, true
		}
	}
	return 0, false
}

// Describe names rights the way the seed's dialog does: "None", "Full",
// "All", a union of basic sets ("Read, Write"), or "Custom" followed by the
// letters when the rights are not a union of sets ("Custom (lr)").
func Describe(r Rights) string {
	switch r {
	case 0:
		return SetNone.Title
	case SetFull.Rights:
		return SetFull.Title
	case SetAll.Rights:
		return SetAll.Title
	}
	var names []string
	var covered Rights
	for _, s := range BasicSets {
		if r.Has(s.Rights) {
			names = append(names, s.Title)
			covered |= s.Rights
		}
	}
	if covered != r {
		return "Custom (" + r.String() + ")"
	}
	return strings.Join(names, ", ")
}

// letterWords explains each right for people (the information mail).
var letterWords = map[Right]string{
	Lookup:         "see the folder",
	Read:           "read its items",
	Seen:           "keep track of what you have read",
	Write:          "change flags and keywords",
	Insert:         "add items",
	Post:           "send mail to it",
	CreateMailbox:  "create subfolders",
	DeleteMailbox:  "delete or rename it",
	DeleteMessages: "mark items deleted",
	Expunge:        "remove deleted items",
	Administer:     "change who may access it",
}

// Words explains rights in a sentence fragment for people: the words of
// each basic set they hold whole, then those of the remaining single
// rights ("see the folder and read its items; add items and create
// subfolders").
func Words(r Rights) string {
	if r == 0 {
		return SetNone.Words
	}
	var parts []string
	rest := r
	for _, s := range BasicSets {
		if r.Has(s.Rights) {
			parts = append(parts, s.Words)
			rest &^= s.Rights
		}
	}
	for _, l := range letters {
		if rest&Rights(l.r) != 0 {
			parts = append(parts, letterWords[l.r])
		}
	}
	return strings.Join(parts, "; ")
}
