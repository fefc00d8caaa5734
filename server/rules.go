package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/srs"
)

// srsKeyFile is where a generated SRS key is kept, in the data directory.
const srsKeyFile = "srs.key"

// openSRS returns the SRS of [filtering]: the configured keys, or the key
// in DATA_DIR/srs.key, generated (0600) the first time.
func openSRS(cfg *config.Config) (*srs.SRS, error) {
	keys := cfg.Filtering.SRSSecrets
	if len(keys) == 0 {
		k, err := srsKey(cfg.Server.DataDir)
		if err != nil {
			return nil, err
		}
		keys = []string{k}
	}
	return srs.New(keys, cfg.Filtering.SRSMaxAge.D())
}

func srsKey(dir string) (string, error) {
	path := filepath.Join(dir, srsKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) < 16 {
			return "", fmt.Errorf("%s: key shorter than 16 characters", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	k := hex.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // another process made it first
			return srsKey(dir)
		}
		return "", err
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	return k, f.Close()
}

// ptrLookup returns rDNS lookups for rules: through the [checks] resolver
// when one is configured, else the system's.
func ptrLookup(cfg func() *config.Config) func(ctx context.Context, addr string) ([]string, error) {
	return func(ctx context.Context, addr string) ([]string, error) {
		r := net.DefaultResolver
		if dns := cfg().Checks.DNS; dns != "" {
			r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				d := net.Dialer{Timeout: 5 * time.Second}
				return d.DialContext(ctx, network, dns)
			}}
		}
		return r.LookupAddr(ctx, addr)
	}
}
