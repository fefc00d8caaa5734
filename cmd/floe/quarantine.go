package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/delivery"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
)

// quarantineCommands are `floe quarantine ...`: messages a rule held for
// the administrator.
func quarantineCommands() []*command {
	return []*command{
		{name: "quarantine list", summary: "list the messages rules held for the administrator", run: (*app).quarantineList, nargs: 0},
		{name: "quarantine show", args: "ID", summary: "print a held message", run: (*app).quarantineShow, nargs: 1},
		{name: "quarantine release", args: "ID", summary: "deliver a held message to its recipient's INBOX (rules are not applied again)",
			run: (*app).quarantineRelease, nargs: 1},
		{name: "quarantine delete", args: "ID", summary: "delete a held message", run: (*app).quarantineDelete, nargs: 1},
	}
}

func quarantineID(s string) (storage.QuarantineID, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("%q is not a quarantine ID; \"floe quarantine list\" shows them", s)
	}
	return storage.QuarantineID(n), nil
}

func quarantineErr(id storage.QuarantineID, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no held message %d; \"floe quarantine list\" shows them", id)
	}
	return err
}

func (a *app) quarantineList(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		es, err := st.QuarantineEntries(ctx)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			fmt.Fprintln(a.stdout, "The quarantine is empty.")
			return nil
		}
		w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tHELD\tSIZE\tFROM\tRECIPIENT\tRULE")
		for _, e := range es {
			fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\t%s\n", e.ID, e.Created.Local().Format("2006-01-02 15:04"), e.Size, sender(e.From), e.Recipient, e.Reason)
		}
		return w.Flush()
	})
}

// withQuarantineEntry runs fn on the store with the held message named by
// the command's first argument (quarantine show, release).
func (a *app) withQuarantineEntry(c *cmdCtx, fn func(ctx context.Context, cfg *config.Config, st storage.Store, e storage.QuarantineEntry) error) error {
	id, err := quarantineID(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		e, err := st.QuarantineEntry(ctx, id)
		if err != nil {
			return quarantineErr(id, err)
		}
		return fn(ctx, cfg, st, e)
	})
}

func (a *app) quarantineShow(c *cmdCtx) error {
	return a.withQuarantineEntry(c, func(ctx context.Context, cfg *config.Config, st storage.Store, e storage.QuarantineEntry) error {
		fmt.Fprintf(a.stdout, "ID: %d\nHeld: %s\nFrom: %s\nRecipient: %s\nRule: %s\nSize: %d\n\n", e.ID,
			e.Created.Local().Format("2006-01-02 15:04:05"), sender(e.From), e.Recipient, e.Reason, e.Size)
		b, err := st.OpenBlob(ctx, e.Blob)
		if err != nil {
			return err
		}
		defer b.Close()
		_, err = io.Copy(a.stdout, b)
		return err
	})
}

func (a *app) quarantineRelease(c *cmdCtx) error {
	return a.withQuarantineEntry(c, func(ctx context.Context, cfg *config.Config, st storage.Store, e storage.QuarantineEntry) error {
		id := e.ID
		acct := e.Account
		d := delivery.New(delivery.Options{Store: st, Config: func() *config.Config { return cfg }, Logger: a.cliLogger()})
		if r, err := d.Resolve(ctx, e.Recipient); err == nil {
			acct = r.Account
		}
		if acct == 0 {
			return fmt.Errorf("the recipient %s has no account any more; \"floe quarantine delete %d\" removes the message", e.Recipient, id)
		}
		res, err := ingest.Deliver(ctx, st, storage.BlobRef{ID: e.Blob, Size: e.Size}, []storage.Target{{Account: acct, MailboxName: "INBOX"}})
		if err == nil {
			err = res[0].Err
		}
		if err != nil {
			return fmt.Errorf("releasing %d: %w", id, err)
		}
		if err := st.DeleteQuarantineEntry(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Released message %d into the INBOX of %s.\n", id, e.Recipient)
		return nil
	})
}

func (a *app) quarantineDelete(c *cmdCtx) error {
	id, err := quarantineID(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if err := st.DeleteQuarantineEntry(ctx, id); err != nil {
			return quarantineErr(id, err)
		}
		fmt.Fprintf(a.stdout, "Deleted held message %d.\n", id)
		return nil
	})
}
