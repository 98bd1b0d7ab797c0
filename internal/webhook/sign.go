package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// SecretPrefix starts every endpoint secret, so a leaked one is easy to
// recognise (and to search for in a repository).
const SecretPrefix = "whsec_"

// newSecret returns a fresh endpoint secret: the prefix and 32 random
// bytes in unpadded base64url. The whole string is the HMAC key.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Sign returns the Paygraph-Signature header of body sent at unix time t:
// "t=<t>,v1=<hex HMAC-SHA256(secret, t + "." + body)>", with one v1 per
// secret (two while a rotated secret still signs beside the new one).
func Sign(t int64, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t, 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write([]byte(ts))
		m.Write([]byte{'.'})
		m.Write(body)
		b.WriteString(",v1=" + hex.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}

// Verify checks a Paygraph-Signature header against body with secret, and
// that its time is within tolerance of now (unix seconds): what a receiver
// does. It is here for tests and as the reference the README's examples
// follow.
func Verify(header string, body []byte, secret string, now, tolerance int64) error {
	var t int64 = -1
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errors.New("signature: bad timestamp")
			}
			t = n
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if t < 0 || len(sigs) == 0 {
		return errors.New("signature: no t= or no v1=")
	}
	if d := now - t; d > tolerance || d < -tolerance {
		return errors.New("signature: timestamp outside the tolerance")
	}
	want := Sign(t, body, secret)
	want = want[strings.Index(want, ",v1=")+4:]
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("signature: no v1= matches")
}

// sealer keeps endpoint secrets in the database encrypted with AES-256-GCM
// (bound to the endpoint's id), so that a copy of the database does not
// let anyone sign events; the server still needs the secret itself to
// sign, so a hash would not do.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) < 32 {
		return nil, errors.New("the webhook secret key must be at least 32 bytes")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("paygraph webhook secret v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

const sealedPrefix = "v1:"

func endpointAD(id int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return b[:]
}

func (s *sealer) seal(secret string, endpointID int64) (string, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), endpointAD(endpointID))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// errUnseal means a stored secret cannot be opened: the token key changed.
var errUnseal = errors.New("the endpoint's secret cannot be opened (did PAYGRAPH_JWT_SECRET change?); rotate the secret")

func (s *sealer) open(sealed string, endpointID int64) (string, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", errUnseal
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n {
		return "", errUnseal
	}
	out, err := s.aead.Open(nil, b[:n], b[n:], endpointAD(endpointID))
	if err != nil {
		return "", errUnseal
	}
	return string(out), nil
}
