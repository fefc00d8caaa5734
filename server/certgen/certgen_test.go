package certgen

import (
	"crypto/tls"
	"io"
	"testing"
	"time"
)

func TestNewNamesAndPEM(t *testing.T) {
	c, err := New([]string{"mail.example.test", "127.0.0.1", "::1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf := c.TLS.Leaf
	if err := leaf.VerifyHostname("mail.example.test"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("other.test"); err == nil {
		t.Error("certificate valid for a name it was not made for")
	}
	if d := leaf.NotAfter.Sub(time.Now()); d > time.Hour || d < 50*time.Minute {
		t.Errorf("validity ends in %v, want about an hour", d)
	}
	if _, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM); err != nil {
		t.Errorf("PEM pair unusable: %v", err)
	}
	if _, err := New(nil, time.Hour); err == nil {
		t.Error("no names accepted")
	}
}

// The pair's client trusts the pair's server over a real TLS handshake, and
// only it.
func TestPairHandshake(t *testing.T) {
	srv, cli := Pair("localhost", "127.0.0.1")
	l, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), cli)
	if err != nil {
		t.Fatalf("trusted handshake: %v", err)
	}
	if b, _ := io.ReadAll(c); string(b) != "ok" {
		t.Fatalf("read %q", b)
	}
	c.Close()
	_, other := Pair("localhost")
	if c, err := tls.Dial("tcp", l.Addr().String(), other); err == nil {
		c.Close()
		t.Fatal("a client trusting another certificate connected")
	}
}
