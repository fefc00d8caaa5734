package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/dkim"
	"github.com/floemail/floe/storage/backends"
)

// dkimFlags are the options of the dkim and dns commands.
type dkimFlags struct {
	selector  string
	algorithm string
}

// dkimCommands are the DKIM and DNS administration commands.
func dkimCommands() []*command {
	return []*command{
		{name: "dkim gen", args: "DOMAIN [--selector S] [--algorithm rsa|ed25519]",
			summary: "create a DKIM key and print the TXT record to publish", run: (*app).dkimGen, nargs: 1,
			flags: func(fs *flag.FlagSet, c *cmdCtx) {
				fs.StringVar(&c.dkim.selector, "selector", "", `selector name (default: "floe" and the date, e.g. floe20250131)`)
				fs.StringVar(&c.dkim.algorithm, "algorithm", "rsa", "key algorithm: rsa (2048 bits) or ed25519")
			}},
		{name: "dkim activate", args: "DOMAIN SELECTOR", summary: "sign the domain's mail with this selector from now on",
			run: (*app).dkimActivate, nargs: 2},
		{name: "dkim list", summary: "list DKIM keys with their TXT records", run: (*app).dkimList, nargs: 0},
		{name: "dns", args: "DOMAIN", summary: "print the DNS records a domain needs (MX, SPF, DKIM, DMARC, SRV)",
			run: (*app).dns, nargs: 1},
	}
}

// dkimDir is where the keys of cfg live.
func dkimDir(cfg *config.Config) string {
	return filepath.Join(cfg.Server.DataDir, "dkim")
}

// warnNotLocal warns on stderr when domain is not a local domain of cfg
// (declared in the config or added to the database): its DKIM key or DNS
// records would be of no use, and a typo is the likely cause.
func (a *app) warnNotLocal(cfg *config.Config, domain string) {
	for _, d := range cfg.Domains {
		if strings.EqualFold(d.Name, domain) {
			return
		}
	}
	if backends.Exists(backends.Options{Backend: cfg.Storage.Backend, Path: cfg.StoragePath()}) {
		ctx := context.Background()
		if st, err := server.OpenStore(ctx, cfg, a.cliLogger()); err == nil {
			_, err := st.Domain(ctx, domain)
			st.Close()
			if err == nil {
				return
			}
		}
	}
	fmt.Fprintf(a.stderr, "floe: warning: %s is not a local domain of %s (add it with \"floe domain add %s\" or in the config); continuing\n",
		domain, configName(cfg), domain)
}

func (a *app) openKeys(c *cmdCtx) (*config.Config, *dkim.Keys, error) {
	cfg, err := a.loadConfig(c)
	if err != nil {
		return nil, nil, err
	}
	keys, err := dkim.Open(dkimDir(cfg), a.cliLogger())
	if err != nil {
		return nil, nil, err
	}
	return cfg, keys, nil
}

func (a *app) dkimGen(c *cmdCtx) error {
	domain := strings.ToLower(strings.TrimSuffix(c.args[0], "."))
	sel := c.dkim.selector
	if sel == "" {
		sel = "floe" + time.Now().UTC().Format("20060102")
	}
	cfg, keys, err := a.openKeys(c)
	if err != nil {
		return err
	}
	a.warnNotLocal(cfg, domain)
	key, err := keys.Generate(domain, sel, c.dkim.algorithm)
	switch {
	case errors.Is(err, dkim.ErrInvalidName):
		return usagef("%q or %q is not a valid domain or selector", domain, sel)
	case errors.Is(err, dkim.ErrAlgorithm):
		return usagef("unknown algorithm %q; use rsa or ed25519", c.dkim.algorithm)
	case errors.Is(err, dkim.ErrExists):
		return fmt.Errorf("selector %q of %s already exists; choose another with --selector", sel, domain)
	case err != nil:
		return err
	}
	name, value, err := keys.TXTRecord(domain, key.Selector)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Created %s key %s for %s.\nPublish this TXT record:\n\n", key.Algorithm, key.Selector, domain)
	fmt.Fprintf(a.stdout, "%s. IN TXT %s\n\n", name, zoneTXT(value))
	if key.Active {
		fmt.Fprintf(a.stdout, "It is the domain's active key: outgoing mail is signed with it.\n")
	} else {
		fmt.Fprintf(a.stdout, "It is not active yet: once the record is visible in DNS, run\n  floe dkim activate %s %s\n", domain, key.Selector)
	}
	return nil
}

func (a *app) dkimActivate(c *cmdCtx) error {
	_, keys, err := a.openKeys(c)
	if err != nil {
		return err
	}
	if err := keys.Activate(c.args[0], c.args[1]); errors.Is(err, dkim.ErrNoKey) {
		return fmt.Errorf("no key %q for %s; see floe dkim list", c.args[1], c.args[0])
	} else if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s now signs with selector %s\n", c.args[0], c.args[1])
	return nil
}

func (a *app) dkimList(c *cmdCtx) error {
	_, keys, err := a.openKeys(c)
	if err != nil {
		return err
	}
	list := keys.List()
	if len(list) == 0 {
		fmt.Fprintln(a.stdout, "no DKIM keys; create one with: floe dkim gen DOMAIN")
		return nil
	}
	for _, k := range list {
		state := ""
		if k.Active {
			state = " active"
		}
		name, value, err := keys.TXTRecord(k.Domain, k.Selector)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s %s %s%s created %s\n  %s. IN TXT %s\n", k.Domain, k.Selector, k.Algorithm, state,
			k.Modified.UTC().Format(time.DateOnly), name, zoneTXT(value))
	}
	return nil
}

// zoneTXT quotes a TXT value for a zone file, split into strings of at
// most 255 bytes (RFC 1035 3.3.14) and wrapped in parentheses when split.
func zoneTXT(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	if len(parts) == 1 {
		return parts[0]
	}
	return "( " + strings.Join(parts, " ") + " )"
}
