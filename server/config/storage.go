package config

import (
	"slices"
	"strings"
)

// Storage is the [storage] table: which storage backend holds the
// directory, the mailboxes and the blobs (storage/backends opens it).
type Storage struct {
	// Backend names the backend: "sqlite" (the default, embedded).
	Backend string `toml:"backend"`
	// Path is where the backend keeps its data: for sqlite, the directory
	// of the database and the blob store. Empty: [server] data_dir.
	Path string `toml:"path"`
}

// StorageBackends are the backend names storage/backends can open (its
// tests check that the two lists agree).
var StorageBackends = []string{"sqlite"}

// defaultStorage returns the [storage] defaults.
func defaultStorage() Storage { return Storage{Backend: "sqlite"} }

// StoragePath is where the store lives: [storage] path, or [server]
// data_dir when it is empty.
func (c *Config) StoragePath() string {
	if c.Storage.Path != "" {
		return c.Storage.Path
	}
	return c.Server.DataDir
}

func (c *Config) validateStorage(v *validator) {
	c.Storage.Backend = strings.ToLower(strings.TrimSpace(c.Storage.Backend))
	if !slices.Contains(StorageBackends, c.Storage.Backend) {
		v.fail("storage.backend", "unknown storage backend %q; use one of: %s", c.Storage.Backend, strings.Join(StorageBackends, ", "))
	}
}
