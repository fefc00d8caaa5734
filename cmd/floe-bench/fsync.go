package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// fsyncConfig describes one disk baseline run.
type fsyncConfig struct {
	Dir     string
	Conns   int
	N       int
	Size    int
	DirSync bool // also rename into place and fsync the directory, as the blob store does
}

// runFsyncLoad writes cfg.N files of cfg.Size bytes, cfg.Conns at a time,
// each fsynced before it counts; the latency of an operation is create to
// durable. The files are removed afterwards.
func runFsyncLoad(ctx context.Context, cfg fsyncConfig) (result, error) {
	dir, err := os.MkdirTemp(cfg.Dir, "floe-bench-fsync-*")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	data := make([]byte, cfg.Size)
	rand.Read(data)

	var (
		next atomic.Int64
		mu   sync.Mutex
		res  result
		wg   sync.WaitGroup
		errs []error
	)
	res.Latencies = make([]time.Duration, 0, cfg.N)
	start := time.Now()
	for w := 0; w < cfg.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, cfg.N/cfg.Conns+1)
			var failed int
			var firstErr error
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= cfg.N {
					break
				}
				t0 := time.Now()
				if err := writeDurable(dir, i, data, cfg.DirSync); err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.Latencies = append(res.Latencies, lat...)
			res.Sent += len(lat)
			res.Errors += failed
			if firstErr != nil {
				errs = append(errs, firstErr)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if len(errs) > 0 {
		return res, errs[0]
	}
	return res, ctx.Err()
}

func writeDurable(dir string, i int, data []byte, dirSync bool) error {
	name := filepath.Join(dir, fmt.Sprintf("f%07d", i))
	tmp := name
	if dirSync {
		tmp = name + ".tmp"
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !dirSync {
		return nil
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func runFsync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floe-bench fsync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg fsyncConfig
	fs.StringVar(&cfg.Dir, "dir", os.TempDir(), "directory on the disk to measure")
	fs.IntVar(&cfg.Conns, "c", 20, "concurrent writers")
	fs.IntVar(&cfg.N, "n", 2000, "files to write in total")
	fs.IntVar(&cfg.Size, "size", 5120, "file size in bytes")
	fs.BoolVar(&cfg.DirSync, "dirsync", false, "also rename into place and fsync the directory (as the blob store does)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Conns < 1 || cfg.N < 1 || cfg.Size < 0 {
		return fmt.Errorf("-c and -n must be at least 1")
	}
	res, err := runFsyncLoad(ctx, cfg)
	if err != nil {
		return err
	}
	label := "file"
	if cfg.DirSync {
		label = "file+dir"
	}
	line := res.lineUnit("fsync", label, "ops", cfg.Conns, cfg.Size)
	fmt.Fprintln(stdout, line)
	return nil
}
