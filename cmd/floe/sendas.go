package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// Send-as grants (SPEC §3): SMTP submission accepts them as envelope
// sender and From besides the account's own addresses. Sharing an account
// does not grant them.

func (a *app) sendAsAdd(c *cmdCtx) error { return a.sendAsSet(c, true) }
func (a *app) sendAsDel(c *cmdCtx) error { return a.sendAsSet(c, false) }

func (a *app) sendAsSet(c *cmdCtx, on bool) error {
	acctAddr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	addr, err := checkAddress(c.args[1])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		acct, err := st.Account(ctx, acctAddr)
		if err != nil {
			return storeErr(cfg, acctAddr, err)
		}
		err = st.SetSendAs(ctx, acct.ID, addr, on)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("%s may not send as %s anyway", acctAddr, addr)
		case err != nil:
			return storeErr(cfg, addr, err)
		case on:
			fmt.Fprintf(a.stdout, "%s may send as %s\n", acctAddr, addr)
		default:
			fmt.Fprintf(a.stdout, "%s may no longer send as %s\n", acctAddr, addr)
		}
		return nil
	})
}

func (a *app) sendAsList(c *cmdCtx) error {
	if len(c.args) > 1 {
		return usagef("at most one ACCOUNT")
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		var accts []storage.Account
		if len(c.args) == 1 {
			addr, err := checkAddress(c.args[0])
			if err != nil {
				return err
			}
			acct, err := st.Account(ctx, addr)
			if err != nil {
				return storeErr(cfg, addr, err)
			}
			accts = []storage.Account{acct}
		} else {
			var err error
			if accts, err = st.Accounts(ctx); err != nil {
				return err
			}
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT\tSENDS AS")
		for _, ac := range accts {
			addrs, err := st.SendAs(ctx, ac.ID)
			if err != nil {
				return err
			}
			for _, s := range addrs {
				fmt.Fprintf(tw, "%s\t%s\n", ac.Address, s)
			}
		}
		return tw.Flush()
	})
}
