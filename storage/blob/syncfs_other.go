//go:build !linux

package blob

import "syscall"

// syncFS flushes everything (no per-filesystem call here).
func syncFS(string) error {
	syscall.Sync()
	return nil
}
