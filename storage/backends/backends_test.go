package backends

import (
	"errors"
	"slices"
	"testing"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/storagetest"
)

// TestConfigAgrees: the names [storage] backend accepts are exactly those
// Open knows.
func TestConfigAgrees(t *testing.T) {
	want := slices.Clone(config.StorageBackends)
	slices.Sort(want)
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("backends.Names() = %v, config accepts %v", got, want)
	}
	if c := config.Development(); !Known(c.Storage.Backend) {
		t.Fatalf("default backend %q unknown", c.Storage.Backend)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(t.Context(), Options{Backend: "postgres", Path: t.TempDir()})
	if !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("unknown backend: %v", err)
	}
	if _, err := Open(t.Context(), Options{Backend: "sqlite"}); err == nil {
		t.Fatal("Open without a path succeeded")
	}
}

// TestSQLite runs the conformance suite on a store opened through the
// factory, and checks the optional interfaces the server and the CLI use.
func TestSQLite(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		st, err := Open(t.Context(), Options{Backend: "sqlite", Path: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, ok := st.(storage.Checker); !ok {
			t.Fatal("sqlite store is not a storage.Checker")
		}
		if _, ok := st.(storage.OrphanRemover); !ok {
			t.Fatal("sqlite store is not a storage.OrphanRemover")
		}
		return st
	})
}
