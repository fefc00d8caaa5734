package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/backends"
)

// loadConfig returns the config of c: the file given with --config, loaded
// over the production defaults, or the built-in development config. On
// errors it prints every problem and returns exitCode(1).
func (a *app) loadConfig(c *cmdCtx) (*config.Config, error) {
	if c.configFile == "" {
		return config.Development(), nil
	}
	cfg, err := config.Load(c.configFile, config.Production())
	if err != nil {
		a.printConfigErrors(err)
		fmt.Fprintf(a.stderr, "floe %s: fix %s and try again\n", c.cmd.name, c.configFile)
		return nil, exitCode(exitError)
	}
	return cfg, nil
}

// printConfigErrors prints each problem of a config error on its own line
// (file:line: key: reason).
func (a *app) printConfigErrors(err error) {
	var ce *config.Errors
	if errors.As(err, &ce) {
		for _, e := range ce.List {
			fmt.Fprintln(a.stderr, e.Error())
		}
		return
	}
	fmt.Fprintln(a.stderr, err)
}

// configName names where directory entries of cfg are declared, for error
// messages.
func configName(cfg *config.Config) string {
	if cfg.File == "" {
		return "the built-in development config"
	}
	return cfg.File
}

// cliLogger logs warnings and errors of the store and the directory sync
// to stderr.
func (a *app) cliLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openStore loads the config and opens its store, synchronised with the
// config's directory (so the domains of the file exist even if the server
// never ran). The caller closes the store.
func (a *app) openStore(ctx context.Context, c *cmdCtx) (*config.Config, storage.Store, error) {
	cfg, err := a.loadConfig(c)
	if err != nil {
		return nil, nil, err
	}
	if err := a.needData(c, cfg); err != nil {
		return nil, nil, err
	}
	st, err := server.OpenStore(ctx, cfg, a.cliLogger())
	if err != nil {
		return nil, nil, fmt.Errorf("%w\n(is the data directory %q writable by you? set [server] data_dir or run in the right directory)", err, cfg.Server.DataDir)
	}
	return cfg, st, nil
}

// needData makes sure a command works on an existing installation: where
// the data directory has no database, a command that only reads, changes
// or deletes says so instead of creating an empty one (and, say, reporting
// "ok" for a store that does not exist). Commands that add things (creates)
// create the directory and database, and say so.
func (a *app) needData(c *cmdCtx, cfg *config.Config) error {
	dir := cfg.StoragePath()
	if backends.Exists(backends.Options{Backend: cfg.Storage.Backend, Path: dir}) {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	if !c.cmd.creates {
		hint := "give the config of your installation with --config FILE, or run this where the data directory is"
		if c.configFile != "" {
			hint = "start the server once with this config (floe serve --config " + c.configFile + ") or check [server] data_dir"
		}
		return fmt.Errorf("no Floe data in %s (data_dir of %s): nothing to work on; %s", abs, configName(cfg), hint)
	}
	fmt.Fprintf(a.stderr, "floe: no Floe data in %s yet (data_dir of %s); creating it\n", abs, configName(cfg))
	return nil
}

// configOwned is the error for an entry the config file declares.
func configOwned(cfg *config.Config, name string) error {
	if cfg.File == "" {
		return fmt.Errorf("%s is declared in the built-in development config; write your own config file and use --config FILE to change it", name)
	}
	return fmt.Errorf("%s is declared in %s; edit the file instead", name, cfg.File)
}

// storeErr translates a storage error about name into a message that says
// what to do.
func storeErr(cfg *config.Config, name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrConfigOwned):
		return configOwned(cfg, name)
	case errors.Is(err, storage.ErrNoDomain):
		return fmt.Errorf("the domain of %s is not a local domain; add it first with \"floe domain add DOMAIN\"", name)
	case errors.Is(err, storage.ErrNoAccount):
		return fmt.Errorf("no account %s; \"floe account list\" shows the accounts", name)
	case errors.Is(err, storage.ErrExists):
		return fmt.Errorf("%s already exists", name)
	case errors.Is(err, storage.ErrInvalid):
		return fmt.Errorf("%s: invalid: %v", name, err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// checkAddress does a light syntax check of local@domain and returns it
// lowercased; the store and the config do the full validation.
func checkAddress(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n<>,;\"") {
		return "", usagef("%q is not an address; write local@domain, e.g. you@example.test", s)
	}
	return s, nil
}

// maxPasswordLen bounds a password read from stdin.
const maxPasswordLen = 4096

// readPassword returns a password: the first line of stdin with
// --password-stdin or when stdin is not a terminal, else asked on the
// terminal without echo (twice when confirm is set). Empty passwords are
// refused.
func (a *app) readPassword(c *cmdCtx, confirm bool) (string, error) {
	var pw string
	if f, ok := a.stdin.(*os.File); ok && !c.passwordStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		pw = string(b)
		if confirm && pw != "" {
			fmt.Fprint(a.stderr, "Repeat password: ")
			b2, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(a.stderr)
			if err != nil {
				return "", fmt.Errorf("reading the password: %w", err)
			}
			if string(b2) != pw {
				return "", errors.New("the passwords do not match; try again")
			}
		}
	} else {
		r := bufio.NewReader(io.LimitReader(a.stdin, maxPasswordLen+2))
		line, err := r.ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		if len(line) > maxPasswordLen && !strings.HasSuffix(line, "\n") {
			return "", fmt.Errorf("password longer than %d bytes", maxPasswordLen)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return "", errors.New("empty password refused; give a password (e.g. echo 'secret' | floe ... --password-stdin)")
	}
	return pw, nil
}

// withStore opens the store of the config c names, runs fn and closes the
// store (the CLI's subcommands that act on the database).
func (a *app) withStore(c *cmdCtx, fn func(ctx context.Context, cfg *config.Config, st storage.Store) error) error {
	ctx := context.Background()
	cfg, st, err := a.openStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, cfg, st)
}
