package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStorageConfig: the CLI opens the store [storage] names, in
// [storage] path, and `floe check` works on it through storage.Checker.
func TestStorageConfig(t *testing.T) {
	store := filepath.Join(t.TempDir(), "elsewhere")
	cfgFile, dataDir := writeConfig(t, nil, "[storage]\nbackend = \"sqlite\"\npath = \""+store+"\"\n")
	c := func(args ...string) []string { return append(args, "--config", cfgFile) }
	floe(t, "a-Secret-12345\n", c("account", "add", "someone@example.com", "--password-stdin")...).
		expect(t, 0, "added account someone@example.com")
	if _, err := os.Stat(filepath.Join(store, "floe.db")); err != nil {
		t.Fatalf("no database in [storage] path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "floe.db")); err == nil {
		t.Fatal("database in data_dir although [storage] path is set")
	}
	floe(t, "", c("account", "list")...).expect(t, 0, "someone@example.com")
	floe(t, "", c("check")...).expect(t, 0, "ok")
}
