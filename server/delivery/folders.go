package delivery

import (
	"strings"
	"sync"

	"github.com/floemail/floe/storage"
)

// folderCache remembers the folders of accounts that rules filed messages
// into and that existed then (found or created by ensureMailbox), so that a
// rule moving every message into the same folder costs no directory read
// per message. An entry is only a hint: the folder may have been deleted
// or renamed since (IMAP, another process). Execute stores the copy by
// name; a copy refused with storage.ErrNoMailbox for a folder taken from
// the cache drops the entry, and the folder is found or created again and
// the copy stored in a second transaction (Execute's refile), so a
// message ends where it would have without the cache.
type folderCache struct {
	mu sync.Mutex
	m  map[folderKey]struct{}
}

type folderKey struct {
	acct storage.AccountID
	name string
}

// maxFolderCache bounds the folders remembered (the cache starts over
// when full).
const maxFolderCache = 10000

func (c *folderCache) has(acct storage.AccountID, name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[folderKey{acct, name}]
	return ok
}

// add remembers that name is one of acct's folders. INBOX, which
// ensureMailbox never reads, is not remembered.
func (c *folderCache) add(acct storage.AccountID, name string) {
	if strings.EqualFold(name, "INBOX") {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxFolderCache {
		c.m = map[folderKey]struct{}{}
	}
	c.m[folderKey{acct, name}] = struct{}{}
}

func (c *folderCache) drop(acct storage.AccountID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, folderKey{acct, name})
}
