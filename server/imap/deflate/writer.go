package deflate

import (
	"compress/flate"
	"io"
	"sync"
)

// Level is the compression level of the Pool's compressors: the fastest,
// as RFC 4978 4 suggests for a server (levels 1-5); IMAP responses still
// shrink to about a third.
const Level = flate.BestSpeed

// Pool lends compressors to Writers, at most max at a time. It is safe for
// concurrent use; one Pool serves a whole server.
type Pool struct {
	slots chan struct{}
	pool  sync.Pool // of *flate.Writer
}

// NewPool returns a Pool of at most n compressors in use at once (n < 1:
// 1).
func NewPool(n int) *Pool {
	p := &Pool{slots: make(chan struct{}, max(n, 1))}
	p.pool.New = func() any {
		w, _ := flate.NewWriter(nil, Level) // the level is valid: no error
		return w
	}
	return p
}

// get lends a compressor writing to w, or nil when all are in use.
func (p *Pool) get(w io.Writer) *flate.Writer {
	select {
	case p.slots <- struct{}{}:
	default:
		return nil
	}
	fw := p.pool.Get().(*flate.Writer)
	fw.Reset(w)
	return fw
}

// put takes a compressor back.
func (p *Pool) put(fw *flate.Writer) {
	fw.Reset(nil)
	p.pool.Put(fw)
	<-p.slots
}

// Writer deflates what is written to it into w as a raw DEFLATE stream.
// Bytes written between two Flushes form one batch, compressed with a
// compressor borrowed from the Pool (or, when none is free, sent as
// stored blocks); Flush ends the batch on a byte boundary (a sync flush)
// and gives the compressor back. It is used by one goroutine.
type Writer struct {
	w      io.Writer
	p      *Pool
	fw     *flate.Writer // the batch's compressor, nil between batches
	stored bool          // the batch is sent as stored blocks
	err    error
}

// NewWriter returns a Writer to w using p's compressors.
func NewWriter(w io.Writer, p *Pool) *Writer { return &Writer{w: w, p: p} }

// Write adds p to the current batch.
func (z *Writer) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if z.fw == nil && !z.stored {
		if z.fw = z.p.get(z.w); z.fw == nil {
			z.stored = true
		}
	}
	if z.stored {
		return z.writeStored(p)
	}
	n, err := z.fw.Write(p)
	if err != nil {
		z.fail(err)
	}
	return n, err
}

// maxStored is the largest stored block (RFC 1951 3.2.4).
const maxStored = 0xffff

// writeStored writes p as stored blocks: BFINAL=0, BTYPE=00, and, on the
// byte boundary every batch starts on, LEN and NLEN, then the bytes.
func (z *Writer) writeStored(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), maxStored)
		hdr := [5]byte{0, byte(k), byte(k >> 8), ^byte(k), ^byte(k >> 8)}
		if _, err := z.w.Write(hdr[:]); err != nil {
			z.fail(err)
			return n, err
		}
		m, err := z.w.Write(p[:k])
		n += m
		if err != nil {
			z.fail(err)
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// syncMarker is an empty stored block, what a sync flush ends with. Some
// inflaters (Go's compress/flate) hand out a block's data only once they
// have read the next block's header.
var syncMarker = []byte{0, 0, 0, 0xff, 0xff}

// Flush ends the batch: the receiver can inflate everything written so
// far.
func (z *Writer) Flush() error {
	if z.err != nil {
		return z.err
	}
	if z.stored {
		z.stored = false
		if _, err := z.w.Write(syncMarker); err != nil {
			z.fail(err)
			return err
		}
		return nil
	}
	if z.fw == nil {
		return nil
	}
	err := z.fw.Flush()
	z.p.put(z.fw)
	z.fw = nil
	if err != nil {
		z.fail(err)
	}
	return err
}

// fail records err and gives back a borrowed compressor.
func (z *Writer) fail(err error) {
	z.err = err
	if z.fw != nil {
		z.p.put(z.fw)
		z.fw = nil
	}
}

// Release gives back a borrowed compressor without flushing (the
// connection is closing); the Writer fails afterwards.
func (z *Writer) Release() {
	if z.err == nil {
		z.fail(io.ErrClosedPipe)
	}
}
