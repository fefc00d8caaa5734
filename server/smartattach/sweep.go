package smartattach

import (
	"context"
	"errors"
	"time"

	"github.com/floemail/floe/storage"
)

// SweepLinks deletes the files whose download links all ended (expired or
// revoked) at now, and returns how many it deleted. The server's
// maintenance loop runs it (docs/files.md, "Links"). A file is deleted
// only when it is still the file its links were made for:
//
//   - every link naming it (its folder and name) ended: a file that one
//     live link still serves stays, even when older links to it ended (one
//     file sent in several messages is one file);
//   - it has the content the links were made for (a file the owner
//     changed since is the owner's) and was not created after the newest
//     of them (a file of the same name made later is another file);
//
// renamed files are not found under the link's name and stay. Deleting a
// file removes its row and message; content shared with other files or
// messages (content-addressed blobs) stays with them. The links
// themselves are kept (floe smartattach list --all shows them; purge
// forgets them).
func SweepLinks(ctx context.Context, st storage.Store, now time.Time) (int, error) {
	links, err := st.Links(ctx, 0)
	if err != nil {
		return 0, err
	}
	type fileKey struct {
		mbox storage.MailboxID
		name string
	}
	type group struct {
		acct     storage.AccountID
		live     bool
		contents map[storage.BlobID]bool
		newest   time.Time
	}
	groups := map[fileKey]*group{}
	var order []fileKey
	for _, l := range links {
		k := fileKey{l.Mailbox, l.Name}
		g := groups[k]
		if g == nil {
			g = &group{acct: l.Account, contents: map[storage.BlobID]bool{}}
			groups[k] = g
			order = append(order, k)
		}
		g.live = g.live || l.Live(now)
		g.contents[l.Content] = true
		if l.Created.After(g.newest) {
			g.newest = l.Created
		}
	}
	n := 0
	for _, k := range order {
		g := groups[k]
		if g.live {
			continue
		}
		f, err := st.File(ctx, k.mbox, k.name)
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoMailbox) {
			continue
		}
		if err != nil {
			return n, err
		}
		if !g.contents[f.Content] || f.Created.After(g.newest) {
			continue
		}
		// A message submitted meanwhile may have made a new link to the
		// file (reuse): look again right before deleting.
		again, err := st.Links(ctx, g.acct)
		if err != nil {
			return n, err
		}
		newLink := false
		for _, l := range again {
			newLink = newLink || l.Mailbox == k.mbox && l.Name == k.name && l.Live(now)
		}
		if newLink {
			continue
		}
		err = st.DeleteFile(ctx, k.mbox, k.name)
		switch {
		case err == nil:
			n++
		case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrNoMailbox):
		default:
			return n, err
		}
	}
	return n, nil
}
