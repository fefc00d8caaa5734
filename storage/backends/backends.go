// Package backends opens the storage backend a configuration names. It is
// the one place, besides tests, that imports a backend package: the server
// and the CLI hold a storage.Store from Open and reach backend-specific
// abilities only through storage's optional interfaces (storage.Checker,
// storage.OrphanRemover), so a new backend plugs in here without changing
// them. Every backend must pass storage/storagetest.
package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// Options says which backend to open and where.
type Options struct {
	// Backend is the backend's name ([storage] backend): "sqlite".
	Backend string
	// Path is where the backend keeps its data ([storage] path, default
	// [server] data_dir): for sqlite, the directory of the database and
	// the blob store, created when missing.
	Path   string
	Logger *slog.Logger
	// MaxBlobSize is the largest blob PutBlob accepts (0: unlimited).
	MaxBlobSize int64
}

// ErrUnknownBackend is returned by Open for a backend name it does not know.
var ErrUnknownBackend = errors.New("unknown storage backend")

// opener opens one backend.
type opener func(ctx context.Context, o Options) (storage.Store, error)

// backends maps names to openers.
var backends = map[string]opener{
	"sqlite": func(ctx context.Context, o Options) (storage.Store, error) {
		return sqlite.Open(ctx, o.Path, sqlite.Options{Logger: o.Logger, MaxBlobSize: o.MaxBlobSize})
	},
}

// existers tell whether a backend's store exists at a path (without
// creating anything).
var existers = map[string]func(path string) bool{
	"sqlite": func(path string) bool {
		_, err := os.Stat(filepath.Join(path, sqlite.DatabaseFile))
		return err == nil
	},
}

// Exists reports whether the store o names has been created at o.Path
// (Open creates a missing one; the CLI asks first so that a command that
// only reads never creates an empty store). Unknown backends report false.
func Exists(o Options) bool {
	ex, ok := existers[o.Backend]
	return ok && o.Path != "" && ex(o.Path)
}

// Names returns the backend names Open knows, sorted.
func Names() []string {
	out := make([]string, 0, len(backends))
	for n := range backends {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Open opens the backend o names. The caller closes the store. An unknown
// name is ErrUnknownBackend, listing the known ones; an empty Path is an
// error (a store needs a place).
func Open(ctx context.Context, o Options) (storage.Store, error) {
	open, ok := backends[o.Backend]
	if !ok {
		return nil, fmt.Errorf("%w %q; known: %v", ErrUnknownBackend, o.Backend, Names())
	}
	if o.Path == "" {
		return nil, fmt.Errorf("storage backend %s: no path given", o.Backend)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return open(ctx, o)
}

// Known reports whether name is a backend Open knows.
func Known(name string) bool { return slices.Contains(Names(), name) }
