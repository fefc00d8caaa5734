// Package blob is Floe's content-addressed blob store on disk. A blob is
// named by the lowercase hex SHA-256 of its content and lives at
// <dir>/ab/cd/<hex>, so identical content is stored once.
//
// Durability discipline (the order the storage layer relies on): Put writes
// the content to a temporary file in <dir>/tmp (same filesystem) and renames
// it to its final name, without waiting for the disk. Sync then fsyncs the
// files and every directory entry they need, many blobs at once; the
// metadata that references a blob may be committed only after Sync of that
// blob returned. The SQLite store calls Sync for all the blobs of a group
// commit just before the commit, so concurrent deliveries share their
// fsyncs. A crash before Sync leaves at worst an unreferenced ("orphan")
// file, which is harmless and can be removed later; Open makes whatever an
// earlier process left durable (syncfs), and Put re-verifies an existing file
// it did not write itself before trusting it.
package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/floemail/floe/storage"
)

// ErrTooLarge is returned by Put when the content exceeds the maximum size.
// It is returned together with storage.ErrInvalid (errors.Is matches both).
var ErrTooLarge = errors.New("blob too large")

// Store is a blob store rooted at one directory. It is safe for concurrent use.
type Store struct {
	dir     string
	tmp     string
	maxSize atomic.Int64

	// created caches the fan-out directories known to exist.
	created sync.Map // string -> struct{}

	mu sync.Mutex
	// pending holds blobs renamed into place by this process whose content
	// and directory entry are not yet known to be durable.
	pending map[storage.BlobID]struct{}
	// pendingDirs holds directories whose entry in their parent is not yet
	// durable (created by Put, fsynced by the next Sync).
	pendingDirs map[string]struct{}
	// pins counts the Puts of each blob not yet followed by Unpin (the
	// caller's Deliver or discard): content is shared, so a file an earlier
	// message referenced may be about to be referenced again (see Pinned).
	pins map[storage.BlobID]pin
}

// pin is the pin count of a blob and when it was last pinned.
type pin struct {
	n    int
	last time.Time
}

// pinTTL bounds how long a Put keeps its blob pinned when the caller never
// unpins it (a failure path): the file is then left to orphan collection.
const pinTTL = 10 * time.Minute

// tmpMaxAge is how long a temporary file may go unmodified before Open
// removes it as the leftover of a crash. A Put in progress (from another
// process sharing the store) keeps writing, so its file stays young.
const tmpMaxAge = time.Hour

// Open opens (creating it if needed) the blob store in dir.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("blob: empty directory: %w", storage.ErrInvalid)
	}
	dir = filepath.Clean(dir)
	s := &Store{dir: dir, tmp: filepath.Join(dir, "tmp"),
		pending: map[storage.BlobID]struct{}{}, pendingDirs: map[string]struct{}{},
		pins: map[storage.BlobID]pin{}}
	for _, d := range []string{dir, s.tmp} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, mapErr(fmt.Errorf("blob: create %s: %w", d, err))
		}
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	// Whatever an earlier process wrote but did not fsync (it was killed
	// between Put and Sync) becomes durable now, so that Put may treat
	// files it finds as they are on disk.
	if err := syncFS(dir); err != nil {
		return nil, err
	}
	// Temporary files left by a crash are never referenced: remove the old
	// ones. Young ones may belong to a Put in progress in another process
	// (the CLI and the server share the store).
	if ents, err := os.ReadDir(s.tmp); err == nil {
		cut := time.Now().Add(-tmpMaxAge)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(cut) {
				_ = os.Remove(filepath.Join(s.tmp, e.Name()))
			}
		}
	}
	return s, nil
}

// Dir returns the root directory of the store.
func (s *Store) Dir() string { return s.dir }

// SetMaxSize sets the largest blob Put accepts; 0 (the default) means no limit.
func (s *Store) SetMaxSize(n int64) { s.maxSize.Store(n) }

// ValidID reports whether id is a well-formed blob ID (64 lowercase hex digits).
func ValidID(id storage.BlobID) bool {
	if len(id) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Path returns the file path of blob id. The id must be valid.
func (s *Store) Path(id storage.BlobID) string {
	h := string(id)
	return filepath.Join(s.dir, h[0:2], h[2:4], h)
}

func (s *Store) path(id storage.BlobID) (string, error) {
	if !ValidID(id) {
		return "", fmt.Errorf("blob: malformed id %q: %w", id, storage.ErrInvalid)
	}
	return s.Path(id), nil
}

// Put stores the content of r under its hash and returns its reference.
// The blob is not yet durable: call Sync before committing anything that
// references it. If a blob with the same content exists, the new copy is
// dropped (one copy). Put fails with ErrTooLarge (and storage.ErrInvalid)
// when the content exceeds the maximum size, and with storage.ErrStorageFull
// when the disk is full.
func (s *Store) Put(r io.Reader) (storage.BlobRef, error) {
	f, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return storage.BlobRef{}, mapErr(fmt.Errorf("blob: create temp: %w", err))
	}
	tmpName := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmpName)
		}
	}()

	h := sha256.New()
	var src io.Reader = r
	max := s.maxSize.Load()
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err != nil {
		return storage.BlobRef{}, mapErr(fmt.Errorf("blob: write: %w", err))
	}
	if max > 0 && n > max {
		return storage.BlobRef{}, fmt.Errorf("blob: more than %d bytes: %w: %w", max, ErrTooLarge, storage.ErrInvalid)
	}
	if err := f.Close(); err != nil {
		return storage.BlobRef{}, mapErr(fmt.Errorf("blob: close: %w", err))
	}
	id := storage.BlobID(hex.EncodeToString(h.Sum(nil)))
	ref := storage.BlobRef{ID: id, Size: n}
	final := s.Path(id)
	if err := s.ensureDir(filepath.Dir(final)); err != nil {
		return storage.BlobRef{}, err
	}
	s.mu.Lock()
	_, isPending := s.pending[id]
	s.pinLocked(id)
	s.mu.Unlock()
	defer func() {
		if !ok {
			s.Unpin(id)
		}
	}()
	if _, err := os.Lstat(final); err == nil {
		// Already stored. A file this process put and has not synced yet
		// is complete (renamed after writing); one found otherwise may be
		// the remains of a machine crash: trust it only if it verifies.
		if isPending || s.verifySize(id, n) {
			os.Remove(tmpName)
			ok = true
			// Refresh its mtime so that orphan collection (which spares
			// young files) does not remove it while the caller is about to
			// reference it.
			now := time.Now()
			_ = os.Chtimes(final, now, now)
			return ref, nil
		}
	}
	if err := os.Rename(tmpName, final); err != nil {
		return storage.BlobRef{}, mapErr(fmt.Errorf("blob: rename: %w", err))
	}
	ok = true
	s.mu.Lock()
	s.pending[id] = struct{}{}
	s.mu.Unlock()
	return ref, nil
}

// pinLocked records a Put of id (s.mu held), dropping expired pins now and
// then so that the map stays small.
func (s *Store) pinLocked(id storage.BlobID) {
	now := time.Now()
	if len(s.pins) >= 1024 {
		for k, p := range s.pins {
			if now.Sub(p.last) > pinTTL {
				delete(s.pins, k)
			}
		}
	}
	p := s.pins[id]
	p.n++
	p.last = now
	s.pins[id] = p
}

// Unpin ends the pin of one Put of id: the caller referenced the blob (its
// Deliver returned) or gave it up (discard).
func (s *Store) Unpin(id storage.BlobID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pins[id]
	if !ok {
		return
	}
	if p.n--; p.n <= 0 {
		delete(s.pins, id)
		return
	}
	s.pins[id] = p
}

// Pinned reports whether a Put of id (within pinTTL) has not been unpinned
// yet. Whoever deletes unreferenced blob files must spare pinned ones: a
// concurrent Put of the same content found the file in place and its
// caller is about to reference it.
func (s *Store) Pinned(id storage.BlobID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pins[id]
	return ok && p.n > 0 && time.Since(p.last) <= pinTTL
}

// verifySize reports whether the existing blob id has size n and content
// matching its name.
func (s *Store) verifySize(id storage.BlobID, n int64) bool {
	got, err := s.Verify(id)
	return err == nil && got == n
}

// Sync makes the given blobs durable: their content, their directory entries
// and every fan-out directory Put created. Blobs already durable cost
// nothing. The fsyncs (files and directories alike) run concurrently, in
// one round, so the filesystem can fold them into few journal commits.
func (s *Store) Sync(ids []storage.BlobID) error {
	s.mu.Lock()
	var files []storage.BlobID
	for _, id := range ids {
		if _, ok := s.pending[id]; ok {
			files = append(files, id)
		}
	}
	dirs := make([]string, 0, len(s.pendingDirs)+len(files))
	for d := range s.pendingDirs {
		dirs = append(dirs, d)
	}
	s.mu.Unlock()
	if len(files) == 0 && len(dirs) == 0 {
		return nil
	}
	paths := make([]string, len(files))
	seen := map[string]bool{}
	for i, id := range files {
		paths[i] = s.Path(id)
		if leaf := filepath.Dir(paths[i]); !seen[leaf] {
			seen[leaf] = true
			dirs = append(dirs, leaf)
		}
	}
	// Files and directories in one concurrent round: the commit that
	// references the blobs waits for all of them, and until then a crash
	// leaves at worst an orphan or a file Put does not trust unverified
	// (see the package comment), whichever order the fsyncs complete in.
	all := make([]string, 0, len(paths)+len(dirs))
	all = append(all, paths...)
	isDir := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		if !isDir[d] {
			isDir[d] = true
			all = append(all, d)
		}
	}
	if err := parallel(all, func(p string) error {
		if isDir[p] {
			return syncDir(p)
		}
		return syncFile(p)
	}); err != nil {
		return err
	}
	s.mu.Lock()
	for _, id := range files {
		delete(s.pending, id)
	}
	for _, d := range dirs {
		delete(s.pendingDirs, d)
	}
	s.mu.Unlock()
	return nil
}

// parallel runs fn on every item, at most 32 at a time, and returns the
// first error.
func parallel(items []string, fn func(string) error) error {
	if len(items) == 1 {
		return fn(items[0])
	}
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(items))
	for _, it := range items {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			defer func() {
				// An fsync helper must not take the process down: the
				// panic becomes the batch's error, with the stack.
				if v := recover(); v != nil {
					errs <- fmt.Errorf("blob: panic: %v\n%s", v, debug.Stack())
				}
			}()
			errs <- fn(it)
		}()
	}
	var first error
	for range items {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ensureDir makes sure dir (<root>/ab or <root>/ab/cd) exists. A directory
// it creates is recorded so that the next Sync makes its entry in the
// parent durable.
func (s *Store) ensureDir(dir string) error {
	if _, ok := s.created.Load(dir); ok {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != s.dir {
		if err := s.ensureDir(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return mapErr(fmt.Errorf("blob: mkdir: %w", err))
	}
	// Whoever created it may not have synced the parent yet: record it
	// before publishing it in created, so no Sync can miss it.
	s.mu.Lock()
	s.pendingDirs[parent] = struct{}{}
	s.mu.Unlock()
	s.created.Store(dir, struct{}{})
	return nil
}

// File is an open blob. It implements storage.Blob.
type File struct {
	*os.File
	size int64
}

// Size returns the blob's size in bytes.
func (f *File) Size() int64 { return f.size }

var _ storage.Blob = (*File)(nil)

// Open opens blob id for reading (storage.ErrNotFound when absent).
func (s *Store) Open(id storage.BlobID) (*File, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: %w", id, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: stat: %w", err)
	}
	return &File{File: f, size: st.Size()}, nil
}

// Stat returns the size of blob id (storage.ErrNotFound when absent).
func (s *Store) Stat(id storage.BlobID) (int64, error) {
	p, err := s.path(id)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("blob %s: %w", id, storage.ErrNotFound)
		}
		return 0, fmt.Errorf("blob: stat: %w", err)
	}
	return st.Size(), nil
}

// Delete removes blob id. Deleting an absent blob is not an error. The
// removal is not fsynced: after a crash the blob may reappear as an orphan.
func (s *Store) Delete(id storage.BlobID) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete: %w", err)
	}
	return nil
}

// Verify re-reads blob id and checks that its content hashes to its name.
// It returns storage.ErrNotFound when the blob is absent and an error
// describing the mismatch when it is corrupt; the size is returned on success.
func (s *Store) Verify(id storage.BlobID) (int64, error) {
	f, err := s.Open(id)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return n, fmt.Errorf("blob %s: read: %w", id, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != string(id) {
		return n, fmt.Errorf("blob %s: content hashes to %s: %w", id, got, ErrCorrupt)
	}
	return n, nil
}

// ErrCorrupt is returned by Verify when a blob's content does not match its name.
var ErrCorrupt = errors.New("blob corrupt")

// Info describes a stored blob file, as Walk reports it.
type Info struct {
	ID      storage.BlobID
	Size    int64
	ModTime time.Time
}

// Walk calls fn for every blob file in the store, in no particular order.
// Files whose names are not blob IDs are skipped. If fn returns an error,
// Walk stops and returns it.
func (s *Store) Walk(fn func(Info) error) error {
	l1, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("blob: walk: %w", err)
	}
	for _, a := range l1 {
		if !a.IsDir() || len(a.Name()) != 2 {
			continue
		}
		l2, err := os.ReadDir(filepath.Join(s.dir, a.Name()))
		if err != nil {
			return fmt.Errorf("blob: walk: %w", err)
		}
		for _, b := range l2 {
			if !b.IsDir() || len(b.Name()) != 2 {
				continue
			}
			l3, err := os.ReadDir(filepath.Join(s.dir, a.Name(), b.Name()))
			if err != nil {
				return fmt.Errorf("blob: walk: %w", err)
			}
			for _, e := range l3 {
				id := storage.BlobID(e.Name())
				if !e.Type().IsRegular() || !ValidID(id) || string(id[0:2]) != a.Name() || string(id[2:4]) != b.Name() {
					continue
				}
				fi, err := e.Info()
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						continue // deleted meanwhile
					}
					return fmt.Errorf("blob: walk: %w", err)
				}
				if err := fn(Info{ID: id, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// List returns the IDs of every blob file in the store.
func (s *Store) List() ([]storage.BlobID, error) {
	var ids []storage.BlobID
	err := s.Walk(func(i Info) error {
		ids = append(ids, i.ID)
		return nil
	})
	return ids, err
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return mapErr(fmt.Errorf("blob: open for fsync: %w", err))
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return mapErr(fmt.Errorf("blob: fsync: %w", err))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return mapErr(fmt.Errorf("blob: open dir: %w", err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return mapErr(fmt.Errorf("blob: fsync dir: %w", err))
	}
	return nil
}

// mapErr adds storage.ErrStorageFull to errors caused by a full disk or an
// exhausted filesystem quota.
func mapErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", storage.ErrStorageFull, err)
	}
	return err
}
