package twofactor

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
	"strings"
)

// keys protects what the second factor keeps in the database: TOTP secrets
// are sealed with AES-256-GCM (bound to their user's id) and sent codes are
// kept only as an HMAC, so a copy of the database reveals neither.
type keys struct {
	aead cipher.AEAD
	mac  []byte
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func newKeys(master []byte) (*keys, error) {
	if len(master) < 32 {
		return nil, errors.New("the second-factor key must be at least 32 bytes")
	}
	block, err := aes.NewCipher(derive(master, "paygraph totp secret v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keys{aead: aead, mac: derive(master, "paygraph verify code v1")}, nil
}

const sealedPrefix = "v1:"

func userAD(userID int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(userID))
	return b[:]
}

// seal encrypts a TOTP secret for userID.
func (k *keys) seal(secret []byte, userID int64) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := k.aead.Seal(nonce, nonce, secret, userAD(userID))
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// errUnseal means a sealed secret cannot be opened: the key changed, or the
// value was copied from another user.
var errUnseal = errors.New("a sealed TOTP secret could not be opened (was PAYGRAPH_TWOFACTOR_KEY or the token key changed?)")

// open decrypts what seal made for userID.
func (k *keys) open(sealed string, userID int64) ([]byte, error) {
	raw, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, errUnseal
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < k.aead.NonceSize() {
		return nil, errUnseal
	}
	n := k.aead.NonceSize()
	out, err := k.aead.Open(nil, b[:n], b[n:], userAD(userID))
	if err != nil {
		return nil, errUnseal
	}
	return out, nil
}

// hashCode is the stored form of the code of verify-code row id.
func (k *keys) hashCode(id int64, code string) string {
	m := hmac.New(sha256.New, k.mac)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	m.Write(b[:])
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// codeMatches compares a code with a stored hash in constant time.
func (k *keys) codeMatches(id int64, code, stored string) bool {
	return hmac.Equal([]byte(k.hashCode(id, code)), []byte(stored))
}
