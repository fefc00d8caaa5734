package smtp

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// maxFromHeaderRead bounds the bytes of a submitted message read to find
// its From field (the header section, as storage keeps it).
const maxFromHeaderRead = storage.MaxStoredHeader

// errFromNotOwned refuses a submission whose From header names an address
// of a local domain that the account may not use.
var errFromNotOwned = reply(553, 5, 7, 1, "From header address not owned by the authenticated user")

// headerFromAddresses returns the addresses (local@domain, domain
// lowercased) of the top-level From fields of a message (RFC 5322
// 3.6.2), reading its header section only, at most maxFromHeaderRead
// bytes. Group markers and addresses without a domain are left out.
func headerFromAddresses(r io.Reader) []string {
	br := bufio.NewReader(io.LimitReader(r, maxFromHeaderRead))
	var fields []string // the From fields' values, unfolded
	inFrom := false
	for {
		line, err := br.ReadString('\n')
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			break // the end of the header section (or of the input)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if inFrom {
				fields[len(fields)-1] += trimmed
			}
		} else {
			name, value, ok := strings.Cut(trimmed, ":")
			inFrom = ok && strings.EqualFold(strings.TrimRight(name, " \t"), "From")
			if inFrom {
				fields = append(fields, value)
			}
		}
		if err != nil {
			break
		}
	}
	var out []string
	for _, f := range fields {
		for _, a := range mimeparse.ParseAddressList(f) {
			if a.Host == "" || a.Host == mimeparse.MissingDomain || a.Mailbox == "" || a.Mailbox == mimeparse.MissingMailbox ||
				strings.ContainsAny(a.Host, "@ \t") {
				continue // group markers, incomplete or malformed addresses
			}
			out = append(out, a.Mailbox+"@"+strings.ToLower(a.Host))
		}
	}
	return out
}

// checkHeaderFrom is the submission check of the message's From header
// (RFC 6409 8.1 lets a submission server check it): an address of a
// local domain there must be one the account may use as envelope sender
// (Deliverer.Owns: its own, its aliases', a send-as grant's, with a
// +tag). Otherwise a user could sign mail as any colleague: outbound mail
// is DKIM-signed for the From's domain (docs/outbound.md), so the forgery
// would pass DMARC. Addresses of other domains are not ours to judge.
func (s *session) checkHeaderFrom(ctx context.Context, ref storage.BlobRef) error {
	b, err := s.srv.opts.Store.OpenBlob(ctx, ref.ID)
	if err != nil {
		return err
	}
	defer b.Close()
	for _, addr := range headerFromAddresses(b) {
		_, domain, _ := strings.Cut(addr, "@")
		if _, err := s.srv.opts.Store.Domain(ctx, domain); err != nil {
			if errors.Is(err, storage.ErrNoDomain) {
				continue // not a local domain
			}
			return err
		}
		ok, err := s.srv.opts.Delivery.Owns(ctx, s.principal.Account, addr)
		if err != nil {
			return err
		}
		if !ok {
			s.log.Info("message refused: From header address not owned", "from_header", addr, "account", s.principal.Address)
			return errFromNotOwned
		}
	}
	return nil
}
