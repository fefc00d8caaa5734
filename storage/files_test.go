package storage

import (
	"strings"
	"testing"
)

func TestSuffixedFileName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxFileName-4) + ".pdf"
	for _, tt := range []struct {
		name string
		i    int
		want string
	}{
		{"a.pdf", 1, "a.pdf"},
		{"a.pdf", 2, "a (2).pdf"},
		{"a", 3, "a (3)"},
		{".profile", 2, ".profile (2)"},
		{"a.tar.gz", 2, "a.tar (2).gz"},
		{"a.averyveryverylongextension", 2, "a.averyveryverylongextension (2)"},
		{long, 2, "file (2).pdf"},
	} {
		if got := SuffixedFileName(tt.name, tt.i); got != tt.want {
			t.Errorf("SuffixedFileName(%q, %d) = %q, want %q", tt.name, tt.i, got, tt.want)
		}
	}
}
