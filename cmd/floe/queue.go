package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
)

// queueCommands are `floe queue ...`: they act on the database directly; a
// running server picks the changes up within [outbound] poll_interval.
func queueCommands() []*command {
	return []*command{
		{name: "queue list", summary: "list the messages waiting in the outbound queue", run: (*app).queueList, nargs: 0},
		{name: "queue show", args: "ID", summary: "show one queued message with its recipients and errors", run: (*app).queueShow, nargs: 1},
		{name: "queue retry", args: "ID", summary: "attempt delivery of a queued message now", run: (*app).queueRetry, nargs: 1},
		{name: "queue delete", args: "ID", summary: "remove a message from the queue without notifying its sender", run: (*app).queueDelete, nargs: 1},
		{name: "queue flush", summary: "attempt delivery of every queued message now", run: (*app).queueFlush, nargs: 0},
	}
}

func queueID(s string) (storage.QueueID, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a queue ID; \"floe queue list\" shows them", s)
	}
	return storage.QueueID(n), nil
}

func queueErr(id storage.QueueID, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no queued message %d (delivered or deleted?); \"floe queue list\" shows the queue", id)
	}
	return err
}

func pendingCount(e storage.QueueEntry) int {
	n := 0
	for _, r := range e.Recipients {
		if r.Status == storage.RcptPending {
			n++
		}
	}
	return n
}

func sender(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}

func (a *app) queueList(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		entries, err := st.QueueEntries(ctx)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			fmt.Fprintln(a.stdout, "The outbound queue is empty.")
			return nil
		}
		now := time.Now()
		deferred, oldest := 0, now
		for _, e := range entries {
			if e.Attempts > 0 {
				deferred++
			}
			if e.Created.Before(oldest) {
				oldest = e.Created
			}
		}
		fmt.Fprintf(a.stdout, "%d messages queued, %d deferred (tried at least once), oldest queued %s ago\n\n",
			len(entries), deferred, now.Sub(oldest).Truncate(time.Second))
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tAGE\tSIZE\tFROM\tPENDING\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, e := range entries {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d/%d\t%d\t%s\t%s\n", e.ID, now.Sub(e.Created).Truncate(time.Second), e.Size, sender(e.From),
				pendingCount(e), len(e.Recipients), e.Attempts, e.NextAttempt.Local().Format(time.DateTime), e.LastError)
		}
		return tw.Flush()
	})
}

func (a *app) queueShow(c *cmdCtx) error {
	id, err := queueID(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		e, err := st.QueueEntry(ctx, id)
		if err != nil {
			return queueErr(id, err)
		}
		w := a.stdout
		fmt.Fprintf(w, "ID:             %d\n", e.ID)
		fmt.Fprintf(w, "From:           %s\n", sender(e.From))
		fmt.Fprintf(w, "Size:           %d bytes (blob %s)\n", e.Size, e.Blob)
		fmt.Fprintf(w, "Queued:         %s\n", e.Created.Local().Format(time.RFC3339))
		fmt.Fprintf(w, "Attempts:       %d\n", e.Attempts)
		fmt.Fprintf(w, "Next attempt:   %s\n", e.NextAttempt.Local().Format(time.RFC3339))
		if e.LastError != "" {
			fmt.Fprintf(w, "Last error:     %s\n", e.LastError)
		}
		if e.EnvID != "" || e.Ret != "" {
			fmt.Fprintf(w, "DSN:            envid=%q ret=%s\n", e.EnvID, e.Ret)
		}
		fmt.Fprintf(w, "Delay notified: %v\n", e.DelayNotified)
		fmt.Fprintln(w, "Recipients:")
		for _, r := range e.Recipients {
			fmt.Fprintf(w, "  %s  %s", r.Address, r.Status)
			if r.Notify != "" {
				fmt.Fprintf(w, "  notify=%s", r.Notify)
			}
			if r.Error != "" {
				fmt.Fprintf(w, "  %s", r.Error)
			}
			fmt.Fprintln(w)
		}
		return nil
	})
}

func (a *app) queueRetry(c *cmdCtx) error {
	id, err := queueID(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if err := st.RescheduleQueue(ctx, id, time.Now()); err != nil {
			return queueErr(id, err)
		}
		fmt.Fprintf(a.stdout, "Message %d is due now; a running server attempts it within its poll interval.\n", id)
		return nil
	})
}

func (a *app) queueDelete(c *cmdCtx) error {
	id, err := queueID(c.args[0])
	if err != nil {
		return err
	}
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if err := st.DeleteQueueEntry(ctx, id); err != nil {
			return queueErr(id, err)
		}
		fmt.Fprintf(a.stdout, "Message %d removed from the queue.\n", id)
		return nil
	})
}

func (a *app) queueFlush(c *cmdCtx) error {
	return a.withStore(c, func(ctx context.Context, cfg *config.Config, st storage.Store) error {
		if err := st.RescheduleQueue(ctx, 0, time.Now()); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, "Every queued message is due now; a running server attempts them within its poll interval.")
		return nil
	})
}
