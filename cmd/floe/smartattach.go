package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/smartattach"
	"github.com/floemail/floe/storage"
)

// smartattachFlags are the flags of `floe smartattach list`.
type smartattachFlags struct {
	account string // only this account's links
	all     bool   // expired and revoked links too
}

// smartattachCommands are `floe smartattach ...`: the download links
// SmartAttach made for large attachments of submitted mail
// (docs/files.md). They act on the database; a running server sees a
// revocation at the link's next request.
func smartattachCommands() []*command {
	return []*command{
		{name: "smartattach list", args: "[--account ADDRESS] [--all]", summary: "list the download links SmartAttach made (live ones unless --all)",
			run: (*app).smartattachList, nargs: 0, flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.StringVar(&c.smartattach.account, "account", "", "only the links of this account")
				fs.BoolVar(&c.smartattach.all, "all", false, "also list expired and revoked links")
			}},
		{name: "smartattach revoke", args: "ID", summary: "revoke a download link at once (the server deletes its file once no live link serves it)",
			run: (*app).smartattachRevoke, nargs: 1},
		{name: "smartattach purge", summary: "delete the files of ended links (as the server does every few minutes), then forget the links that have expired or were revoked",
			run: (*app).smartattachPurge, nargs: 0},
	}
}

func linkID(s string) (storage.LinkID, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("%q is not a link ID; \"floe smartattach list\" shows them", s)
	}
	return storage.LinkID(n), nil
}

// linkState is a link's state for people.
func linkState(l storage.Link, now time.Time) string {
	switch {
	case !l.Revoked.IsZero():
		return "revoked " + l.Revoked.Local().Format("2006-01-02 15:04")
	case !now.Before(l.Expires):
		return "expired"
	}
	return "live"
}

func (a *app) smartattachList(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		var acct storage.AccountID
		if c.smartattach.account != "" {
			ac, err := st.Account(ctx, strings.ToLower(c.smartattach.account))
			if err != nil {
				if errors.Is(err, storage.ErrNoAccount) || errors.Is(err, storage.ErrNotFound) {
					return fmt.Errorf("no account %s", c.smartattach.account)
				}
				return err
			}
			acct = ac.ID
		}
		links, err := st.Links(ctx, acct)
		if err != nil {
			return err
		}
		now := time.Now()
		owners := map[storage.AccountID]string{}
		w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		n := 0
		for _, l := range links {
			if !c.smartattach.all && !l.Live(now) {
				continue
			}
			if n == 0 {
				fmt.Fprintln(w, "ID\tCREATED\tEXPIRES\tSTATE\tACCOUNT\tFILE\tSIZE\tFOR")
			}
			n++
			owner, ok := owners[l.Account]
			if !ok {
				if ac, err := st.AccountByID(ctx, l.Account); err == nil {
					owner = ac.Address
				}
				owners[l.Account] = owner
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", l.ID, l.Created.Local().Format("2006-01-02 15:04"),
				l.Expires.Local().Format("2006-01-02 15:04"), linkState(l, now), owner, smartattach.Folder, l.Name,
				smartattach.HumanSize(l.Size), l.Note)
		}
		if n == 0 {
			if c.smartattach.all {
				fmt.Fprintln(a.stdout, "No download links.")
			} else {
				fmt.Fprintln(a.stdout, "No live download links (--all lists expired and revoked ones).")
			}
			return nil
		}
		return w.Flush()
	})
}

func (a *app) smartattachRevoke(c *cmdCtx) error {
	id, err := linkID(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if err := st.RevokeLink(ctx, id, time.Now()); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no download link %d; \"floe smartattach list --all\" shows them", id)
			}
			return err
		}
		fmt.Fprintf(a.stdout, "Revoked download link %d: it now answers 410 Gone.\n", id)
		return nil
	})
}

func (a *app) smartattachPurge(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		// The files first: once the links are forgotten, nothing says
		// which files they were made for.
		now := time.Now()
		files, err := smartattach.SweepLinks(ctx, st, now)
		if err != nil {
			return err
		}
		n, err := st.DeleteLinks(ctx, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Deleted %d files whose links all ended; forgot %d expired or revoked download links.\n", files, n)
		return nil
	})
}
