// Package deflate is the raw DEFLATE (RFC 1951) stream codec of IMAP
// COMPRESS=DEFLATE (RFC 4978), built for many long-lived, mostly idle
// connections:
//
//   - Reader inflates the client's stream. Its history window (the 32 KiB
//     a compressor may refer back to) grows with the data received instead
//     of being allocated whole, and no Huffman table is kept between
//     blocks beyond a small fixed part, so an idle connection that sent a
//     few commands costs a few KiB (compress/flate's reader costs about 40
//     KiB from the start). Read returns as soon as it has output and never
//     waits for more input while it holds some, as an interactive protocol
//     needs (a command must not wait behind the next one).
//   - Writer deflates the server's responses with compress/flate. A
//     compressor (about 1.2 MiB in Go's implementation) is borrowed from a
//     Pool for one response batch, from the first Write to Flush, and
//     given back at the sync flush: the stream stays valid because every
//     sync flush ends on a byte boundary and DEFLATE blocks need no
//     dictionary (RFC 4978 4: a full flush clears the dictionary and "the
//     receiving peer does not need to do anything"). An idle connection
//     holds no compressor. When the Pool's compressors are all in use, a
//     batch is sent as stored (uncompressed) DEFLATE blocks instead, so
//     memory stays bounded however many connections write at once.
package deflate

import (
	"errors"
	"io"
)

// Errors of a corrupt stream. After one, Read keeps returning it.
var (
	ErrCorrupt = errors.New("deflate: corrupt input")
)

const (
	maxHistory = 32 << 10 // RFC 1951 3.2.5: distances up to 32768
	inBufSize  = 512
	maxBits    = 15 // longest Huffman code
)

// fastBits is the width of the lookup table of short codes.
const fastBits = 9

// huffman is a canonical Huffman decoder (RFC 1951 3.2.2): count[n] codes
// of length n, symbols in code order. Codes of up to fastBits bits are
// looked up in fast (symbol<<4 | length, 0 for none, 1 KiB); longer ones
// are read one bit at a time, after the zlib "puff" reference decoder.
type huffman struct {
	count  [maxBits + 1]uint16
	symbol []uint16
	fast   [1 << fastBits]uint16
}

// build sets h from code lengths; it fails for an over-subscribed set.
// An incomplete set is allowed (RFC 1951 allows a single distance code).
func (h *huffman) build(lengths []uint8) error {
	h.count = [maxBits + 1]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	if int(h.count[0]) == len(lengths) {
		h.symbol = h.symbol[:0]
		return nil // no codes: fine until a code is read
	}
	left := 1
	for n := 1; n <= maxBits; n++ {
		left <<= 1
		left -= int(h.count[n])
		if left < 0 {
			return ErrCorrupt
		}
	}
	var offs [maxBits + 2]uint16
	for n := 1; n <= maxBits; n++ {
		offs[n+1] = offs[n] + h.count[n]
	}
	if cap(h.symbol) < len(lengths) {
		h.symbol = make([]uint16, len(lengths))
	}
	h.symbol = h.symbol[:len(lengths)]
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	// Canonical codes (RFC 1951 3.2.2), bit-reversed as they arrive, for
	// the lookup table.
	h.fast = [1 << fastBits]uint16{}
	var next [maxBits + 1]int
	code := 0
	for n := 1; n <= maxBits; n++ {
		next[n] = code
		code = (code + int(h.count[n])) << 1
	}
	for sym, l := range lengths {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		if l > fastBits {
			continue
		}
		rev := 0
		for i := 0; i < int(l); i++ {
			rev |= (c >> i & 1) << (int(l) - 1 - i)
		}
		for k := rev; k < 1<<fastBits; k += 1 << l {
			h.fast[k] = uint16(sym)<<4 | uint16(l)
		}
	}
	return nil
}

// Length and distance bases and extra bits (RFC 1951 3.2.5).
var (
	lenBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dstBase  = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	dstExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// Order of the code length code lengths (RFC 1951 3.2.7).
	clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// The fixed Huffman codes (RFC 1951 3.2.6), built once; never changed.
var fixedLit, fixedDist = func() (*huffman, *huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	lit, dist := &huffman{}, &huffman{}
	if lit.build(l[:]) != nil {
		panic("deflate: fixed literal code")
	}
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	if dist.build(d[:]) != nil {
		panic("deflate: fixed distance code")
	}
	return lit, dist
}()

// Block states.
const (
	stHeader = iota // before a block header
	stStored        // inside a stored block
	stCodes         // inside a Huffman-coded block
	stDone          // after the final block
)

// Reader inflates a raw DEFLATE stream read from r. It is used by one
// goroutine.
type Reader struct {
	r   io.Reader
	in  [inBufSize]byte
	ip  int // next unread byte of in
	end int // bytes in in

	bits  uint64 // bit buffer, next bit lowest
	nbits uint

	hist  []byte // the last min(total, 32 KiB) output bytes; a ring once full
	hpos  int    // next write position in hist when full
	hfull bool

	state    int
	final    bool
	stored   int // bytes left in the stored block
	lit      *huffman
	dist     *huffman
	dyn      *[2]huffman // the dynamic codes' storage, reused across blocks
	copyLen  int         // bytes of the current match left to copy
	copyDist int
	err      error
}

// NewReader returns a Reader of the DEFLATE stream in r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Reset makes z read a new stream from r, keeping its buffers.
func (z *Reader) Reset(r io.Reader) {
	*z = Reader{r: r, hist: z.hist[:0], dyn: z.dyn}
}

// HistorySize is the memory the history window holds now (its capacity).
func (z *Reader) HistorySize() int { return cap(z.hist) }

// Prepend makes p the first input bytes, before what r gives (data that
// was read ahead before compression started). It must be called before
// the first Read and p must fit in the input buffer.
func (z *Reader) Prepend(p []byte) error {
	if z.end-z.ip+len(p) > len(z.in) {
		return errors.New("deflate: too much read-ahead")
	}
	copy(z.in[z.end:], p)
	z.end += len(p)
	return nil
}

// errShort is the internal "not enough input buffered" signal.
var errShort = errors.New("deflate: short")

// fill moves buffered input bytes into the bit buffer.
func (z *Reader) fill() {
	for z.nbits <= 56 && z.ip < z.end {
		z.bits |= uint64(z.in[z.ip]) << z.nbits
		z.ip++
		z.nbits += 8
	}
}

// more reads input from r (blocking) into the input buffer.
func (z *Reader) more() error {
	if z.ip == z.end {
		z.ip, z.end = 0, 0
	}
	if z.end == len(z.in) {
		return nil
	}
	n, err := z.r.Read(z.in[z.end:])
	z.end += n
	if n > 0 {
		return nil
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// need makes at least n (<= 57) bits available, reading (blocking) as
// needed. Only for steps that run with no output pending.
func (z *Reader) need(n uint) error {
	for {
		z.fill()
		if z.nbits >= n {
			return nil
		}
		if err := z.more(); err != nil {
			return err
		}
	}
}

// take returns the next n bits (n <= 32), which must be available.
func (z *Reader) take(n uint) uint32 {
	v := uint32(z.bits & (1<<n - 1))
	z.bits >>= n
	z.nbits -= n
	return v
}

// decode reads one symbol of h from the bit buffer (errShort when the
// buffered bits end first; the caller restores the buffer).
func (z *Reader) decode(h *huffman) (int, error) {
	if e := h.fast[z.bits&(1<<fastBits-1)]; e != 0 && uint(e&15) <= z.nbits {
		z.bits >>= e & 15
		z.nbits -= uint(e & 15)
		return int(e >> 4), nil
	}
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		if z.nbits == 0 {
			return 0, errShort
		}
		code |= int(z.bits & 1)
		z.bits >>= 1
		z.nbits--
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+(code-first)]), nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, ErrCorrupt // ran out of codes
}

// Read inflates into p. It returns as soon as it produced output and the
// next step would have to wait for input; it waits for input only when it
// has produced nothing yet. At the end of the final block it returns
// io.EOF.
func (z *Reader) Read(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	n := 0
	for n < len(p) {
		if z.copyLen > 0 {
			n += z.copyMatch(p[n:])
			continue
		}
		switch z.state {
		case stDone:
			z.err = io.EOF
		case stHeader:
			if n > 0 {
				return n, nil // a header may be far away: give what we have
			}
			z.err = z.header()
		case stStored:
			var k int
			k, z.err = z.readStored(p[n:], n > 0)
			n += k
			if z.err == errShort {
				z.err = nil
				return n, nil
			}
		case stCodes:
			var k int
			k, z.err = z.readCodes(p[n:], n > 0)
			n += k
			if z.err == errShort {
				z.err = nil
				return n, nil
			}
		}
		if z.err != nil {
			if n > 0 && z.err == io.EOF {
				return n, nil
			}
			return n, z.err
		}
	}
	return n, nil
}

// out appends b to the history.
func (z *Reader) out(b []byte) {
	for len(b) > 0 {
		if !z.hfull {
			room := maxHistory - len(z.hist)
			k := min(room, len(b))
			if len(z.hist)+k > cap(z.hist) {
				c := max(2*cap(z.hist), 256, len(z.hist)+k)
				c = min(c, maxHistory)
				nh := make([]byte, len(z.hist), c)
				copy(nh, z.hist)
				z.hist = nh
			}
			z.hist = append(z.hist, b[:k]...)
			b = b[k:]
			if len(z.hist) == maxHistory {
				z.hfull, z.hpos = true, 0
			}
			continue
		}
		k := copy(z.hist[z.hpos:], b)
		z.hpos = (z.hpos + k) % maxHistory
		b = b[k:]
	}
}

// copyMatch copies as much of the pending match as fits in p.
func (z *Reader) copyMatch(p []byte) int {
	n := min(z.copyLen, len(p))
	for i := 0; i < n; {
		var src int
		var avail int
		if z.hfull {
			src = (z.hpos - z.copyDist + maxHistory) % maxHistory
			avail = min(maxHistory-src, z.copyDist)
		} else {
			src = len(z.hist) - z.copyDist
			avail = z.copyDist
		}
		k := min(n-i, avail)
		chunk := p[i : i+k]
		copy(chunk, z.hist[src:src+k])
		z.out(chunk)
		i += k
	}
	z.copyLen -= n
	return n
}

// histLen is the number of bytes a distance may reach back.
func (z *Reader) histLen() int {
	if z.hfull {
		return maxHistory
	}
	return len(z.hist)
}

// header reads a block header (and a dynamic block's code tables).
func (z *Reader) header() error {
	if z.final {
		z.state = stDone
		return io.EOF
	}
	if err := z.need(3); err != nil {
		return err
	}
	z.final = z.take(1) == 1
	switch z.take(2) {
	case 0: // stored (RFC 1951 3.2.4)
		z.take(z.nbits % 8) // to a byte boundary
		if err := z.need(32); err != nil {
			return err
		}
		l, nl := z.take(16), z.take(16)
		if l != ^nl&0xffff {
			return ErrCorrupt
		}
		z.stored = int(l)
		z.state = stStored
	case 1:
		z.lit, z.dist = fixedLit, fixedDist
		z.state = stCodes
	case 2:
		if err := z.dynamic(); err != nil {
			return err
		}
		z.state = stCodes
	default:
		return ErrCorrupt
	}
	return nil
}

// dynamic reads the code tables of a dynamic Huffman block (RFC 1951
// 3.2.7). It runs with no output pending, so it may wait for input.
func (z *Reader) dynamic() error {
	if err := z.need(14); err != nil {
		return err
	}
	nlen := int(z.take(5)) + 257
	ndist := int(z.take(5)) + 1
	ncode := int(z.take(4)) + 4
	if nlen > 286 || ndist > 30 {
		return ErrCorrupt
	}
	var lengths [286 + 30]uint8
	for i := 0; i < ncode; i++ {
		if err := z.need(3); err != nil {
			return err
		}
		lengths[clOrder[i]] = uint8(z.take(3))
	}
	for i := ncode; i < 19; i++ {
		lengths[clOrder[i]] = 0
	}
	var cl huffman
	if err := cl.build(lengths[:19]); err != nil {
		return err
	}
	for i := range 19 {
		lengths[i] = 0
	}
	for i := 0; i < nlen+ndist; {
		sym, err := z.decodeBlocking(&cl)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return ErrCorrupt
			}
			val = lengths[i-1]
			if err := z.need(2); err != nil {
				return err
			}
			rep = 3 + int(z.take(2))
		case 17:
			if err := z.need(3); err != nil {
				return err
			}
			rep = 3 + int(z.take(3))
		default:
			if err := z.need(7); err != nil {
				return err
			}
			rep = 11 + int(z.take(7))
		}
		if i+rep > nlen+ndist {
			return ErrCorrupt
		}
		for ; rep > 0; rep-- {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 {
		return ErrCorrupt // no end-of-block code
	}
	if z.dyn == nil {
		z.dyn = new([2]huffman)
	}
	if err := z.dyn[0].build(lengths[:nlen]); err != nil {
		return err
	}
	if err := z.dyn[1].build(lengths[nlen : nlen+ndist]); err != nil {
		return err
	}
	z.lit, z.dist = &z.dyn[0], &z.dyn[1]
	return nil
}

// decodeBlocking decodes a symbol, waiting for input as needed.
func (z *Reader) decodeBlocking(h *huffman) (int, error) {
	for {
		z.fill()
		bits, nbits := z.bits, z.nbits
		sym, err := z.decode(h)
		if err != errShort {
			return sym, err
		}
		z.bits, z.nbits = bits, nbits
		if nbits >= maxBits {
			return 0, ErrCorrupt
		}
		if err := z.more(); err != nil {
			return 0, err
		}
	}
}

// readStored copies stored-block bytes into p. With pending, it does not
// wait for input (errShort when none is buffered).
func (z *Reader) readStored(p []byte, pending bool) (int, error) {
	n := 0
	for n < len(p) && z.stored > 0 {
		if z.nbits >= 8 {
			// Whole bytes left in the bit buffer come first.
			b := byte(z.take(8))
			p[n] = b
			z.out(p[n : n+1])
			n++
			z.stored--
			continue
		}
		if z.ip == z.end {
			if pending || n > 0 {
				return n, errShort
			}
			if err := z.more(); err != nil {
				return n, err
			}
			continue
		}
		k := copy(p[n:min(len(p), n+z.stored)], z.in[z.ip:z.end])
		z.out(p[n : n+k])
		z.ip += k
		n += k
		z.stored -= k
	}
	if z.stored == 0 {
		z.state = stHeader
	}
	return n, nil
}

// readCodes decodes a Huffman-coded block into p. Each symbol with its
// extra bits is decoded from buffered bits as one step; when they are not
// all buffered the step is undone, and it waits for input only when it
// has produced nothing (!pending && n == 0), else returns errShort.
func (z *Reader) readCodes(p []byte, pending bool) (int, error) {
	n := 0
	for n < len(p) {
		if z.copyLen > 0 {
			n += z.copyMatch(p[n:])
			continue
		}
		z.fill()
		bits, nbits := z.bits, z.nbits
		sym, l, d, err := z.step()
		if err == errShort {
			z.bits, z.nbits = bits, nbits
			if pending || n > 0 {
				return n, errShort
			}
			if nbits >= 57 {
				return n, ErrCorrupt // cannot happen with valid codes
			}
			if err := z.more(); err != nil {
				return n, err
			}
			continue
		}
		if err != nil {
			return n, err
		}
		switch {
		case sym < 256:
			p[n] = byte(sym)
			z.out(p[n : n+1])
			n++
		case sym == 256:
			z.state = stHeader
			return n, nil
		default:
			if d > z.histLen() {
				return n, ErrCorrupt
			}
			z.copyLen, z.copyDist = l, d
		}
	}
	return n, nil
}

// step decodes one literal/length symbol and, for a length, its extra
// bits and the distance, from buffered bits only.
func (z *Reader) step() (sym, length, dist int, err error) {
	sym, err = z.decode(z.lit)
	if err != nil || sym <= 256 {
		return sym, 0, 0, err
	}
	sym -= 257
	if sym >= 29 {
		return 0, 0, 0, ErrCorrupt
	}
	eb := uint(lenExtra[sym])
	if z.nbits < eb {
		return 0, 0, 0, errShort
	}
	length = int(lenBase[sym]) + int(z.take(eb))
	ds, err := z.decode(z.dist)
	if err != nil {
		return 0, 0, 0, err
	}
	if ds >= 30 {
		return 0, 0, 0, ErrCorrupt
	}
	eb = uint(dstExtra[ds])
	if z.nbits < eb {
		return 0, 0, 0, errShort
	}
	dist = int(dstBase[ds]) + int(z.take(eb))
	return 257, length, dist, nil
}
