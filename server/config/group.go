package config

import (
	"slices"
	"strings"
)

// Group is a [[group]] entry: a distribution list (SPEC §2). Mail to its
// address reaches every member; an ACL entry naming it applies to every
// member. Ownership is as for accounts and aliases: a group declared here
// is owned by the file (the CLI refuses to change it), and one removed
// from the file is deleted at the next reload.
type Group struct {
	Address string   `toml:"address"`
	Members []string `toml:"members"`
}

// validateGroups checks [[group]]: the address in a declared domain and
// not declared as an account or alias too; members are account addresses
// (whether they exist is checked when the server writes the group).
func (c *Config) validateGroups(v *validator, domains, addresses map[string]string) {
	for i := range c.Groups {
		g := &c.Groups[i]
		path := indexKey("group", i)
		g.Address = strings.ToLower(g.Address)
		if v.address(path+".address", g.Address, domains, "groups") {
			if prev, dup := addresses[g.Address]; dup {
				v.fail(path+".address", "%q is already declared at %s", g.Address, prev)
			} else {
				addresses[g.Address] = v.where(path)
			}
		}
		for j, m := range g.Members {
			m = strings.ToLower(strings.TrimSpace(m))
			g.Members[j] = m
			if _, err := checkAddress(m); err != nil {
				v.fail(path+".members", "%q: %s", m, err)
			} else if m == g.Address {
				v.fail(path+".members", "%q is a member of itself", m)
			}
		}
		slices.Sort(g.Members)
		g.Members = slices.Compact(g.Members)
	}
}
