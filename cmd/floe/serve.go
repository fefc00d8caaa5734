package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/config"
)

// serveSignals are the signals serve handles: SIGINT and SIGTERM shut down
// gracefully (a second one cuts the grace period short), SIGHUP reloads.
var serveSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// defaultShutdownTimeout applies when the config sets none.
const defaultShutdownTimeout = 30 * time.Second

func (a *app) serve(c *cmdCtx) error {
	cfg, err := a.loadConfig(c)
	if err != nil {
		return err
	}
	// The server builds the logger from [log], so a reload can change the
	// level.
	srv, err := server.New(cfg, server.Options{LogOutput: a.stderr, Stdout: a.stdout})
	if err != nil {
		return err
	}
	log := srv.Logger()
	// Subscribe before starting so no signal is lost in between.
	sigs := make(chan os.Signal, 4)
	stop := a.notify(sigs)
	defer stop()

	if c.configFile == "" {
		fmt.Fprintln(a.stdout, "floe: no --config given; using the built-in development config")
	}
	if err := srv.Start(context.Background()); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w\n(another program uses that address: stop it, or change [listeners] in the config)", err)
		}
		if errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("%w\n(ports below 1024 need privileges: run as a service with CAP_NET_BIND_SERVICE, or use higher ports in [listeners])", err)
		}
		return err
	}
	a.printHint(cfg, c)
	if a.started != nil {
		a.started(srv)
	}

	for sig := range sigs {
		if sig == syscall.SIGHUP {
			a.reload(srv, log, c)
			continue
		}
		log.Info("signal received; shutting down", slog.String("signal", sig.String()))
		timeout := srv.Config().Server.ShutdownTimeout.D()
		if timeout <= 0 {
			timeout = defaultShutdownTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		done := make(chan struct{})
		go func() {
			// A second SIGINT/SIGTERM ends the grace period.
			for {
				select {
				case s := <-sigs:
					if s != syscall.SIGHUP {
						log.Warn("second signal: closing connections now", slog.String("signal", s.String()))
						cancel()
						return
					}
				case <-done:
					return
				}
			}
		}()
		err := srv.Shutdown(ctx)
		close(done)
		cancel()
		if err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	}
	return nil
}

// reload loads the config file again and applies it; a bad file keeps the
// running config and every problem is logged.
func (a *app) reload(srv *server.Server, log *slog.Logger, c *cmdCtx) {
	if c.configFile == "" {
		log.Warn("SIGHUP: no config file to reload (started with the built-in development config)")
		return
	}
	log.Info("SIGHUP: reloading the config", slog.String("file", c.configFile))
	cfg, err := config.Load(c.configFile, config.Production())
	if err != nil {
		var ce *config.Errors
		if errors.As(err, &ce) {
			for _, e := range ce.List {
				log.Error("config error; keeping the running config", slog.String("error", e.Error()))
			}
		} else {
			log.Error("config error; keeping the running config", slog.Any("error", err))
		}
		return
	}
	if err := srv.Reload(cfg); err != nil {
		log.Error("reload failed; keeping the running config", slog.Any("error", err))
	}
}

// printHint tells a newcomer how to add a user, with the command that
// works where the server was started from (selfCommand).
func (a *app) printHint(cfg *config.Config, c *cmdCtx) {
	domain := "example.test"
	if len(cfg.Domains) > 0 {
		domain = cfg.Domains[0].Name
	}
	flag := ""
	if c.configFile != "" {
		flag = " --config " + c.configFile
	}
	fmt.Fprintf(a.stdout, "\nAdd a user (in another terminal, in this directory):\n  %s account add you@%s --password-stdin%s\n",
		selfCommand(a.argv0, a.exe), domain, flag)
	fmt.Fprintln(a.stdout, "Stop with Ctrl-C (SIGINT) or SIGTERM; reload the config with SIGHUP.")
}

// selfCommand is how to run this floe again from the same directory:
// "go run -tags sqlite_fts5 ./cmd/floe" under go run (whose binary lives in
// a temporary build directory), the path as typed ("bin/floe",
// "./floe") when it had one, else "floe" (found in PATH).
func selfCommand(argv0, exe string) string {
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return "go run -tags sqlite_fts5 ./cmd/floe"
	}
	if strings.ContainsRune(argv0, filepath.Separator) {
		return argv0
	}
	return "floe"
}
