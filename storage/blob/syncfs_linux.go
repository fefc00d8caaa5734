package blob

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole filesystem holding dir (syncfs(2)).
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return mapErr(fmt.Errorf("blob: open dir: %w", err))
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return mapErr(fmt.Errorf("blob: syncfs: %w", err))
	}
	return nil
}
