package imap

import (
	"testing"

	"github.com/floemail/floe/acl"
)

func TestParseACLArgs(t *testing.T) {
	tests := []struct {
		in            string
		ident, rights bool
		want          aclArgs
		err           bool
	}{
		{` INBOX` + "\r\n", false, false, aclArgs{mailbox: "INBOX"}, false},
		{` "~jane@example.test/Calendar"` + "\r\n", false, false, aclArgs{mailbox: "~jane@example.test/Calendar"}, false},
		{` Shared john lrs` + "\r\n", true, true, aclArgs{mailbox: "Shared", ident: "john", op: acl.OpSet, rights: acl.Of(acl.Lookup, acl.Read, acl.Seen)}, false},
		{` Shared "-john@example.test" +w` + "\r\n", true, true, aclArgs{mailbox: "Shared", ident: "-john@example.test", op: acl.OpAdd, rights: acl.Of(acl.Write)}, false},
		{` Shared anyone -te` + "\r\n", true, true, aclArgs{mailbox: "Shared", ident: "anyone", op: acl.OpRemove, rights: acl.Of(acl.DeleteMessages, acl.Expunge)}, false},
		{` Shared anyone ""` + "\r\n", true, true, aclArgs{mailbox: "Shared", ident: "anyone", op: acl.OpSet}, false},
		{` Shared {4+}` + "\r\njohn cd\r\n", true, true, aclArgs{mailbox: "Shared", ident: "john", op: acl.OpSet, rights: acl.Of(acl.CreateMailbox, acl.DeleteMailbox, acl.DeleteMessages, acl.Expunge)}, false},
		{` Shared john` + "\r\n", true, false, aclArgs{mailbox: "Shared", ident: "john"}, false},
		{` Shared john lrz` + "\r\n", true, true, aclArgs{}, true},
		{` Shared john` + "\r\n", true, true, aclArgs{}, true},
		{` Shared john lr extra` + "\r\n", true, true, aclArgs{}, true},
		{`Shared` + "\r\n", false, false, aclArgs{}, true},
		{` (x) john lr` + "\r\n", true, true, aclArgs{}, true},
	}
	for _, tc := range tests {
		got, err := parseACLArgs(testDecoder(tc.in), tc.ident, tc.rights)
		if (err != nil) != tc.err {
			t.Errorf("parseACLArgs(%q): error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("parseACLArgs(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// FuzzACLArgs: the ACL commands' parser never panics, and what it accepts
// gives a known operation, known rights, and an identifier that is either
// refused or canonical.
func FuzzACLArgs(f *testing.F) {
	for _, s := range []string{
		" INBOX\r\n", " Shared john lrs\r\n", ` Shared "-john@example.test" +w` + "\r\n", " Shared anyone -te\r\n",
		" \"~jane@example.test\" team@example.test read\r\n", " Shared {4+}\r\njohn cd\r\n", " #public/Support example.test lr\r\n",
		" Shared john lrz\r\n", " Shared \"\" \"\"\r\n",
	} {
		f.Add(s, true, true)
		f.Add(s, true, false)
		f.Add(s, false, false)
	}
	f.Fuzz(func(t *testing.T, in string, ident, rights bool) {
		a, err := parseACLArgs(testDecoder(in), ident, rights)
		if err != nil {
			return
		}
		if a.op > acl.OpRemove || a.rights&^acl.All != 0 {
			t.Fatalf("parseACLArgs(%q) = %+v", in, a)
		}
		tg := aclTarget{ownerAddr: "jane@example.test"}
		id, neg, err := tg.entryName(a.ident)
		if err != nil {
			return
		}
		id2, neg2, err := tg.entryName((acl.Entry{Identifier: id, Negative: neg}).Name())
		if err != nil || id2 != id || neg2 != neg {
			t.Fatalf("identifier %q -> %q %v, reparsed %q %v %v", a.ident, id, neg, id2, neg2, err)
		}
	})
}
