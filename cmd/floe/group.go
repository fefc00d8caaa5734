package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// sharingFlags are the flags of the sharing commands.
type sharingFlags struct {
	folderType string // folder add-public --type
}

// sharingCommands are the commands of groups, sharing, public folders and
// send-as (group.go, share.go, sendas.go).
func sharingCommands() []*command {
	return []*command{
		{name: "group add", args: "GROUP-ADDRESS", summary: "create a group (distribution list): mail to it reaches every member",
			run: (*app).groupAdd, nargs: 1},
		{name: "group del", args: "GROUP-ADDRESS", summary: "delete a group (the folders shared with it are no longer shared with its members)",
			run: (*app).groupDel, nargs: 1},
		{name: "group list", summary: "list groups with their members", run: (*app).groupList, nargs: 0},
		{name: "group member add", args: "GROUP-ADDRESS MEMBER-ADDRESS", summary: "add an account to a group",
			run: (*app).groupMemberAdd, nargs: 2},
		{name: "group member del", args: "GROUP-ADDRESS MEMBER-ADDRESS", summary: "remove an account from a group",
			run: (*app).groupMemberDel, nargs: 2},
		{name: "group member list", args: "GROUP-ADDRESS", summary: "list the members of a group",
			run: (*app).groupMemberList, nargs: 1},
		{name: "share add", args: "OWNER[/FOLDER] GRANTEE RIGHTS",
			summary: "share a folder (or, without /FOLDER, the whole account) with GRANTEE: an address, a group, a domain, authenticated or anyone (a negative entry -GRANTEE goes after \"--\"); RIGHTS as letters (lrs) or a set (read, write, modify, delete, administer, all, full, none, read+write)",
			run:     (*app).shareAdd, nargs: 3},
		{name: "share del", args: "OWNER[/FOLDER] GRANTEE", summary: "remove GRANTEE's entry from the ACL of a folder or account",
			run: (*app).shareDel, nargs: 2},
		{name: "share inherit", args: "OWNER/FOLDER", summary: "remove a folder's own ACL: it follows its parent (or the account) again",
			run: (*app).shareInherit, nargs: 1},
		{name: "share list", args: "[ACCOUNT]", summary: "list the ACLs of an account (or of every account and public folder owner)",
			run: (*app).shareList, nargs: -1},
		{name: "folder add-public", args: "DOMAIN NAME [--type TYPE]",
			summary: "create the public folder #public/NAME of DOMAIN (share it with floe share add @DOMAIN/NAME ...)",
			run:     (*app).folderAddPublic, nargs: 2, flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.StringVar(&c.sharing.folderType, "type", "", "groupware folder type: mail, event, contact, task, note, journal or file")
			}},
		{name: "account send-as add", args: "ACCOUNT ADDRESS", summary: "let ACCOUNT send mail as ADDRESS (envelope sender and From)",
			run: (*app).sendAsAdd, nargs: 2},
		{name: "account send-as del", args: "ACCOUNT ADDRESS", summary: "take back ACCOUNT's right to send as ADDRESS",
			run: (*app).sendAsDel, nargs: 2},
		{name: "account send-as list", args: "[ACCOUNT]", summary: "list send-as grants (of one account or all)",
			run: (*app).sendAsList, nargs: -1},
	}
}

// findGroup returns the group addr; when there is none, an error that says
// how to list the groups.
func findGroup(ctx context.Context, st storage.Store, addr string) (storage.Group, error) {
	g, err := st.Group(ctx, addr)
	if errors.Is(err, storage.ErrNotFound) {
		return g, fmt.Errorf("no group %s; \"floe group list\" shows the groups", addr)
	}
	return g, err
}

// dbGroup returns a group the CLI may change: not declared in the file.
func dbGroup(ctx context.Context, cfg *config.Config, st storage.Store, addr string) (storage.Group, error) {
	g, err := findGroup(ctx, st, addr)
	if err != nil {
		return g, err
	}
	if g.Source == storage.SourceConfig {
		return g, configOwned(cfg, addr)
	}
	return g, nil
}

func (a *app) groupAdd(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if g, err := st.Group(ctx, addr); err == nil {
			if g.Source == storage.SourceConfig {
				return configOwned(cfg, addr)
			}
			return fmt.Errorf("group %s already exists; add members with \"floe group member add %s ADDRESS\"", addr, addr)
		}
		if err := st.PutGroup(ctx, storage.Group{Address: addr, Source: storage.SourceDB}); err != nil {
			if errors.Is(err, storage.ErrExists) {
				return fmt.Errorf("%s is already an account or an alias", addr)
			}
			return storeErr(cfg, addr, err)
		}
		fmt.Fprintf(a.stdout, "added group %s (no members yet; add them with \"floe group member add %s ADDRESS\")\n", addr, addr)
		return nil
	})
}

func (a *app) groupDel(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		g, err := dbGroup(ctx, cfg, st, addr)
		if err != nil {
			return err
		}
		if err := st.DeleteGroup(ctx, addr); err != nil {
			return storeErr(cfg, addr, err)
		}
		fmt.Fprintf(a.stdout, "removed group %s (%d members)\n", addr, len(g.Members))
		return nil
	})
}

func (a *app) groupList(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		groups, err := st.Groups(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tMEMBERS\tSOURCE")
		for _, g := range groups {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Address, strings.Join(g.Members, ","), g.Source)
		}
		return tw.Flush()
	})
}

// withGroupMember runs fn on the store for "group member add|del GROUP
// MEMBER": both addresses checked, the group one the CLI may change.
func (a *app) withGroupMember(c *cmdCtx, fn func(ctx context.Context, cfg *config.Config, st storage.Store, grp, member string) error) error {
	grp, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	member, err := checkAddress(c.args[1])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if _, err := dbGroup(ctx, cfg, st, grp); err != nil {
			return err
		}
		return fn(ctx, cfg, st, grp, member)
	})
}

func (a *app) groupMemberAdd(c *cmdCtx) error {
	return a.withGroupMember(c, func(ctx context.Context, cfg *config.Config, st storage.Store, grp, member string) error {
		switch err := st.AddGroupMember(ctx, grp, member); {
		case errors.Is(err, storage.ErrExists):
			return fmt.Errorf("%s is already a member of %s", member, grp)
		case err != nil:
			return storeErr(cfg, member, err)
		}
		fmt.Fprintf(a.stdout, "added %s to group %s\n", member, grp)
		// What is shared with the group is now shared with the member:
		// the information mail and the subscriptions, as for a grant.
		adm := view.NewAdmin(st, view.Options{Logger: a.cliLogger(), Hostname: cfg.Server.Hostname})
		if err := adm.MemberAdded(ctx, grp, member); err != nil {
			fmt.Fprintf(a.stderr, "floe: informing %s of what is shared with %s: %v\n", member, grp, err)
		}
		return nil
	})
}

func (a *app) groupMemberDel(c *cmdCtx) error {
	return a.withGroupMember(c, func(ctx context.Context, cfg *config.Config, st storage.Store, grp, member string) error {
		switch err := st.RemoveGroupMember(ctx, grp, member); {
		case errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("%s is not a member of %s", member, grp)
		case err != nil:
			return storeErr(cfg, member, err)
		}
		fmt.Fprintf(a.stdout, "removed %s from group %s\n", member, grp)
		return nil
	})
}

func (a *app) groupMemberList(c *cmdCtx) error {
	grp, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		g, err := findGroup(ctx, st, grp)
		if err != nil {
			return err
		}
		for _, m := range g.Members {
			fmt.Fprintln(a.stdout, m)
		}
		return nil
	})
}
