package view

import (
	"strings"
	"testing"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// TestComposeShareNames: the information mail names the owner and the
// recipient by their display names when they have them, and by address
// alone otherwise.
func TestComposeShareNames(t *testing.T) {
	t.Parallel()
	read, _ := acl.Parse("lrs")
	jane := storage.Account{Address: "jane@example.test", Name: "Jane Doe"}
	john := storage.Account{Address: "john@example.test", Name: "Jöhn Smith"}
	msg := string(composeShare(&Options{}, jane, john, "Calendar", "~jane@example.test/Calendar", read, false))
	for _, want := range []string{
		"From: \"Jane Doe\" <jane@example.test>\r\n",
		"To: =?utf-8?q?J=C3=B6hn_Smith?= <john@example.test>\r\n",
		"Subject: Jane Doe (jane@example.test) shared the folder \"Calendar\" with you\r\n",
		"Jane Doe (jane@example.test) has shared the folder \"Calendar\" with you.",
		"owner=jane@example.test;",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("no %q in\n%s", want, msg)
		}
	}
	jane.Name, john.Name = "", ""
	msg = string(composeShare(&Options{}, jane, john, "Calendar", "~jane@example.test/Calendar", read, false))
	for _, want := range []string{"From: <jane@example.test>\r\n", "To: <john@example.test>\r\n",
		"Subject: jane@example.test shared the folder \"Calendar\" with you\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("no %q in\n%s", want, msg)
		}
	}
}
