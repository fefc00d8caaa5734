package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage/sqlite"
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
	fmt.Fprintln(a.stdout, "ok")
	return nil
}

func (a *app) check(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st *sqlite.Store) error {
		problems, err := st.Check(ctx)
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
