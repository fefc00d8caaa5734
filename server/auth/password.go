package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/floemail/floe/server/config"
)

// Argon2id parameters for new hashes: the OWASP recommendation of 19 MiB,
// two passes, one lane. Stored in the PHC string, so they can change later
// without invalidating old hashes.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrBadHash is returned for a stored hash Floe cannot read.
var ErrBadHash = errors.New("unsupported password hash")

// HashParams are the argon2id costs of new password hashes ([auth]
// hash_memory, hash_time, hash_threads). Verification reads the costs from
// each stored hash, so changing them affects only passwords set later.
type HashParams struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultHashParams are OWASP's argon2id recommendation: 19 MiB, t=2, p=1.
var DefaultHashParams = HashParams{MemoryKiB: argonMemory, Time: argonTime, Threads: argonThreads}

// ParamsFromConfig returns the hash parameters of the [auth] table, with
// the defaults for unset (zero) values.
func ParamsFromConfig(c config.Auth) HashParams {
	p := DefaultHashParams
	if c.HashMemory > 0 {
		p.MemoryKiB = uint32(c.HashMemory / 1024)
	}
	if c.HashTime > 0 {
		p.Time = uint32(c.HashTime)
	}
	if c.HashThreads > 0 {
		p.Threads = uint8(c.HashThreads)
	}
	return p
}

// HashPassword returns an argon2id PHC string for password with the default
// parameters: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded
// base64).
func HashPassword(password string) (string, error) {
	return HashPasswordWith(password, DefaultHashParams)
}

// HashPasswordWith is HashPassword with the given costs.
func HashPasswordWith(password string, p HashParams) (string, error) {
	if p.MemoryKiB < 8*uint32(p.Threads) || p.Time == 0 || p.Threads == 0 {
		return "", fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d are not usable", p.MemoryKiB, p.Time, p.Threads)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPasswordStrength returns an error saying why password may not be
// set: shorter than min characters ([auth] min_password_length).
func CheckPasswordStrength(password string, min int) error {
	if n := utf8.RuneCountInString(password); n < min {
		return fmt.Errorf("password too short: %d characters, at least %d required ([auth] min_password_length)", n, min)
	}
	return nil
}

// IsHash reports whether s looks like a password hash Floe can verify
// (argon2id PHC string or bcrypt).
func IsHash(s string) bool {
	if strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$") {
		_, err := bcrypt.Cost([]byte(s))
		return err == nil
	}
	_, err := parseArgon(s)
	return err == nil
}

// VerifyPassword reports whether password matches hash. It runs in time
// independent of where the comparison fails.
func VerifyPassword(hash, password string) (bool, error) {
	if strings.HasPrefix(hash, "$2") {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("%w: %v", ErrBadHash, err)
		}
		return true, nil
	}
	p, err := parseArgon(hash)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon reads $argon2id$v=19$m=M,t=T,p=P$salt$key.
func parseArgon(s string) (argonParams, error) {
	var p argonParams
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, ErrBadHash
	}
	for _, kv := range strings.Split(f[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, ErrBadHash
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n == 0 || n > 255 {
				return p, ErrBadHash
			}
			p.threads = uint8(n)
		default:
			return p, ErrBadHash
		}
	}
	// Refuse absurd costs from a hand-edited config: they would let one
	// login exhaust memory.
	if p.memory < 8*uint32(p.threads) || p.memory > 4<<20 || p.time == 0 || p.time > 64 {
		return p, ErrBadHash
	}
	var err error
	b64 := base64.RawStdEncoding
	if p.salt, err = b64.DecodeString(f[4]); err != nil || len(p.salt) < 8 {
		return p, ErrBadHash
	}
	if p.key, err = b64.DecodeString(f[5]); err != nil || len(p.key) < 16 || len(p.key) > 128 {
		return p, ErrBadHash
	}
	return p, nil
}
