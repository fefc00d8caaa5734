package config

import (
	"slices"
	"strings"
	"testing"
)

func TestGroups(t *testing.T) {
	src := `
[[domain]]
name = "example.test"

[[account]]
address = "alice@example.test"
disabled = true

[[group]]
address = "Team@Example.test"
members = ["BOB@example.test", "alice@example.test", "bob@example.test"]
`
	c, err := parse("g.toml", []byte(src), Production())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 1 || c.Groups[0].Address != "team@example.test" || !slices.Equal(c.Groups[0].Members, []string{"alice@example.test", "bob@example.test"}) {
		t.Fatalf("groups: %+v", c.Groups)
	}
	c2 := c.Clone()
	c2.Groups[0].Members[0] = "x"
	if c.Groups[0].Members[0] != "alice@example.test" {
		t.Fatal("Clone shares the member list")
	}

	bad := `
[[domain]]
name = "example.test"

[[account]]
address = "alice@example.test"
disabled = true

[[group]]
address = "alice@example.test"

[[group]]
address = "g@other.test"

[[group]]
address = "team@example.test"
members = ["not-an-address", "team@example.test"]
`
	_, err = parse("g.toml", []byte(bad), Production())
	if err == nil {
		t.Fatal("bad groups accepted")
	}
	for _, want := range []string{
		`g.toml:10: group[0].address: "alice@example.test" is already declared at line 5`,
		`g.toml:13: group[1].address: "g@other.test": domain "other.test" is not declared`,
		`g.toml:17: group[2].members: "not-an-address"`,
		`g.toml:17: group[2].members: "team@example.test" is a member of itself`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
