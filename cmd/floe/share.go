package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// shareTarget is what a share command names: an account (or a domain's
// public folders, "@domain") and optionally one of its folders.
type shareTarget struct {
	owner storage.Account
	mbox  storage.MailboxID // storage.RootMailbox: the account
	path  string
}

func (t shareTarget) String() string {
	if t.path == "" {
		return t.owner.Address
	}
	return t.owner.Address + "/" + t.path
}

// resolveShareTarget parses OWNER[/FOLDER]: OWNER is an account address or
// "@domain" for the domain's public folders.
func resolveShareTarget(ctx context.Context, st storage.Store, arg string) (shareTarget, error) {
	owner, path, _ := strings.Cut(strings.TrimSpace(arg), "/")
	owner = strings.ToLower(owner)
	var t shareTarget
	var err error
	if strings.HasPrefix(owner, "@") {
		t.owner, err = st.PublicAccount(ctx, owner[1:], false)
		if errors.Is(err, storage.ErrNoAccount) || errors.Is(err, storage.ErrNoDomain) || errors.Is(err, storage.ErrInvalid) {
			return t, fmt.Errorf("%s has no public folders; create one with \"floe folder add-public %s NAME\"", owner, owner[1:])
		}
	} else {
		if _, err := checkAddress(owner); err != nil {
			return t, usagef("%q: write OWNER[/FOLDER], e.g. jane@example.test/Calendar, or @example.test/NAME for a public folder", arg)
		}
		t.owner, err = st.Account(ctx, owner)
		if errors.Is(err, storage.ErrNoAccount) {
			return t, fmt.Errorf("no account %s; \"floe account list\" shows the accounts", owner)
		}
	}
	if err != nil {
		return t, err
	}
	if path == "" {
		return t, nil
	}
	mb, err := st.Mailbox(ctx, t.owner.ID, path)
	if errors.Is(err, storage.ErrNoMailbox) {
		return t, fmt.Errorf("%s has no folder %q", t.owner.Address, path)
	}
	if err != nil {
		return t, err
	}
	t.mbox, t.path = mb.ID, mb.Name
	return t, nil
}

// adminFor returns the view.Admin of the CLI: ACL changes inform the
// grantees (information mail, subscription) as the server does.
func (a *app) adminFor(cfg *config.Config, st storage.Store) *view.Admin {
	return view.NewAdmin(st, view.Options{Logger: a.cliLogger(), Hostname: cfg.Server.Hostname})
}

func (a *app) shareAdd(c *cmdCtx) error {
	rights, err := acl.ParseSpec(c.args[2])
	if err != nil {
		return usagef("%v", err)
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		t, err := resolveShareTarget(ctx, st, c.args[0])
		if err != nil {
			return err
		}
		id, neg, err := acl.ParseEntryName(c.args[1], t.owner.Address[strings.LastIndexByte(t.owner.Address, '@')+1:])
		if err != nil {
			return usagef("%v; a grantee is an address, a group, a domain (example.test), authenticated or anyone (-GRANTEE for a negative entry)", err)
		}
		_, after, err := a.adminFor(cfg, st).ChangeACL(ctx, t.owner.ID, t.mbox, []acl.Change{{Identifier: id, Negative: neg, Op: acl.OpSet, Rights: rights}})
		if errors.Is(err, storage.ErrInvalid) {
			return fmt.Errorf("%s: %s owns it and always has every right", t, t.owner.Address)
		}
		if err != nil {
			return storeErr(cfg, t.String(), err)
		}
		e := acl.Entry{Identifier: id, Negative: neg, Rights: rights}
		if rights == 0 {
			fmt.Fprintf(a.stdout, "%s: removed %s\n", t, e.Name())
		} else {
			fmt.Fprintf(a.stdout, "%s: %s %s (%s)\n", t, e.Name(), rights, acl.Describe(rights))
		}
		a.printACL(after)
		return nil
	})
}

func (a *app) shareDel(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		t, err := resolveShareTarget(ctx, st, c.args[0])
		if err != nil {
			return err
		}
		id, neg, err := acl.ParseEntryName(c.args[1], t.owner.Address[strings.LastIndexByte(t.owner.Address, '@')+1:])
		if err != nil {
			return usagef("%v", err)
		}
		cur, err := st.GetACL(ctx, t.owner.ID, t.mbox)
		if err != nil {
			return storeErr(cfg, t.String(), err)
		}
		if !slices.ContainsFunc(cur.Entries, func(e acl.Entry) bool { return e.Identifier == id && e.Negative == neg }) {
			return fmt.Errorf("%s has no entry for %s; \"floe share list %s\" shows its ACL", t, (acl.Entry{Identifier: id, Negative: neg}).Name(), t.owner.Address)
		}
		_, after, err := a.adminFor(cfg, st).ChangeACL(ctx, t.owner.ID, t.mbox, []acl.Change{{Identifier: id, Negative: neg, Op: acl.OpDelete}})
		if err != nil {
			return storeErr(cfg, t.String(), err)
		}
		fmt.Fprintf(a.stdout, "%s: removed %s\n", t, (acl.Entry{Identifier: id, Negative: neg}).Name())
		a.printACL(after)
		return nil
	})
}

func (a *app) shareInherit(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		t, err := resolveShareTarget(ctx, st, c.args[0])
		if err != nil {
			return err
		}
		if t.mbox == storage.RootMailbox {
			return usagef("name a folder (OWNER/FOLDER); the account itself has nothing to inherit from")
		}
		_, after, err := a.adminFor(cfg, st).InheritACL(ctx, t.owner.ID, t.mbox)
		if err != nil {
			return storeErr(cfg, t.String(), err)
		}
		fmt.Fprintf(a.stdout, "%s now inherits its ACL\n", t)
		a.printACL(after)
		return nil
	})
}

// printACL prints the effective entries of an ACL, indented.
func (a *app) printACL(x storage.ACL) {
	if len(x.Entries) == 0 {
		fmt.Fprintln(a.stdout, "  (shared with nobody)")
	}
	for _, e := range x.Entries {
		fmt.Fprintf(a.stdout, "  %s %s (%s)\n", e.Name(), e.Rights, acl.Describe(e.Rights))
	}
}

func (a *app) shareList(c *cmdCtx) error {
	if len(c.args) > 1 {
		return usagef("at most one ACCOUNT")
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		var owners []storage.Account
		if len(c.args) == 1 {
			t, err := resolveShareTarget(ctx, st, c.args[0])
			if err != nil {
				return err
			}
			owners = []storage.Account{t.owner}
		} else {
			accts, err := st.Accounts(ctx)
			if err != nil {
				return err
			}
			owners = accts
			domains, err := st.Domains(ctx)
			if err != nil {
				return err
			}
			for _, d := range domains {
				if p, err := st.PublicAccount(ctx, d.Name, false); err == nil {
					owners = append(owners, p)
				}
			}
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FOLDER\tGRANTEE\tRIGHTS\tSET")
		for _, o := range owners {
			acls, err := st.ACLs(ctx, o.ID)
			if err != nil {
				return err
			}
			for _, x := range acls {
				name := o.Address + " (account)"
				if x.Mailbox != storage.RootMailbox {
					mb, err := st.MailboxByID(ctx, x.Mailbox)
					if err != nil {
						continue
					}
					name = o.Address + "/" + mb.Name
				}
				if len(x.Entries) == 0 {
					if x.Mailbox != storage.RootMailbox {
						fmt.Fprintf(tw, "%s\t(nobody: inheritance cancelled)\t\t\n", name)
					}
					continue
				}
				for _, e := range x.Entries {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, e.Name(), e.Rights, acl.Describe(e.Rights))
				}
			}
		}
		return tw.Flush()
	})
}

// kolabTypes are the folder types of /shared/vendor/kolab/folder-type
// (SPEC §6).
var kolabTypes = []string{"mail", "event", "contact", "task", "note", "journal", "file"}

func (a *app) folderAddPublic(c *cmdCtx) error {
	domain := strings.ToLower(strings.TrimSpace(c.args[0]))
	name := strings.Trim(strings.TrimSpace(c.args[1]), "/")
	if name == "" {
		return usagef("give the folder a name")
	}
	typ := strings.ToLower(c.sharing.folderType)
	if typ != "" && !slices.Contains(kolabTypes, typ) {
		return usagef("--type %q: use one of %s", typ, strings.Join(kolabTypes, ", "))
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		pub, err := st.PublicAccount(ctx, domain, true)
		if errors.Is(err, storage.ErrNoDomain) || errors.Is(err, storage.ErrInvalid) {
			return fmt.Errorf("%s is not a local domain; add it first with \"floe domain add %s\"", domain, domain)
		}
		if err != nil {
			return err
		}
		mb, err := st.CreateMailbox(ctx, pub.ID, name, "")
		if errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("#public/%s already exists in %s", name, domain)
		}
		if err != nil {
			return storeErr(cfg, "#public/"+name, err)
		}
		parts := strings.Split(mb.Name, "/")
		for i := 1; i < len(parts); i++ {
			if _, err := st.CreateMailbox(ctx, pub.ID, strings.Join(parts[:i], "/"), ""); err != nil && !errors.Is(err, storage.ErrExists) {
				return err
			}
		}
		if typ != "" && typ != "mail" {
			if err := st.SetMetadata(ctx, pub.ID, mb.ID, []storage.MetadataEntry{{Name: "/shared/vendor/kolab/folder-type", Value: []byte(typ)}}); err != nil {
				return err
			}
		}
		fmt.Fprintf(a.stdout, "created #public/%s in %s; share it with e.g. \"floe share add %s/%s %s read\"\n", mb.Name, domain, pub.Address, mb.Name, domain)
		return nil
	})
}
