package imap

import (
	"bufio"
	"compress/flate"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/floemail/floe/server/imap/deflate"
)

// zconn is a client's side of COMPRESS=DEFLATE over a net.Conn: writes
// are deflated with a sync flush each (as zlib clients do per command),
// reads are inflated (compress/flate, an independent implementation).
type zconn struct {
	net.Conn
	w *flate.Writer
	r io.Reader
}

func newZconn(c net.Conn, buffered io.Reader) *zconn {
	w, _ := flate.NewWriter(c, flate.DefaultCompression)
	return &zconn{Conn: c, w: w, r: flate.NewReader(io.MultiReader(buffered, c))}
}

func (z *zconn) Write(p []byte) (int, error) {
	n, err := z.w.Write(p)
	if err == nil {
		err = z.w.Flush()
	}
	return n, err
}

func (z *zconn) Read(p []byte) (int, error) { return z.r.Read(p) }

// compress sends COMPRESS DEFLATE on c and switches it to compression.
func (c *rawConn) compress() {
	c.t.Helper()
	c.send("z COMPRESS DEFLATE")
	c.expect("z OK ")
	// What the bufio.Reader holds beyond the OK is compressed data.
	buffered, _ := c.r.Peek(c.r.Buffered())
	z := newZconn(c.conn, strings.NewReader(string(buffered)))
	c.conn = z
	c.r = bufio.NewReader(z)
}

// TestCompress: after COMPRESS DEFLATE (RFC 4978) both directions are
// DEFLATE streams: commands with literals, large FETCH responses that span
// many writes, and responses pushed during IDLE (each batch flushed so the
// client sees it at once); the capability is no longer offered; a second
// COMPRESS is BAD.
func TestCompress(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	big := testMessage("big") + strings.Repeat("All work and no play makes Jack a dull boy. 0123456789\r\n", 3000)
	env.deliver(t, testUser, big)
	c := env.raw(t)
	lines := c.cmd("l", "LOGIN "+testUser+" "+testPassword, "OK")
	if !strings.Contains(lines[len(lines)-1], "COMPRESS=DEFLATE") {
		t.Fatalf("capabilities after login lack COMPRESS=DEFLATE: %q", lines)
	}
	c.compress()
	lines = c.cmd("c", "CAPABILITY", "OK")
	if strings.Contains(lines[0], "COMPRESS=DEFLATE") {
		t.Fatalf("COMPRESS still offered: %q", lines[0])
	}
	c.cmd("z2", "COMPRESS DEFLATE", "BAD")
	c.cmd("s", "SELECT INBOX", "OK")
	lines = c.cmd("f", "FETCH 1 BODY.PEEK[]", "OK")
	if !strings.HasSuffix(lines[0], big+")") {
		t.Fatalf("FETCH of %d bytes through COMPRESS returned %d bytes", len(big), len(lines[0]))
	}
	msg := testMessage("appended compressed") + strings.Repeat("z", 20000) + "\r\n"
	c.send("a APPEND INBOX {" + itoa(len(msg)) + "}")
	c.expect("+ ")
	c.sendRaw(msg + "\r\n")
	lines = c.readUntilTagged("a")
	if !hasLine(lines, "* 2 EXISTS") || !strings.HasPrefix(lines[len(lines)-1], "a OK [APPENDUID") {
		t.Fatalf("APPEND: %q", lines)
	}
	lines = c.cmd("f2", "FETCH 2 BODY.PEEK[]", "OK")
	if !strings.HasSuffix(lines[0], msg+")") {
		t.Fatal("appended message differs")
	}
	// A push during IDLE arrives without the client sending anything.
	c.send("i IDLE")
	c.expect("+ ")
	env.deliver(t, testUser, testMessage("pushed"))
	c.expect("* 3 EXISTS")
	c.send("DONE")
	c.readUntilTagged("i")
	c.cmd("o", "LOGOUT", "OK")
}

// TestCompressStates: COMPRESS is a command of the authenticated states
// (RFC 4978 5: command-auth), DEFLATE is the only mechanism, and a
// compressed session works over TLS (compressed first, then encrypted).
func TestCompressStates(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	c := env.raw(t)
	lines := c.cmd("c", "CAPABILITY", "OK")
	if strings.Contains(lines[0], "COMPRESS") {
		t.Fatalf("COMPRESS offered before login: %q", lines[0])
	}
	c.cmd("z", "COMPRESS DEFLATE", "BAD")
	c.cmd("l", "LOGIN "+testUser+" "+testPassword, "OK")
	c.cmd("z", "COMPRESS LZW", "BAD")
	c.cmd("z", "COMPRESS", "BAD")
	c.cmd("n", "NOOP", "OK") // still uncompressed

	conn, err := tls.Dial("tcp", env.tlsAdr, env.cliTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tc := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
	tc.expect("* OK ")
	tc.cmd("l", "LOGIN "+testUser+" "+testPassword, "OK")
	tc.compress()
	tc.cmd("s", "SELECT INBOX", "OK")
	tc.cmd("o", "LOGOUT", "OK")
}

// TestCompressPoolBusy: with every compressor of the server lent out,
// responses go out as stored blocks and the stream stays valid.
func TestCompressPoolBusy(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.srv.deflate = deflate.NewPool(1)
	hog := deflate.NewWriter(io.Discard, env.srv.deflate)
	hog.Write([]byte("x")) // holds the only compressor
	defer hog.Flush()
	env.deliver(t, testUser, testMessage("stored"))
	c := env.rawLogin(t)
	c.compress()
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("f", "FETCH 1 BODY.PEEK[]", "OK")
	if !strings.Contains(lines[0], "Hello stored") {
		t.Fatalf("FETCH through stored blocks: %q", lines)
	}
}
