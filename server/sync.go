package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// Directory is what SyncDirectory writes: the directory and its groups.
type Directory interface {
	storage.Directory
	storage.Groups
}

// SyncDirectory writes the domains, accounts, aliases and groups declared
// in cfg to dir, so that the config file and the database never disagree
// silently.
//
// Ownership: entries declared in the config file are owned by it and stored
// with Source = storage.SourceConfig; the CLI refuses to change them
// (storage.ErrConfigOwned). Entries added with the CLI have SourceDB and are
// never touched here, except when the file starts declaring the same name: the
// file then takes ownership and its values win.
//
// Entries with SourceConfig that are no longer in the file:
//   - aliases and groups are deleted;
//   - accounts are NOT deleted (mail is never removed implicitly): they are
//     disabled and handed to the database (SourceDB), with a warning in the
//     log; the administrator removes them with "floe account del" or declares
//     them in the file again (which re-enables them as the file says);
//   - domains are deleted when no account uses them; otherwise they are
//     handed to the database (SourceDB) and logged.
//
// Declared entries are created or updated: password hash, quotas, disabled
// flag, alias target, group members, domain catch-all. Each storage call is its own
// transaction; on error, SyncDirectory goes on with the other entries and
// returns every error joined, so a second run converges.
func SyncDirectory(ctx context.Context, dir Directory, cfg *config.Config, log *slog.Logger) error {
	return syncDirectory(ctx, dir, cfg, log, true)
}

// syncDirectory is SyncDirectory; without prune it only creates and updates
// declared entries and leaves the config entries the file no longer declares
// alone (see OpenStore).
func syncDirectory(ctx context.Context, dir Directory, cfg *config.Config, log *slog.Logger, prune bool) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	fail := func(err error) { errs = append(errs, err) }

	// Domains first (accounts need them), without catch-all: a catch-all
	// may name an account that is created below.
	wantDomains := make(map[string]config.Domain)
	for _, d := range cfg.Domains {
		name := strings.ToLower(strings.TrimSpace(d.Name))
		wantDomains[name] = d
		cur, err := dir.Domain(ctx, name)
		switch {
		case err == nil:
			if cur.Source != storage.SourceConfig {
				log.Info("config file takes over domain", slog.String("domain", name))
			}
			cur.Source = storage.SourceConfig
			if err := dir.PutDomain(ctx, cur); err != nil {
				fail(fmt.Errorf("domain %s: %w", name, err))
			}
		case isNotFound(err):
			if err := dir.PutDomain(ctx, storage.Domain{Name: name, Source: storage.SourceConfig}); err != nil {
				fail(fmt.Errorf("domain %s: %w", name, err))
			} else {
				log.Info("domain added from config", slog.String("domain", name))
			}
		default:
			fail(fmt.Errorf("domain %s: %w", name, err))
		}
	}

	// Accounts.
	wantAccounts := make(map[string]bool)
	for _, a := range cfg.Accounts {
		addr := strings.ToLower(strings.TrimSpace(a.Address))
		wantAccounts[addr] = true
		want := storage.Account{
			Address:       addr,
			Name:          a.Name,
			PasswordHash:  a.PasswordHash,
			QuotaBytes:    a.Quota.Int64(),
			QuotaMessages: a.QuotaMessages,
			Disabled:      a.Disabled,
			Source:        storage.SourceConfig,
		}
		cur, err := dir.Account(ctx, addr)
		switch {
		case err == nil:
			if cur.Name == want.Name && cur.PasswordHash == want.PasswordHash && cur.QuotaBytes == want.QuotaBytes &&
				cur.QuotaMessages == want.QuotaMessages && cur.Disabled == want.Disabled && cur.Source == want.Source {
				continue
			}
			if cur.Source != storage.SourceConfig {
				log.Info("config file takes over account", slog.String("account", addr))
			}
			want.ID, want.Created = cur.ID, cur.Created
			if err := dir.UpdateAccount(ctx, want); err != nil {
				fail(fmt.Errorf("account %s: %w", addr, err))
			} else {
				log.Info("account updated from config", slog.String("account", addr))
			}
		case isNotFound(err):
			if created, err := dir.CreateAccount(ctx, want); err != nil {
				if errors.Is(err, storage.ErrNoDomain) {
					err = fmt.Errorf("its domain is not declared; add a [[domain]] entry: %w", err)
				}
				fail(fmt.Errorf("account %s: %w", addr, err))
			} else {
				// The groupware folders, at once (also on reload).
				if items, ok := dir.(storage.Items); ok {
					if _, err := items.EnsureGroupwareMailboxes(ctx, created.ID); err != nil {
						fail(fmt.Errorf("account %s: groupware folders: %w", addr, err))
					}
				}
				log.Info("account added from config", slog.String("account", addr))
			}
		default:
			fail(fmt.Errorf("account %s: %w", addr, err))
		}
	}

	// Aliases.
	wantAliases := make(map[string]bool)
	for _, a := range cfg.Aliases {
		addr := strings.ToLower(strings.TrimSpace(a.Address))
		target := strings.ToLower(strings.TrimSpace(a.Target))
		wantAliases[addr] = true
		cur, err := dir.Alias(ctx, addr)
		if err == nil && cur.Target == target && cur.Source == storage.SourceConfig {
			continue
		}
		if err != nil && !isNotFound(err) {
			fail(fmt.Errorf("alias %s: %w", addr, err))
			continue
		}
		if err := dir.PutAlias(ctx, storage.Alias{Address: addr, Target: target, Source: storage.SourceConfig}); err != nil {
			fail(fmt.Errorf("alias %s: %w", addr, err))
		}
	}

	// Groups, now that the accounts exist.
	wantGroups := make(map[string]bool)
	for _, g := range cfg.Groups {
		addr := strings.ToLower(strings.TrimSpace(g.Address))
		wantGroups[addr] = true
		members := make([]string, 0, len(g.Members))
		for _, m := range g.Members {
			members = append(members, strings.ToLower(strings.TrimSpace(m)))
		}
		slices.Sort(members)
		members = slices.Compact(members)
		cur, err := dir.Group(ctx, addr)
		if err == nil && cur.Source == storage.SourceConfig && slices.Equal(cur.Members, members) {
			continue
		}
		if err != nil && !isNotFound(err) {
			fail(fmt.Errorf("group %s: %w", addr, err))
			continue
		}
		if err == nil && cur.Source != storage.SourceConfig {
			log.Info("config file takes over group", slog.String("group", addr))
		}
		if err := dir.PutGroup(ctx, storage.Group{Address: addr, Members: members, Source: storage.SourceConfig}); err != nil {
			if errors.Is(err, storage.ErrNoAccount) {
				err = fmt.Errorf("a member is not an account: %w", err)
			}
			fail(fmt.Errorf("group %s: %w", addr, err))
			continue
		}
		// New members get what is shared with the group: the information
		// mail and the subscriptions (storage/view).
		if st, ok := dir.(storage.Store); ok {
			adm := view.NewAdmin(st, view.Options{Logger: log, Hostname: cfg.Server.Hostname})
			for _, m := range members {
				if cur.Address != "" && slices.Contains(cur.Members, m) {
					continue
				}
				if err := adm.MemberAdded(ctx, addr, m); err != nil {
					log.Warn("group member not informed of what is shared with the group", slog.String("group", addr), slog.String("member", m), slog.Any("err", err))
				}
			}
		}
	}

	// Catch-alls, now that the accounts exist.
	for name, d := range wantDomains {
		cur, err := dir.Domain(ctx, name)
		if err != nil {
			continue // reported above
		}
		catchAll := strings.ToLower(strings.TrimSpace(d.CatchAll))
		if cur.CatchAll == catchAll {
			continue
		}
		cur.CatchAll = catchAll
		cur.Source = storage.SourceConfig
		if err := dir.PutDomain(ctx, cur); err != nil {
			fail(fmt.Errorf("domain %s catch-all %s: %w", name, catchAll, err))
		}
	}

	if !prune {
		return errors.Join(errs...)
	}
	// Entries the file no longer declares: aliases, then accounts, then
	// domains (which may be empty only after that).
	if aliases, err := dir.Aliases(ctx); err != nil {
		fail(fmt.Errorf("listing aliases: %w", err))
	} else {
		for _, a := range aliases {
			if a.Source != storage.SourceConfig || wantAliases[a.Address] {
				continue
			}
			if err := dir.DeleteAlias(ctx, a.Address); err != nil && !isNotFound(err) {
				fail(fmt.Errorf("removing alias %s: %w", a.Address, err))
			} else {
				log.Info("alias removed: no longer in the config file", slog.String("alias", a.Address))
			}
		}
	}
	if groups, err := dir.Groups(ctx); err != nil {
		fail(fmt.Errorf("listing groups: %w", err))
	} else {
		for _, g := range groups {
			if g.Source != storage.SourceConfig || wantGroups[g.Address] {
				continue
			}
			if err := dir.DeleteGroup(ctx, g.Address); err != nil && !isNotFound(err) {
				fail(fmt.Errorf("removing group %s: %w", g.Address, err))
			} else {
				log.Info("group removed: no longer in the config file", slog.String("group", g.Address))
			}
		}
	}
	if accounts, err := dir.Accounts(ctx); err != nil {
		fail(fmt.Errorf("listing accounts: %w", err))
	} else {
		for _, a := range accounts {
			if a.Source != storage.SourceConfig || wantAccounts[a.Address] {
				continue
			}
			a.Disabled = true
			a.Source = storage.SourceDB
			if err := dir.UpdateAccount(ctx, a); err != nil {
				fail(fmt.Errorf("disabling account %s: %w", a.Address, err))
			} else {
				log.Warn("account no longer in the config file: disabled, its mail is kept; delete it with \"floe account del\" or declare it again",
					slog.String("account", a.Address))
			}
		}
	}
	if domains, err := dir.Domains(ctx); err != nil {
		fail(fmt.Errorf("listing domains: %w", err))
	} else {
		for _, d := range domains {
			if d.Source != storage.SourceConfig {
				continue
			}
			if _, ok := wantDomains[d.Name]; ok {
				continue
			}
			err := dir.DeleteDomain(ctx, d.Name)
			switch {
			case err == nil || isNotFound(err):
				log.Info("domain removed: no longer in the config file", slog.String("domain", d.Name))
			case errors.Is(err, storage.ErrNotEmpty):
				d.Source = storage.SourceDB
				if err := dir.PutDomain(ctx, d); err != nil {
					fail(fmt.Errorf("releasing domain %s: %w", d.Name, err))
				} else {
					log.Warn("domain no longer in the config file but still has accounts: kept, now managed with the CLI",
						slog.String("domain", d.Name))
				}
			default:
				fail(fmt.Errorf("removing domain %s: %w", d.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoDomain) ||
		errors.Is(err, storage.ErrNoAccount)
}
