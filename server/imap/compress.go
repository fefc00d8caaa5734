package imap

import (
	"strings"

	"github.com/floemail/floe/server/imap/deflate"
)

// COMPRESS=DEFLATE (RFC 4978): after "COMPRESS DEFLATE" is answered OK,
// everything both ways is a raw DEFLATE stream (RFC 1951), below the
// IMAP layer and above TLS (RFC 4978 3: compress, then encrypt). The
// command is valid after login (command-auth) and once per connection.
//
// Cost per connection (server/imap/deflate):
//   - reading: the inflater's history grows with what the client sent, up
//     to the 32 KiB a compressor may refer back to, plus a 512-byte input
//     buffer and, once the client used a dynamic Huffman block, 2.3 KiB of
//     tables: a few KiB for an idle client (compress/flate's reader would
//     take about 40 KiB from the start);
//   - writing: nothing between responses. Each batch of responses (what
//     one encoder flush sends) borrows a compressor from the server's pool
//     (about 1.2 MiB each, at most maxCompressors at once) and ends with a
//     sync flush; when all are in use the batch goes out as stored
//     DEFLATE blocks. Batches do not share a dictionary (as after a zlib
//     full flush), which costs some ratio on many tiny responses.

// maxCompressors bounds the compressors in use at once, server-wide
// (about 1.2 MiB each: at most ~38 MiB).
const maxCompressors = 32

func init() {
	register("COMPRESS", command{fn: cmdCompress, states: authStates})
}

// cmdCompress: COMPRESS SP "DEFLATE" (RFC 4978 3). The tagged OK is written
// and flushed uncompressed here; compression starts right after its CRLF.
func cmdCompress(s *session, tag string, d *decoder) error {
	if err := d.SP(); err != nil {
		return err
	}
	mech, err := d.Atom()
	if err != nil {
		return err
	}
	if err := d.CRLF(); err != nil {
		return err
	}
	if !strings.EqualFold(mech, "DEFLATE") {
		return errBad("unknown compression mechanism")
	}
	if s.zw != nil {
		return errBad("compression already active") // RFC 4978 3: BAD
	}
	// Updates pending now go out before the OK, uncompressed, like those
	// of any command.
	if err := s.flushUpdates(true); err != nil {
		return err
	}
	s.writeTagged(tag, "OK", "", "DEFLATE active")
	if err := s.e.Flush(); err != nil {
		return err
	}
	zr := deflate.NewReader(connIO{s})
	if n := s.r.Buffered(); n > 0 {
		// The client must wait for the OK (RFC 4978 3); whatever it sent
		// before is the start of its compressed stream.
		b, _ := s.r.Peek(n)
		if err := zr.Prepend(b); err != nil {
			s.d.ioErr = err
			return err
		}
	}
	s.r.Reset(zr)
	s.zw = deflate.NewWriter(connIO{s}, s.srv.deflate)
	s.e.w = s.zw
	s.log.Debug("COMPRESS=DEFLATE active")
	return errStartTLSDone // the tagged response is written
}
