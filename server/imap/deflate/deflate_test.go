package deflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// compress deflates chunks with compress/flate at level, with a sync flush
// after each chunk (as IMAP clients do after each command).
func compress(t testing.TB, level int, chunks ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		w.Write(c)
		w.Flush()
	}
	return buf.Bytes()
}

// testData is compressible text with repeats and some random bytes.
func testData(rnd *rand.Rand, n int) []byte {
	words := []string{"a1 ", "UID FETCH ", "1:* ", "(FLAGS BODY.PEEK[HEADER])", "\r\n", "INBOX ", "Subject: hello ", "x"}
	var b bytes.Buffer
	for b.Len() < n {
		if rnd.IntN(10) == 0 {
			for range rnd.IntN(50) {
				b.WriteByte(byte(rnd.IntN(256)))
			}
			continue
		}
		b.WriteString(words[rnd.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

// TestReaderRoundTrip: streams from compress/flate at every level, with
// sync flushes and a final block, inflate to the original bytes, through
// reads of every size.
func TestReaderRoundTrip(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(7, 9))
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
		for _, size := range []int{0, 1, 100, 5000, 70000, 300000} {
			data := testData(rnd, size)
			var chunks [][]byte
			for rest := data; len(rest) > 0; {
				k := min(len(rest), 1+rnd.IntN(40000))
				chunks = append(chunks, rest[:k])
				rest = rest[k:]
			}
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			for _, c := range chunks {
				w.Write(c)
				w.Flush()
			}
			w.Close()
			for _, rs := range []int{1, 7, 512, 1 << 16} {
				r := NewReader(bytes.NewReader(buf.Bytes()))
				var got bytes.Buffer
				p := make([]byte, rs)
				for {
					n, err := r.Read(p)
					got.Write(p[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("level %d size %d read size %d: %v", level, size, rs, err)
					}
				}
				if !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("level %d size %d read size %d: output differs", level, size, rs)
				}
				if r.HistorySize() > maxHistory {
					t.Fatalf("history %d bytes", r.HistorySize())
				}
			}
		}
	}
}

// blockingReader hands out the bytes given to it with give; a Read with
// nothing left fails the test (it would have blocked the session).
type blockingReader struct {
	t    *testing.T
	data []byte
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		b.t.Fatal("Read waited for input while it had output to return")
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

// TestReaderInteractive: after each sync-flushed command, Read returns the
// command without asking for more input (the next command has not been
// sent yet), and the history grows with the data, not to 32 KiB at once.
func TestReaderInteractive(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	src := &blockingReader{t: t}
	r := NewReader(src)
	p := make([]byte, 4096)
	for i, cmd := range []string{"a1 LOGIN alice password\r\n", "a2 SELECT INBOX\r\n", "a3 IDLE\r\n", "DONE\r\n",
		"a4 UID FETCH 1:* (FLAGS)\r\n", "a5 UID FETCH 1:* (FLAGS)\r\n"} {
		buf.Reset()
		w.Write([]byte(cmd))
		w.Flush()
		src.data = append(src.data, buf.Bytes()...)
		var got []byte
		for len(got) < len(cmd) {
			n, err := r.Read(p)
			if err != nil {
				t.Fatalf("command %d: %v", i, err)
			}
			got = append(got, p[:n]...)
		}
		if string(got) != cmd {
			t.Fatalf("command %d: got %q", i, got)
		}
	}
	if h := r.HistorySize(); h > 512 {
		t.Fatalf("history of %d bytes after a few commands", h)
	}
}

// TestReaderCorrupt: malformed streams fail with an error, never panic or
// loop.
func TestReaderCorrupt(t *testing.T) {
	t.Parallel()
	for _, in := range [][]byte{
		{0x07},                         // BTYPE 3
		{0x00, 0x05, 0x00, 0x00, 0x00}, // stored LEN/NLEN mismatch
		{0x04, 0x80},                   // dynamic header that ends early
		compress(t, 1, []byte("hello"))[:3],
	} {
		r := NewReader(bytes.NewReader(in))
		_, err := io.ReadAll(r)
		if err == nil {
			t.Errorf("%x: no error", in)
		}
	}
	// A final fixed block: 'a', then a match 5 bytes back (before the
	// start of the data), then end of block.
	var bw bitWriter
	bw.bits(1, 1)        // BFINAL
	bw.bits(1, 2)        // BTYPE 01
	bw.code(0x30+'a', 8) // literal 'a'
	bw.code(1, 7)        // length code 257: 3
	bw.code(4, 5)        // distance code 4: 5-6
	bw.bits(0, 1)        // extra bit: 5
	bw.code(0, 7)        // end of block
	r := NewReader(bytes.NewReader(bw.buf))
	if _, err := io.ReadAll(r); !errors.Is(err, ErrCorrupt) {
		t.Errorf("distance beyond the data: %v", err)
	}
	if _, err := io.ReadAll(flate.NewReader(bytes.NewReader(bw.buf))); err == nil {
		t.Errorf("compress/flate accepts the bad distance: the test input is wrong")
	}
}

// bitWriter packs DEFLATE bits: values LSB first, Huffman codes MSB first.
type bitWriter struct {
	buf []byte
	n   uint
}

func (b *bitWriter) bit(v uint32) {
	if b.n%8 == 0 {
		b.buf = append(b.buf, 0)
	}
	b.buf[len(b.buf)-1] |= byte(v&1) << (b.n % 8)
	b.n++
}

func (b *bitWriter) bits(v uint32, n int) {
	for i := range n {
		b.bit(v >> i)
	}
}

func (b *bitWriter) code(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		b.bit(v >> i)
	}
}

// FuzzReader: the Reader agrees with compress/flate on any input: the
// same output, and an error exactly when it reports one (a stream that
// ends without a final block is an unexpected EOF for both).
func FuzzReader(f *testing.F) {
	for _, seed := range [][]byte{
		compress(f, 1, []byte("a1 NOOP\r\n"), []byte("a2 IDLE\r\n")),
		compress(f, 9, []byte(strings.Repeat("abcabcabd", 100))),
		compress(f, flate.HuffmanOnly, []byte("huffman only")),
		compress(f, 0, []byte("stored")),
		{0x01, 0x00, 0x00, 0xff, 0xff},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, werr := io.ReadAll(flate.NewReader(bytes.NewReader(in)))
		got, gerr := io.ReadAll(NewReader(bytes.NewReader(in)))
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("compress/flate: %v, Reader: %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("output differs")
		}
		if werr != nil && !bytes.HasPrefix(want, got) && !bytes.HasPrefix(got, want) {
			t.Fatalf("outputs diverge before the error")
		}
	})
}

// TestWriter: batches inflate with compress/flate to what was written,
// whether compressed or, with the pool exhausted, sent as stored blocks;
// no compressor is held between batches.
func TestWriter(t *testing.T) {
	t.Parallel()
	pool := NewPool(1)
	rnd := rand.New(rand.NewPCG(3, 4))
	var wire bytes.Buffer
	w := NewWriter(&wire, pool)
	other := NewWriter(io.Discard, pool)
	var want bytes.Buffer
	for i := range 40 {
		data := testData(rnd, rnd.IntN(100000))
		hold := i%3 == 0
		if hold {
			other.Write([]byte("x")) // takes the pool's only compressor
		}
		w.Write(data[:len(data)/2])
		w.Write(data[len(data)/2:])
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if hold {
			other.Flush()
		}
		want.Write(data)
		if len(pool.slots) != 0 {
			t.Fatalf("batch %d: %d compressors still lent", i, len(pool.slots))
		}
		// Everything so far inflates without waiting for more, with this
		// package and with compress/flate (which hands out a block's data
		// only after it read the next block's header).
		got := make([]byte, want.Len())
		r := NewReader(bytes.NewReader(wire.Bytes()))
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("batch %d: inflated %v", i, err)
		}
		if _, err := io.ReadFull(flate.NewReader(bytes.NewReader(wire.Bytes())), got); err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("batch %d: compress/flate inflated %v", i, err)
		}
	}
	// compress/flate agrees (its reader sees no final block: EOF error).
	got, err := io.ReadAll(flate.NewReader(bytes.NewReader(wire.Bytes())))
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("compress/flate: %d bytes, %v", len(got), err)
	}
	if wire.Len() >= want.Len() {
		t.Fatalf("compressed %d bytes into %d", want.Len(), wire.Len())
	}
}

// TestWriterConcurrent: many writers share a small pool; every stream is
// intact.
func TestWriterConcurrent(t *testing.T) {
	t.Parallel()
	pool := NewPool(2)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			var wire, want bytes.Buffer
			w := NewWriter(&wire, pool)
			for range 50 {
				d := testData(rnd, rnd.IntN(20000))
				w.Write(d)
				w.Flush()
				want.Write(d)
			}
			got := make([]byte, want.Len())
			if _, err := io.ReadFull(NewReader(bytes.NewReader(wire.Bytes())), got); err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Errorf("writer %d: %v", g, err)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkReader(b *testing.B) {
	data := testData(rand.New(rand.NewPCG(1, 1)), 1<<20)
	in := compress(b, flate.BestSpeed, data)
	b.SetBytes(int64(len(data)))
	p := make([]byte, 4096)
	for b.Loop() {
		r := NewReader(bytes.NewReader(in))
		for {
			if _, err := r.Read(p); err != nil {
				break
			}
		}
	}
}

func BenchmarkStdlibReader(b *testing.B) {
	data := testData(rand.New(rand.NewPCG(1, 1)), 1<<20)
	in := compress(b, flate.BestSpeed, data)
	b.SetBytes(int64(len(data)))
	p := make([]byte, 4096)
	for b.Loop() {
		r := flate.NewReader(bytes.NewReader(in))
		for {
			if _, err := r.Read(p); err != nil {
				break
			}
		}
	}
}
