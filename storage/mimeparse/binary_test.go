package mimeparse

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestEncodeBinaryParts(t *testing.T) {
	single := "From: a@b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\r\n\r\n"
	multi := "From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding:\r\n binary\r\n\r\nA\x00B\r\n--x--\r\n"
	for _, tc := range []struct {
		name, in string
		changed  bool
		want     string
	}{
		{"no NUL", "From: a@b\r\n\r\nplain \xe4 8bit\r\n", false, "From: a@b\r\n\r\nplain \xe4 8bit\r\n"},
		{"single part", single, true,
			"From: a@b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte("\x00-\xe4\r\n\r\n"))},
		{"one part of several", multi, true,
			"From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
				"--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte("A\x00B")) + "\r\n--x--\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed, err := EncodeBinaryParts([]byte(tc.in))
			if err != nil || changed != tc.changed || string(got) != tc.want {
				t.Fatalf("got %q, %v, %v\nwant %q", got, changed, err, tc.want)
			}
			if bytes.IndexByte(got, 0) >= 0 {
				t.Fatal("NUL left")
			}
		})
	}
	// Long content wraps at 76 characters.
	got, _, _ := EncodeBinaryParts([]byte("Content-Type: application/x\r\n\r\n" + strings.Repeat("\x00", 200)))
	for _, l := range strings.Split(string(got), "\r\n") {
		if len(l) > 76 {
			t.Fatalf("line of %d", len(l))
		}
	}
}

func FuzzEncodeBinaryParts(f *testing.F) {
	f.Add([]byte("From: a@b\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00x"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n\x00\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nX: y\r\n\r\n\x00\r\n--b--"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, changed, err := EncodeBinaryParts(raw)
		if err != nil {
			return
		}
		if !changed && !bytes.Equal(out, raw) {
			t.Fatal("unchanged output differs")
		}
		if changed && len(out) < len(raw)/2 {
			t.Fatalf("output shrank: %d -> %d", len(raw), len(out))
		}
	})
}
