// Package epay speaks the 易支付 (epay) merchant protocol with the standard
// library: V1 signs requests and notifies with MD5 over a shared key, V2
// with SHA256withRSA (the merchant's key signs requests, the platform's key
// signs responses and notifies). Both sign the same string: every
// non-empty parameter but sign and sign_type, sorted by key in ASCII order,
// joined as k=v with &, values not URL-encoded.
package epay

import (
	"crypto"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// Params are the parameters of a request, response or notify, one value
// per key.
type Params map[string]string

// FromValues turns form or query values into Params. A key given twice is
// refused: which of the two values was signed would be ambiguous.
func FromValues(v url.Values) (Params, error) {
	p := make(Params, len(v))
	for k, vs := range v {
		if len(vs) != 1 {
			return nil, fmt.Errorf("parameter %q is given %d times", k, len(vs))
		}
		p[k] = vs[0]
	}
	return p, nil
}

// Values returns p as url.Values, for a form or a query string.
func (p Params) Values() url.Values {
	v := make(url.Values, len(p))
	for k, s := range p {
		v.Set(k, s)
	}
	return v
}

// SignContent is the string both protocol versions sign.
func SignContent(p Params) string { return JoinSorted(p, "sign", "sign_type") }

// JoinSorted is epay's signing rule, which other protocols borrow: every
// field but the skipped ones with a non-blank value, sorted by key in
// ASCII order, joined as k=v with & and nothing escaped.
func JoinSorted(p map[string]string, skip ...string) string {
	keys := make([]string, 0, len(p))
	for k, v := range p {
		if slices.Contains(skip, k) || strings.TrimSpace(v) == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(p[k])
	}
	return b.String()
}

// SignMD5 is the V1 signature: lowercase hex md5 of the content followed
// directly by the key.
func SignMD5(p Params, key string) string {
	sum := md5.Sum([]byte(SignContent(p) + key))
	return hex.EncodeToString(sum[:])
}

// VerifyMD5 reports whether p carries a valid V1 signature under key. An
// empty key verifies nothing.
func VerifyMD5(p Params, key string) bool {
	if key == "" {
		return false
	}
	got := p["sign"] // the protocol's digest is lower-case hex; nothing else is read
	want := SignMD5(p, key)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// SignRSA is the V2 signature: base64 of SHA256withRSA (PKCS #1 v1.5)
// over the content.
func SignRSA(p Params, key *rsa.PrivateKey) (string, error) {
	if key == nil {
		return "", errors.New("no RSA private key")
	}
	h := sha256.Sum256([]byte(SignContent(p)))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:])
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// VerifyRSA reports whether p carries a valid V2 signature by key.
func VerifyRSA(p Params, key *rsa.PublicKey) bool {
	if key == nil {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(p["sign"])
	if err != nil || len(sig) == 0 {
		return false
	}
	h := sha256.Sum256([]byte(SignContent(p)))
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, h[:], sig) == nil
}

// EncodePublicKey writes a public key as bare base64 PKIX DER, the form
// epay platforms hand out.
func EncodePublicKey(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return base64.StdEncoding.EncodeToString(der)
}
