package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/floemail/floe/server/clientsvc"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// licenseFlags are the flags of `floe license ...`.
type licenseFlags struct {
	out   string
	reset bool
}

// licenseCommands are `floe license ...`: client activations (client
// services, port 5229). Seats are set in the config file ([clientsvc]).
func licenseCommands() []*command {
	return []*command{
		{name: "license list", args: "[DOMAIN]", summary: "list client activations (all domains, or one)",
			run: (*app).licenseList, nargs: -1},
		{name: "license revoke", args: "ID", summary: "revoke a client activation, freeing its seat",
			run: (*app).licenseRevoke, nargs: 1},
		{name: "license seats", args: "[DOMAIN]", summary: "show client seats used and available per domain",
			run: (*app).licenseSeats, nargs: -1},
		{name: "license issue", args: "ADDRESS MACHINE_ID [--out FILE]",
			summary: "offline activation: activate a machine for an account and write its signed license document",
			run:     (*app).licenseIssue, nargs: 2, flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.StringVar(&c.license.out, "out", "", "write the license document to FILE instead of standard output")
			}},
		{name: "license key", args: "ADDRESS [--reset]", summary: "show (or replace) an account's client activation key",
			run: (*app).licenseKey, nargs: 1, flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.BoolVar(&c.license.reset, "reset", false, "give the account a new key; the old one stops working for new activations")
			}},
		{name: "license pubkey", summary: "print the public key that verifies license documents",
			run: (*app).licensePubkey, nargs: 0},
	}
}

// licenseService opens the signing key and returns the service.
func licenseService(cfg *config.Config, st storage.Store) (*clientsvc.Service, error) {
	key, err := clientsvc.LoadOrCreateKey(clientsvc.KeyFile(cfg))
	if err != nil {
		return nil, fmt.Errorf("license signing key: %w (set [clientsvc] signing_key_file, or check the data directory)", err)
	}
	return clientsvc.NewService(st, func() *config.Config { return cfg }, key), nil
}

func oneDomainArg(c *cmdCtx) (string, error) {
	switch len(c.args) {
	case 0:
		return "", nil
	case 1:
		return strings.ToLower(strings.TrimSuffix(c.args[0], ".")), nil
	}
	return "", usagef("unexpected argument %q", c.args[1])
}

func (a *app) licenseList(c *cmdCtx) error {
	domain, err := oneDomainArg(c)
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		list, err := st.Activations(ctx, domain)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(a.stdout, "no client activations")
			return nil
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACCOUNT\tMACHINE\tACTIVATED\tRENEWED\tEXPIRES")
		for _, x := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Address, x.MachineID,
				x.Created.Format("2006-01-02"), x.Renewed.Format("2006-01-02"), x.Expires.Format("2006-01-02"))
		}
		return tw.Flush()
	})
}

func (a *app) licenseRevoke(c *cmdCtx) error {
	id, err := strconv.ParseInt(strings.TrimSpace(c.args[0]), 10, 64)
	if err != nil || id <= 0 {
		return usagef("%q is not an activation ID; \"floe license list\" shows them", c.args[0])
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if err := st.RevokeActivation(ctx, id); errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no activation %d; \"floe license list\" shows them", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "revoked activation %d; its seat is free\n", id)
		return nil
	})
}

func (a *app) licenseSeats(c *cmdCtx) error {
	only, err := oneDomainArg(c)
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		doms, err := st.Domains(ctx)
		if err != nil {
			return err
		}
		used := map[string]int{}
		all, err := st.Activations(ctx, "")
		if err != nil {
			return err
		}
		for _, x := range all {
			used[x.Domain]++
		}
		var names []string
		for _, d := range doms {
			if only == "" || d.Name == only {
				names = append(names, d.Name)
			}
		}
		if only != "" && len(names) == 0 {
			return fmt.Errorf("%s is not a local domain; \"floe domain list\" shows them", only)
		}
		sort.Strings(names)
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DOMAIN\tSEATS\tUSED\tFREE")
		for _, n := range names {
			seats := cfg.ClientSvc.DomainSeats(n)
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", n, seats, used[n], max(0, seats-used[n]))
		}
		tw.Flush()
		fmt.Fprintf(a.stdout, "(seats are set in the config file: [[clientsvc.domain]] seats, or [clientsvc] default_seats)\n")
		return nil
	})
}

func (a *app) licenseIssue(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	machine := c.args[1]
	if !clientsvc.ValidMachineID(machine) {
		return usagef("%s", clientsvc.ErrMachineID)
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		svc, err := licenseService(cfg, st)
		if err != nil {
			return err
		}
		acct, err := st.Account(ctx, addr)
		if err != nil {
			return storeErr(cfg, addr, err)
		}
		doc, act, err := svc.Activate(ctx, acct, machine)
		var seats *clientsvc.SeatsError
		if errors.As(err, &seats) {
			return fmt.Errorf("%s (\"floe license list %s\" shows the activations)", err, seats.Domain)
		}
		if err != nil {
			return err
		}
		out := clientsvc.MarshalDocument(doc)
		if c.license.out == "" {
			_, err = a.stdout.Write(out)
			return err
		}
		if err := os.WriteFile(c.license.out, out, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "activation %d for %s on %s, valid until %s; license written to %s\n",
			act.ID, act.Address, act.MachineID, act.Expires.Format("2006-01-02"), c.license.out)
		return nil
	})
}

func (a *app) licenseKey(c *cmdCtx) error {
	addr, err := checkAddress(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		acct, err := st.Account(ctx, addr)
		if err != nil {
			return storeErr(cfg, addr, err)
		}
		svc := clientsvc.NewService(st, func() *config.Config { return cfg }, nil)
		var key string
		if c.license.reset {
			key, err = svc.ResetActivationKey(ctx, acct.ID)
		} else {
			key, err = svc.ActivationKey(ctx, acct.ID)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, key)
		return nil
	})
}

func (a *app) licensePubkey(c *cmdCtx) error {
	cfg, err := a.loadConfig(c)
	if err != nil {
		return err
	}
	key, err := clientsvc.LoadOrCreateKey(clientsvc.KeyFile(cfg))
	if err != nil {
		return fmt.Errorf("license signing key: %w", err)
	}
	pub := clientsvc.NewService(nil, nil, key).PublicKeyDocument()
	fmt.Fprintf(a.stdout, "key id %s (Ed25519)\n%s", pub.KeyID, pub.PEM)
	return nil
}
