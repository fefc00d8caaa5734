package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

func (a *app) accountAdd(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	var quota config.Size
	if c.quota != "" {
		if quota, err = config.ParseSize(c.quota); err != nil {
			return usagef("--quota: %v", err)
		}
	}
	if c.quotaMessages < 0 {
		return usagef("--quota-messages must not be negative (0 means unlimited)")
	}
	name := strings.TrimSpace(c.name)
	if !storage.ValidDisplayName(name) {
		return usagef("--name: %q is not a display name (at most %d bytes, no control characters)", c.name, storage.MaxDisplayName)
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if cur, err := st.Account(ctx, addr); err == nil {
			if cur.Source == storage.SourceConfig {
				return configOwned(cfg, addr)
			}
			return fmt.Errorf("account %s already exists; change its password with \"floe account passwd %s\"", addr, addr)
		}
		domain := addr[strings.LastIndexByte(addr, '@')+1:]
		if _, err := st.Domain(ctx, domain); err != nil {
			if errors.Is(err, storage.ErrNoDomain) || errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("%s is not a local domain; add it first with \"floe domain add %s\"", domain, domain)
			}
			return storeErr(cfg, domain, err)
		}
		pw, err := a.readPassword(c, true)
		if err != nil {
			return err
		}
		hash, err := newPasswordHash(cfg, pw)
		if err != nil {
			return err
		}
		acct, err := st.CreateAccount(ctx, storage.Account{
			Address: addr, Name: name, PasswordHash: hash, QuotaBytes: quota.Int64(), QuotaMessages: c.quotaMessages,
			Source: storage.SourceDB,
		})
		if err != nil {
			return storeErr(cfg, addr, err)
		}
		// The groupware folders (Calendar, Contacts, ...; docs/groupware.md).
		if _, err := st.EnsureGroupwareMailboxes(ctx, acct.ID); err != nil {
			return storeErr(cfg, addr, err)
		}
		fmt.Fprintf(a.stdout, "added account %s (quota %s, %s)\n", acct.Address, quotaString(acct.QuotaBytes), messagesQuota(acct.QuotaMessages))
		return nil
	})
}

func (a *app) accountPasswd(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		acct, err := dbAccount(ctx, cfg, st, addr)
		if err != nil {
			return err
		}
		pw, err := a.readPassword(c, true)
		if err != nil {
			return err
		}
		if acct.PasswordHash, err = newPasswordHash(cfg, pw); err != nil {
			return err
		}
		if err := st.UpdateAccount(ctx, acct); err != nil {
			return storeErr(cfg, addr, err)
		}
		fmt.Fprintf(a.stdout, "password of %s changed\n", addr)
		return nil
	})
}

// accountName sets (or, with "", removes) an account's display name. The
// running server sees the change within seconds (the Global Address Book
// follows the directory, server/groupware.go).
func (a *app) accountName(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.args[1])
	if !storage.ValidDisplayName(name) {
		return usagef("%q is not a display name (at most %d bytes, no control characters)", c.args[1], storage.MaxDisplayName)
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		acct, err := dbAccount(ctx, cfg, st, addr)
		if err != nil {
			return err
		}
		acct.Name = name
		if err := st.UpdateAccount(ctx, acct); err != nil {
			return storeErr(cfg, addr, err)
		}
		if name == "" {
			fmt.Fprintf(a.stdout, "display name of %s removed\n", addr)
		} else {
			fmt.Fprintf(a.stdout, "display name of %s set to %q\n", addr, name)
		}
		return nil
	})
}

func (a *app) accountDel(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		acct, err := dbAccount(ctx, cfg, st, addr)
		if err != nil {
			return err
		}
		// Aliases pointing to the account would dangle: the file's must be
		// edited first; the database's go with the account.
		aliases, err := st.Aliases(ctx)
		if err != nil {
			return err
		}
		var dbAliases []string
		for _, al := range aliases {
			if al.Target != addr {
				continue
			}
			if al.Source == storage.SourceConfig {
				return fmt.Errorf("alias %s in %s points to %s; remove it from the file first", al.Address, configName(cfg), addr)
			}
			dbAliases = append(dbAliases, al.Address)
		}
		domains, err := st.Domains(ctx)
		if err != nil {
			return err
		}
		for _, d := range domains {
			if d.CatchAll == addr {
				if d.Source == storage.SourceConfig {
					return fmt.Errorf("%s is the catch-all of domain %s in %s; change the file first", addr, d.Name, configName(cfg))
				}
			}
		}
		usage, err := st.Usage(ctx, acct.ID)
		if err != nil {
			return err
		}
		for _, al := range dbAliases {
			if err := st.DeleteAlias(ctx, al); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return storeErr(cfg, al, err)
			}
			fmt.Fprintf(a.stdout, "removed alias %s -> %s\n", al, addr)
		}
		for _, d := range domains {
			if d.CatchAll == addr {
				d.CatchAll = ""
				if err := st.PutDomain(ctx, d); err != nil {
					return storeErr(cfg, d.Name, err)
				}
				fmt.Fprintf(a.stdout, "removed the catch-all of domain %s\n", d.Name)
			}
		}
		if err := st.DeleteAccount(ctx, addr); err != nil {
			return storeErr(cfg, addr, err)
		}
		fmt.Fprintf(a.stdout, "removed account %s with %d messages (%s)\n", addr, usage.Messages, config.Size(usage.Bytes))
		return nil
	})
}

func (a *app) accountList(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		accts, err := st.Accounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tQUOTA\tUSAGE\tMESSAGES\tSOURCE\tSTATUS\tNAME")
		for _, ac := range accts {
			u, err := st.Usage(ctx, ac.ID)
			if err != nil {
				return err
			}
			status := "enabled"
			if ac.Disabled {
				status = "disabled"
			}
			msgs := fmt.Sprint(u.Messages)
			if ac.QuotaMessages > 0 {
				msgs += fmt.Sprintf("/%d", ac.QuotaMessages)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ac.Address, quotaString(ac.QuotaBytes), config.Size(u.Bytes), msgs, ac.Source, status, ac.Name)
		}
		return tw.Flush()
	})
}

func quotaString(n int64) string {
	if n <= 0 {
		return "unlimited"
	}
	return config.Size(n).String()
}

func messagesQuota(n int64) string {
	if n <= 0 {
		return "unlimited messages"
	}
	return fmt.Sprintf("at most %d messages", n)
}

func (a *app) domainAdd(c *cmdCtx) error {
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.args[0]), "."))
	if name == "" || strings.ContainsAny(name, "@ \t/") || !strings.Contains(name, ".") && name != "localhost" {
		return usagef("%q is not a domain name; write e.g. example.org", c.args[0])
	}
	catchAll := ""
	if c.catchAll != "" {
		var err error
		if catchAll, err = checkAddress(c.catchAll); err != nil {
			return err
		}
		if !strings.HasSuffix(catchAll, "@"+name) {
			return usagef("--catch-all %s is not an address in domain %s", catchAll, name)
		}
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		cur, err := st.Domain(ctx, name)
		exists := err == nil
		switch {
		case exists && cur.Source == storage.SourceConfig:
			return configOwned(cfg, name)
		case exists && c.catchAll == "":
			return fmt.Errorf("domain %s already exists; use --catch-all ADDRESS to change its catch-all", name)
		case !exists && !errors.Is(err, storage.ErrNoDomain) && !errors.Is(err, storage.ErrNotFound):
			return storeErr(cfg, name, err)
		}
		if catchAll != "" {
			if _, err := st.Account(ctx, catchAll); err != nil {
				if exists {
					return storeErr(cfg, catchAll, err)
				}
				return fmt.Errorf("no account %s for the catch-all; add the domain first, then the account with \"floe account add %s\", then run \"floe domain add %s --catch-all %s\"", catchAll, catchAll, name, catchAll)
			}
		}
		d := storage.Domain{Name: name, CatchAll: catchAll, Source: storage.SourceDB}
		if exists {
			d.Created = cur.Created
		}
		if err := st.PutDomain(ctx, d); err != nil {
			return storeErr(cfg, name, err)
		}
		switch {
		case exists:
			fmt.Fprintf(a.stdout, "domain %s: catch-all set to %s\n", name, catchAll)
		case catchAll != "":
			fmt.Fprintf(a.stdout, "added domain %s (catch-all %s)\n", name, catchAll)
		default:
			fmt.Fprintf(a.stdout, "added domain %s\n", name)
		}
		return nil
	})
}

func (a *app) domainDel(c *cmdCtx) error {
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(c.args[0]), "."))
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		cur, err := st.Domain(ctx, name)
		if err != nil {
			if errors.Is(err, storage.ErrNoDomain) || errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no domain %s; \"floe domain list\" shows the domains", name)
			}
			return storeErr(cfg, name, err)
		}
		if cur.Source == storage.SourceConfig {
			return configOwned(cfg, name)
		}
		accts, err := st.Accounts(ctx)
		if err != nil {
			return err
		}
		n := 0
		for _, ac := range accts {
			if strings.HasSuffix(ac.Address, "@"+name) {
				n++
			}
		}
		if n > 0 {
			return fmt.Errorf("domain %s still has %d accounts; delete them first (\"floe account list\" shows them)", name, n)
		}
		// Aliases of the domain go with it.
		aliases, err := st.Aliases(ctx)
		if err != nil {
			return err
		}
		for _, al := range aliases {
			if strings.HasSuffix(al.Address, "@"+name) {
				if al.Source == storage.SourceConfig {
					return fmt.Errorf("alias %s in %s belongs to domain %s; remove it from the file first", al.Address, configName(cfg), name)
				}
			}
		}
		for _, al := range aliases {
			if strings.HasSuffix(al.Address, "@"+name) {
				if err := st.DeleteAlias(ctx, al.Address); err != nil && !errors.Is(err, storage.ErrNotFound) {
					return storeErr(cfg, al.Address, err)
				}
				fmt.Fprintf(a.stdout, "removed alias %s -> %s\n", al.Address, al.Target)
			}
		}
		if err := st.DeleteDomain(ctx, name); err != nil {
			if errors.Is(err, storage.ErrNotEmpty) {
				return fmt.Errorf("domain %s is not empty; delete its accounts first (\"floe account list\" shows them)", name)
			}
			return storeErr(cfg, name, err)
		}
		fmt.Fprintf(a.stdout, "removed domain %s\n", name)
		return nil
	})
}

func (a *app) domainList(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		domains, err := st.Domains(ctx)
		if err != nil {
			return err
		}
		accts, err := st.Accounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tACCOUNTS\tCATCH-ALL\tSOURCE")
		for _, d := range domains {
			n := 0
			for _, ac := range accts {
				if strings.HasSuffix(ac.Address, "@"+d.Name) {
					n++
				}
			}
			ca := d.CatchAll
			if ca == "" {
				ca = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", d.Name, n, ca, d.Source)
		}
		return tw.Flush()
	})
}

func (a *app) aliasAdd(c *cmdCtx) error {
	alias, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	target, err := checkAddress(c.args[1])
	if err != nil {
		return err
	}
	if alias == target {
		return usagef("%s cannot be an alias of itself", alias)
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		cur, err := st.Alias(ctx, alias)
		exists := err == nil
		if exists && cur.Source == storage.SourceConfig {
			return configOwned(cfg, alias)
		}
		if _, err := st.Account(ctx, alias); err == nil {
			return fmt.Errorf("%s is an account; an alias needs an address that is not an account", alias)
		}
		domain := alias[strings.LastIndexByte(alias, '@')+1:]
		if _, err := st.Domain(ctx, domain); err != nil {
			return fmt.Errorf("%s is not a local domain; add it first with \"floe domain add %s\"", domain, domain)
		}
		if _, err := st.Account(ctx, target); err != nil {
			if errors.Is(err, storage.ErrNoAccount) || errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no account %s; the target of an alias must be an account (create it with \"floe account add %s\")", target, target)
			}
			return storeErr(cfg, target, err)
		}
		if err := st.PutAlias(ctx, storage.Alias{Address: alias, Target: target, Source: storage.SourceDB}); err != nil {
			return storeErr(cfg, alias, err)
		}
		if exists {
			fmt.Fprintf(a.stdout, "changed alias %s -> %s (was -> %s)\n", alias, target, cur.Target)
		} else {
			fmt.Fprintf(a.stdout, "added alias %s -> %s\n", alias, target)
		}
		return nil
	})
}

func (a *app) aliasDel(c *cmdCtx) error {
	alias, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		cur, err := st.Alias(ctx, alias)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no alias %s; \"floe alias list\" shows the aliases", alias)
			}
			return storeErr(cfg, alias, err)
		}
		if cur.Source == storage.SourceConfig {
			return configOwned(cfg, alias)
		}
		if err := st.DeleteAlias(ctx, alias); err != nil {
			return storeErr(cfg, alias, err)
		}
		fmt.Fprintf(a.stdout, "removed alias %s -> %s\n", alias, cur.Target)
		return nil
	})
}

func (a *app) aliasList(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		aliases, err := st.Aliases(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ALIAS\tTARGET\tSOURCE")
		for _, al := range aliases {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", al.Address, al.Target, al.Source)
		}
		return tw.Flush()
	})
}

// dbAccount returns the account at addr if the database owns it; an
// account the config file declares is refused with what to do instead.
func dbAccount(ctx context.Context, cfg *config.Config, st storage.Store, addr string) (storage.Account, error) {
	acct, err := st.Account(ctx, addr)
	if err != nil {
		return acct, storeErr(cfg, addr, err)
	}
	if acct.Source == storage.SourceConfig {
		return acct, configOwned(cfg, addr)
	}
	return acct, nil
}
