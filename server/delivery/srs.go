package delivery

import (
	"context"
	"errors"
	"strings"

	"github.com/floemail/floe/server/srs"
	"github.com/floemail/floe/storage"
)

// ErrNoSRS is returned by ReverseSRS when the server has no SRS key.
var ErrNoSRS = errors.New("no SRS key")

// ReverseSRS turns an SRS address of one of our domains (the recipient of
// a bounce to a message our forwarder sent on) back into the original
// sender. An SRS1 address whose first forwarder is also ours is reversed
// again. Errors: ErrNotLocal (not one of our domains), srs.ErrForged,
// srs.ErrExpired, srs.ErrInvalid, srs.ErrNotSRS, ErrNoSRS.
func (d *Deliverer) ReverseSRS(ctx context.Context, addr string) (string, error) {
	if d.srs == nil {
		return "", ErrNoSRS
	}
	for range 4 {
		i := strings.LastIndexByte(addr, '@')
		if i <= 0 {
			return "", srs.ErrInvalid
		}
		if _, err := d.store.Domain(ctx, strings.ToLower(addr[i+1:])); err != nil {
			if errors.Is(err, storage.ErrNoDomain) || errors.Is(err, storage.ErrNotFound) {
				return "", ErrNotLocal
			}
			return "", err
		}
		orig, err := d.srs.Reverse(addr, d.now())
		if err != nil {
			return "", err
		}
		if !srs.IsSRS(orig) {
			return orig, nil
		}
		addr = orig
		j := strings.LastIndexByte(addr, '@')
		if _, err := d.store.Domain(ctx, strings.ToLower(addr[j+1:])); err != nil {
			return orig, nil // the first forwarder is another server: send it there
		}
	}
	return "", srs.ErrInvalid
}

// deliverSRS delivers a bounce addressed to an SRS address of ours to the
// original sender: locally, or through the outbound queue.
func (d *Deliverer) deliverSRS(ctx context.Context, from, to string, blob storage.BlobRef) (bool, error) {
	orig, err := d.ReverseSRS(ctx, to)
	if err != nil {
		d.log.Info("bounce to an invalid SRS address dropped", "to", to, "err", err)
		return true, ErrUnknownUser
	}
	d.log.Info("bounce to a forwarded message returned to its sender", "srs", to, "to", orig)
	return true, d.deliverGenerated(ctx, from, []string{orig}, blob, 0)
}
