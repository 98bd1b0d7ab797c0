// Package game is the game payment provider of the game goods flow: the callback it
// posts to POST /api/pay/callback when a player has paid for goods, its
// signature scheme (contract §5), and a sandbox that sends a correctly
// signed test callback.
//
// No public signing scheme exists for this provider. The default, md5, is
// the 易支付 (epay) rule: take every field but sign and signType, drop empty
// values, sort the keys by ASCII, join k=v with & (values as they appear in
// the request, not URL-encoded), append the key, lowercase hex MD5.
// hmac-sha256 signs the same string with HMAC-SHA256 under the key.
package game

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"github.com/paygraph/paygraph/internal/provider/epay"
	"strings"
)

// Algorithm is a signing algorithm a callback's signType names.
type Algorithm string

// The algorithms of contract §5.
const (
	MD5        Algorithm = "md5"
	HMACSHA256 Algorithm = "hmac-sha256"
)

// ParseAlgorithm reads a signType: md5 or hmac-sha256, in any case, with
// "_" or nothing in place of "-".
func ParseAlgorithm(s string) (Algorithm, error) {
	n := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	switch n {
	case "md5":
		return MD5, nil
	case "hmacsha256":
		return HMACSHA256, nil
	}
	return "", fmt.Errorf("signType %q is not md5 or hmac-sha256", s)
}

// Fields that are never signed.
const (
	FieldSign     = "sign"
	FieldSignType = "signType"
)

// Content is the string that is signed: the epay rule (contract §5) over
// every field but sign and signType.
func Content(fields map[string]string) string {
	return epay.JoinSorted(fields, FieldSign, FieldSignType)
}

// Sign returns the lowercase hex signature of fields under key.
func Sign(alg Algorithm, key []byte, fields map[string]string) string {
	content := Content(fields)
	switch alg {
	case HMACSHA256:
		m := hmac.New(sha256.New, key)
		m.Write([]byte(content))
		return hex.EncodeToString(m.Sum(nil))
	default:
		sum := md5.Sum(append([]byte(content), key...))
		return hex.EncodeToString(sum[:])
	}
}

// Valid reports whether sig (hex, any case) is fields' signature under key,
// comparing in constant time.
func Valid(alg Algorithm, key []byte, fields map[string]string, sig string) bool {
	want := Sign(alg, key, fields)
	got := sig // lower-case hex, exactly as Sign writes it
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
