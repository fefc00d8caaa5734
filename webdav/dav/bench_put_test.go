package dav

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// BenchmarkPut: new events PUT by two concurrent clients (vdirsyncer syncs
// a calendar and an address book at once), through the handler as the
// server wires it (storage/view), durable before the 201.
func BenchmarkPut(b *testing.B) {
	e := newEnvWith(b, func(e *env, r *http.Request, acct storage.Account) Access {
		v, err := view.New(r.Context(), e.st, acct.ID, view.Options{})
		if err != nil {
			b.Error(err)
			return nil
		}
		return NewViewAccess(v)
	})
	if _, err := e.st.EnsureGroupwareMailboxes(b.Context(), e.jane.ID); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	var wg sync.WaitGroup
	work := make(chan struct{})
	put := func() {
		defer wg.Done()
		for range work {
			i := seq.Add(1)
			body := event(fmt.Sprintf("put-%d", i), fmt.Sprintf("Event %d", i), "20260302T100000Z", "20260302T110000Z", "")
			req, _ := http.NewRequest("PUT", e.srv.URL+fmt.Sprintf("/dav/calendars/jane@example.test/Calendar/put-%d.ics", i), strings.NewReader(body))
			req.SetBasicAuth("jane@example.test", password)
			req.Header.Set("Content-Type", "text/calendar")
			req.Header.Set("If-None-Match", "*")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Errorf("PUT: %d", resp.StatusCode)
			}
		}
	}
	wg.Add(2)
	go put()
	go put()
	b.ResetTimer()
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
}
