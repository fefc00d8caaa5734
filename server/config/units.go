package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in the file as a Go duration string
// ("30s", "5m", "1h30m"). Negative durations are rejected when parsed.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses a non-negative Go duration string ("30s", "5m",
// "1h30m"; units ns, us, ms, s, m, h). A bare "0" is accepted.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New(`empty duration; write e.g. "30s", "5m" or "1h30m"`)
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf(`invalid duration %q; write a number with a unit (ns, us, ms, s, m, h), e.g. "30s", "5m" or "1h30m"`, s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	return Duration(v), nil
}

// Size is a byte count. In the file it is an integer number of bytes or a
// string of an integer and a unit, case-insensitive, optionally separated
// by a space: B; decimal KB, MB, GB, TB (powers of 1000); binary KiB, MiB,
// GiB, TiB (powers of 1024). So "50MB" is 50,000,000 bytes and "50MiB" is
// 52,428,800 bytes.
type Size int64

// Convenient Size units.
const (
	B   Size = 1
	KB  Size = 1000
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
	TB  Size = 1000 * GB
	KiB Size = 1024
	MiB Size = 1024 * KiB
	GiB Size = 1024 * MiB
	TiB Size = 1024 * GiB
)

// sizeUnits lists units largest first; String picks the first that divides
// the value exactly.
var sizeUnits = [...]struct {
	name string
	size Size
}{
	{"TiB", TiB}, {"TB", TB}, {"GiB", GiB}, {"GB", GB},
	{"MiB", MiB}, {"MB", MB}, {"KiB", KiB}, {"KB", KB}, {"B", B},
}

// Int64 returns the size in bytes.
func (s Size) Int64() int64 { return int64(s) }

// String formats the size with the largest unit that represents it
// exactly ("50MiB", "1GB", "1000B"); ParseSize reads it back.
func (s Size) String() string {
	if s <= 0 {
		return strconv.FormatInt(int64(s), 10)
	}
	for _, u := range sizeUnits {
		if s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) // unreachable: B divides all
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

const unitList = "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"

// ParseSize parses a non-negative size: digits, optionally followed by a
// unit (see Size). A bare number is bytes.
func ParseSize(str string) (Size, error) {
	t := strings.TrimSpace(str)
	if t == "" {
		return 0, errors.New(`empty size; write e.g. "50MiB" or a number of bytes`)
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		if t[0] == '-' {
			return 0, fmt.Errorf("invalid size %q: must not be negative", str)
		}
		return 0, fmt.Errorf(`invalid size %q: write a whole number with an optional unit (%s), e.g. "50MiB"`, str, unitList)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: number too large", str)
	}
	unit := strings.TrimSpace(t[i:])
	mult := B
	if unit != "" {
		found := false
		for _, u := range sizeUnits {
			if strings.EqualFold(unit, u.name) {
				mult, found = u.size, true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("invalid size %q: unknown unit %q; use %s (KB=1000 bytes, KiB=1024 bytes)", str, unit, unitList)
		}
	}
	if n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("invalid size %q: too large", str)
	}
	return Size(n) * mult, nil
}
