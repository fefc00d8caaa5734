package config

import (
	"encoding"
	"strings"
	"testing"
	"time"
)

var (
	_ encoding.TextUnmarshaler = (*Size)(nil)
	_ encoding.TextMarshaler   = Size(0)
	_ encoding.TextUnmarshaler = (*Duration)(nil)
	_ encoding.TextMarshaler   = Duration(0)
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string // substring of the error; "" means success
	}{
		{"0", 0, ""},
		{"1024", 1024, ""},
		{"7B", 7, ""},
		{"1KB", 1000, ""},
		{"1kb", 1000, ""},
		{"1KiB", 1024, ""},
		{"1kib", 1024, ""},
		{"50MB", 50_000_000, ""},
		{"50MiB", 52_428_800, ""},
		{"50 MiB", 52_428_800, ""},
		{" 2GB ", 2_000_000_000, ""},
		{"2GiB", 2 << 30, ""},
		{"3TB", 3_000_000_000_000, ""},
		{"1TiB", 1 << 40, ""},
		{"8388607TiB", 8388607 << 40, ""},
		{"8388608TiB", 0, "too large"},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"9223372036854775808", 0, "number too large"},
		{"", 0, "empty size"},
		{"   ", 0, "empty size"},
		{"MB", 0, "write a whole number"},
		{"-1", 0, "must not be negative"},
		{"-5MB", 0, "must not be negative"},
		{"1.5GB", 0, `unknown unit ".5GB"`},
		{"50XB", 0, `unknown unit "XB"`},
		{"50M", 0, `unknown unit "M"`},
		{"50 MB extra", 0, `unknown unit "MB extra"`},
		{"+5", 0, "write a whole number"},
		{"0x10", 0, `unknown unit "x10"`},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1B"},
		{999, "999B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1536, "1536B"},
		{DefaultMaxMessageSize, "50MiB"},
		{50 * MB, "50MB"},
		{1 << 40, "1TiB"},
		{2048 * TiB, "2048TiB"},
		{-3, "-3"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if tt.in < 0 {
			continue
		}
		var back Size
		if err := back.UnmarshalText([]byte(tt.in.String())); err != nil || back != tt.in {
			t.Errorf("round trip of %d: %d, %v", int64(tt.in), back, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"30s", 30 * time.Second, ""},
		{"5m", 5 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{" 10m ", 10 * time.Minute, ""},
		{"0", 0, ""},
		{"0s", 0, ""},
		{"", 0, "empty duration"},
		{"5", 0, `invalid duration "5"`},
		{"5 minutes", 0, `invalid duration "5 minutes"`},
		{"1d", 0, `invalid duration "1d"`},
		{"-1s", 0, "must not be negative"},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if tt.err == "" {
			if err != nil || d.D() != tt.want {
				t.Errorf("Duration(%q) = %v, %v; want %v", tt.in, d, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Duration(%q) = %v, %v; want error containing %q", tt.in, d, err, tt.err)
		}
	}
	b, _ := Duration(90 * time.Second).MarshalText()
	if string(b) != "1m30s" {
		t.Errorf("MarshalText = %q", b)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"50MiB", "1", "7 kb", "8388607TiB", "-1", "1.5GB", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if v < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, v)
		}
		back, err := ParseSize(v.String())
		if err != nil || back != v {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", s, v, v.String(), back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "1h30m", "-1s", "5 minutes", "", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDuration(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if v < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, v)
		}
		back, err := ParseDuration(v.String())
		if err != nil || back != v {
			t.Fatalf("round trip %q -> %v -> %v, %v", s, v, back, err)
		}
	})
}
