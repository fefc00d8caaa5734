package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

func (a *app) hashPassword(c *cmdCtx) error {
	cfg, err := a.loadConfig(c)
	if err != nil {
		return err
	}
	pw, err := a.readPassword(c, true)
	if err != nil {
		return err
	}
	h, err := newPasswordHash(cfg, pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, h)
	return nil
}

// newPasswordHash checks a new password against [auth]
// min_password_length and hashes it with the [auth] hash parameters.
func newPasswordHash(cfg *config.Config, pw string) (string, error) {
	if err := auth.CheckPasswordStrength(pw, cfg.Auth.MinPasswordLength); err != nil {
		return "", err
	}
	return auth.HashPasswordWith(pw, auth.ParamsFromConfig(cfg.Auth))
}

// checkConfig checks the file given with --config or as the argument (the
// built-in development config when neither is given). It prints every
// problem as file:line: key: reason and exits 1, or prints "ok".
func (a *app) checkConfig(c *cmdCtx) error {
	file := c.configFile
	switch len(c.args) {
	case 0:
	case 1:
		if file != "" && file != c.args[0] {
			return usagef("give the file once: --config FILE or FILE")
		}
		file = c.args[0]
	default:
		return usagef("unexpected argument %q", c.args[1])
	}
	var err error
	if file == "" {
		err = config.Development().Validate()
	} else {
		_, err = config.Load(file, config.Production())
	}
	if err != nil {
		a.printConfigErrors(err)
		return exitCode(exitError)
	}
	if file == "" {
		fmt.Fprintln(a.stdout, "ok: the built-in development config (no file given; check yours with --config FILE or as the argument)")
		return nil
	}
	fmt.Fprintf(a.stdout, "ok: %s\n", file)
	return nil
}

func (a *app) check(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if c.repair {
			or, ok := st.(storage.OrphanRemover)
			if !ok {
				return fmt.Errorf("the %s storage backend cannot remove orphan blobs ([storage] backend)", cfg.Storage.Backend)
			}
			n, err := or.RemoveOrphans(ctx, storage.OrphanAge)
			if err != nil {
				return fmt.Errorf("removing orphan blobs: %w", err)
			}
			fmt.Fprintf(a.stdout, "removed %d orphan blob files\n", n)
		}
		ch, ok := st.(storage.Checker)
		if !ok {
			return fmt.Errorf("the %s storage backend cannot check its integrity ([storage] backend)", cfg.Storage.Backend)
		}
		problems, err := ch.Check(ctx)
		if err != nil {
			return fmt.Errorf("checking the store: %w", err)
		}
		for _, p := range problems {
			fmt.Fprintln(a.stdout, p)
		}
		if len(problems) > 0 {
			fmt.Fprintf(a.stderr, "floe check: %d problems found\n", len(problems))
			return exitCode(exitError)
		}
		fmt.Fprintln(a.stdout, "ok")
		return nil
	})
}

func (a *app) version(c *cmdCtx) error {
	fmt.Fprintf(a.stdout, "floe %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
