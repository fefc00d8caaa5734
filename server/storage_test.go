package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
)

// TestStoragePath: the store is opened by the factory from [storage]: in
// [storage] path when set (certificates stay in data_dir), and an unknown
// backend is refused at start with its name.
func TestStoragePath(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners = config.Listeners{SMTP: "127.0.0.1:0"}
	cfg.Storage.Path = filepath.Join(t.TempDir(), "store")
	startServer(t, cfg)
	if _, err := os.Stat(filepath.Join(cfg.Storage.Path, "floe.db")); err != nil {
		t.Fatalf("no database in [storage] path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Server.DataDir, "floe.db")); err == nil {
		t.Fatal("database created in data_dir although [storage] path is set")
	}
	st, err := OpenStore(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Account(t.Context(), "nobody@example.test"); err == nil {
		t.Fatal("unexpected account")
	}
	st.Close()

	bad := testConfig(t)
	bad.Storage.Backend = "postgres" // what Validate would refuse, forced
	srv, err := New(bad, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start(context.Background())
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("Start with an unknown backend succeeded")
	}
	if !strings.Contains(err.Error(), `"postgres"`) {
		t.Fatalf("error %q does not name the backend", err)
	}
}
