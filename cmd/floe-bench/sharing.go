package main

// Sharing load modes of floe-bench (issue #8):
//
//	floe-bench imap-share-setup -addr HOST:PORT -owners o1@d:pw[,...] -grantee ADDRESS
//	                [-folders 10] [-rights lr] [-c 8]
//	    logs in as each owner, creates the folders Shared1..ShareN (those
//	    that exist are kept) and shares each with the grantee (SETACL), -c
//	    owners at a time. Prints the number of folders shared and the time.
//	floe-bench imap-list -addr ... -users u:pw [-n 50] [-pattern *]
//	    one session runs LIST "" pattern n times and prints how many names
//	    a LIST returns and the latency percentiles.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// runIMAPShareSetup is the "imap-share-setup" mode.
func runIMAPShareSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench imap-share-setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f imapFlags
	f.register(fs)
	owners := fs.String("owners", "", "comma-separated owner accounts user:password")
	grantee := fs.String("grantee", "", "address (account or group) the folders are shared with")
	folders := fs.Int("folders", 10, "folders per owner")
	rights := fs.String("rights", "lr", "rights letters granted")
	conns := fs.Int("c", 8, "owners set up concurrently")
	if err := parse(fs, args); err != nil {
		return err
	}
	f.users = *owners
	if err := f.finish(); err != nil {
		return err
	}
	if *grantee == "" || *folders < 1 || *conns < 1 {
		return errors.New("-grantee is required; -folders and -c must be at least 1")
	}
	d := f.dialer()
	start := time.Now()
	work := make(chan imapAccount)
	errs := make(chan error, len(f.accts))
	var wg sync.WaitGroup
	for range min(*conns, len(f.accts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				errs <- shareOwner(ctx, d, a, *grantee, *folders, imap.RightSet(*rights))
			}
		}()
	}
	for _, a := range f.accts {
		work <- a
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "imap-share-setup %s owners=%d folders=%d grantee=%s  shared=%d  elapsed=%s\n",
		f.label, len(f.accts), *folders, *grantee, len(f.accts)**folders, time.Since(start).Round(time.Millisecond))
	return nil
}

func shareOwner(ctx context.Context, d *imapDialer, a imapAccount, grantee string, folders int, rights imap.RightSet) error {
	c, _, err := d.dial(ctx, a)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 1; i <= folders; i++ {
		name := fmt.Sprintf("Shared%d", i)
		if err := c.Create(name, nil).Wait(); err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAlreadyExists {
				return fmt.Errorf("CREATE %s of %s: %w", name, a.User, err)
			}
		}
		if err := c.SetACL(name, imap.RightsIdentifier(grantee), imap.RightModificationReplace, rights).Wait(); err != nil {
			return fmt.Errorf("SETACL %s of %s: %w", name, a.User, err)
		}
	}
	return c.Logout().Wait()
}

// runIMAPList is the "imap-list" mode.
func runIMAPList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench imap-list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f imapFlags
	f.register(fs)
	n := fs.Int("n", 50, "LIST commands")
	pattern := fs.String("pattern", "*", "LIST pattern")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := f.finish(); err != nil {
		return err
	}
	if *n < 1 {
		return errors.New("-n must be at least 1")
	}
	c, _, err := f.dialer().dial(ctx, f.accts[0])
	if err != nil {
		return err
	}
	defer c.Close()
	var lat []time.Duration
	names := 0
	for range *n {
		t0 := time.Now()
		ls, err := c.List("", *pattern, nil).Collect()
		if err != nil {
			return fmt.Errorf("LIST: %w", err)
		}
		lat = append(lat, time.Since(t0))
		names = len(ls)
	}
	q := quantiles(lat)
	fmt.Fprintf(stdout, "imap-list %s pattern=%q names=%d n=%d  p50=%s p90=%s p99=%s max=%s\n",
		f.label, *pattern, names, len(lat), ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]))
	return c.Logout().Wait()
}
