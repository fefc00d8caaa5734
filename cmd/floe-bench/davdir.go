package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/webdav"
)

// runDavDir serves a plain directory with golang.org/x/net/webdav (the
// baseline of the WebDAV files benchmark, .ci/bench-files.sh) until ctx
// ends: no authentication, webdav.Dir and webdav.NewMemLS.
func runDavDir(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("davdir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	dir := fs.String("dir", "", "directory to serve")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "davdir: -dir is required")
		return errUsage
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "davdir listening on %s\n", l.Addr())
	srv := &http.Server{
		Handler:           &webdav.Handler{FileSystem: webdav.Dir(*dir), LockSystem: webdav.NewMemLS()},
		ReadHeaderTimeout: 20 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
