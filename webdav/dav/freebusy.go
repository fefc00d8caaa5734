package dav

import (
	"errors"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/webdav/caldav"
)

// Who may read free/busy at the /freebusy URL.
const (
	FreeBusyAnyone        = "anyone"
	FreeBusyAuthenticated = "authenticated"
	FreeBusySameDomain    = "domain"
)

// FreeBusyConfig configures the Internet Free/Busy URL.
type FreeBusyConfig struct {
	// Access is FreeBusyAnyone, FreeBusyAuthenticated or
	// FreeBusySameDomain (the default: an authenticated account of the
	// user's domain).
	Access string
	// Past and Future bound the default window around today (7 and 60
	// days).
	Past, Future time.Duration
}

func (c *FreeBusyConfig) defaults() {
	if c.Access == "" {
		c.Access = FreeBusySameDomain
	}
	if c.Past <= 0 {
		c.Past = 7 * 24 * time.Hour
	}
	if c.Future <= 0 {
		c.Future = 60 * 24 * time.Hour
	}
}

// maxFreeBusyWindow bounds a requested window.
const maxFreeBusyWindow = 366 * 24 * time.Hour

// FreeBusy returns the handler of GET /freebusy/?user@domain and
// /freebusy/user@domain (IceWarp's and Outlook's Internet Free/Busy URL,
// "%NAME%@%SERVER%"), with optional start and end query parameters
// (RFC 5545 UTC date-times, or dates). It answers one VFREEBUSY over the
// window merging the user's event folders, with no event details.
// An unknown user and a user the requester may not see both answer 404.
func (h *Handler) FreeBusy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				h.c.Log.Error("panic in free/busy handler", "panic", v, "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		user := freeBusyUser(r)
		if user == "" || !strings.Contains(user, "@") || len(user) > 320 {
			http.Error(w, "name a user: /freebusy/?user@domain", http.StatusBadRequest)
			return
		}
		if h.c.FreeBusy.Access != FreeBusyAnyone {
			viewer, ok := h.c.Authenticate(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Basic realm="Floe", charset="UTF-8"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
			if h.c.FreeBusy.Access == FreeBusySameDomain && domainOf(viewer.Address) != domainOf(user) {
				http.Error(w, "not found", http.StatusNotFound)
				return
			}
		}
		rng, err := h.freeBusyWindow(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		acct, err := h.c.Store.Account(ctx, user)
		if err != nil {
			if errors.Is(err, storage.ErrNoAccount) {
				http.Error(w, "not found", http.StatusNotFound)
				return
			}
			h.c.Log.Error("free/busy", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if err := h.ensure(ctx, acct); err != nil {
			h.c.Log.Error("free/busy", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		fs, err := h.folders(ctx, acct, false)
		if err != nil {
			h.c.Log.Error("free/busy", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		busy, err := h.busy(ctx, fs, rng)
		if err != nil {
			h.c.Log.Error("free/busy", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		body := caldav.FreeBusyCalendar(busy, rng, acct.Address, h.c.Now())
		w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
		w.Header().Set("Cache-Control", "private, max-age=60")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	})
}

// freeBusyUser takes the user from "/freebusy/?user@domain" (the query is
// the bare address, or user=) or "/freebusy/user@domain".
func freeBusyUser(r *http.Request) string {
	q := r.URL.RawQuery
	if q != "" {
		vals, _ := url.ParseQuery(q)
		if u := vals.Get("user"); u != "" {
			return strings.ToLower(strings.TrimSpace(u))
		}
		first, _, _ := strings.Cut(q, "&")
		if !strings.Contains(first, "=") {
			u, err := url.QueryUnescape(first)
			if err == nil {
				return strings.ToLower(strings.TrimSpace(u))
			}
		}
	}
	rest := strings.TrimPrefix(r.URL.Path, "/freebusy")
	rest = strings.Trim(rest, "/")
	rest = strings.TrimSuffix(rest, ".ifb")
	rest = strings.TrimSuffix(rest, ".vfb")
	return strings.ToLower(rest)
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return strings.ToLower(d)
}

func parseFBTime(s string) (time.Time, error) {
	for _, l := range []string{"20060102T150405Z", "20060102", time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("start and end are UTC date-times (20060102T150405Z) or dates")
}

func (h *Handler) freeBusyWindow(r *http.Request) (caldav.Range, error) {
	now := h.c.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	rng := caldav.Range{Start: today.Add(-h.c.FreeBusy.Past), End: today.Add(h.c.FreeBusy.Future)}
	vals := r.URL.Query()
	var err error
	if s := vals.Get("start"); s != "" {
		if rng.Start, err = parseFBTime(s); err != nil {
			return rng, err
		}
	}
	if s := vals.Get("end"); s != "" {
		if rng.End, err = parseFBTime(s); err != nil {
			return rng, err
		}
	}
	if !rng.End.After(rng.Start) {
		return rng, errors.New("end must be after start")
	}
	if rng.End.Sub(rng.Start) > maxFreeBusyWindow {
		return rng, errors.New("the window is longer than a year")
	}
	return rng, nil
}
