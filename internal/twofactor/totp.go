package twofactor

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"time"
)

// Algorithm is the HMAC hash of a TOTP (RFC 6238 §1.2).
type Algorithm string

// The algorithms of RFC 6238.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

func (a Algorithm) hash() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return sha1.New
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// HOTP is RFC 4226's one-time password for counter, digits long (1–9).
func HOTP(secret []byte, counter uint64, digits int, alg Algorithm) string {
	if digits < 1 || digits > 9 {
		panic(fmt.Sprintf("twofactor: %d digits", digits))
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(alg.hash(), secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", digits, bin%pow10[digits])
}

// TOTP describes one kind of time-based code (RFC 6238).
type TOTP struct {
	Period    time.Duration // time step X, usually 30 s
	Digits    int
	Algorithm Algorithm
	// Skew is how many steps before and after the current one are accepted.
	Skew int64
}

// GA is what authenticator apps (Google Authenticator and the like) use:
// 6 digits, 30 s, SHA-1, with one step of skew either way.
var GA = TOTP{Period: 30 * time.Second, Digits: 6, Algorithm: SHA1, Skew: 1}

// Step is the time step t falls in (RFC 6238's T).
func (p TOTP) Step(t time.Time) int64 {
	sec := int64(p.Period / time.Second)
	u := t.Unix()
	if u < 0 {
		return -1
	}
	return u / sec
}

// At returns the code for time t.
func (p TOTP) At(secret []byte, t time.Time) string {
	return HOTP(secret, uint64(p.Step(t)), p.Digits, p.Algorithm)
}

// Match checks code against the steps around now and returns the step it
// matches. Steps at or before after (the last step already accepted) are
// not accepted again: if the code matches only such a step, replayed is
// true. The comparison takes the same time whether or not digits match.
func (p TOTP) Match(secret []byte, code string, now time.Time, after int64) (step int64, ok, replayed bool) {
	if len(code) != p.Digits {
		return 0, false, false
	}
	cur := p.Step(now)
	for s := cur - p.Skew; s <= cur+p.Skew; s++ {
		if s < 0 {
			continue
		}
		want := HOTP(secret, uint64(s), p.Digits, p.Algorithm)
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		if s <= after {
			replayed = true
			continue
		}
		return s, true, false
	}
	return 0, false, replayed
}
