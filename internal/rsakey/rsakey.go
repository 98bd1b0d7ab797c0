// Package rsakey reads the RSA keys providers hand out: PEM or bare base64
// DER, in any of the usual encodings. Configuration checks and every
// provider use it, so a key that passes one passes all.
package rsakey

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
)

// keyDER reads a key given as PEM or as bare base64 DER (as payment
// platforms show them), tolerating literal "\n" from environment files.
func keyDER(s string) ([]byte, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, `\n`, "\n"))
	if s == "" {
		return nil, errors.New("empty key")
	}
	if strings.HasPrefix(s, "-----BEGIN") {
		b, _ := pem.Decode([]byte(s))
		if b == nil {
			return nil, errors.New("not a PEM block")
		}
		return b.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		return nil, errors.New("neither PEM nor base64")
	}
	return der, nil
}

// ParsePrivate reads an RSA private key: PEM or base64 DER, PKCS #8 or
// PKCS #1.
func ParsePrivate(s string) (*rsa.PrivateKey, error) {
	der, err := keyDER(s)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA key")
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, errors.New("not a PKCS #8 or PKCS #1 RSA private key")
	}
	return k, nil
}

// ParsePublic reads an RSA public key: PEM or base64 DER, PKIX or
// PKCS #1.
func ParsePublic(s string) (*rsa.PublicKey, error) {
	der, err := keyDER(s)
	if err != nil {
		return nil, err
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an RSA key")
		}
		return rk, nil
	}
	k, err := x509.ParsePKCS1PublicKey(der)
	if err != nil {
		return nil, errors.New("not a PKIX or PKCS #1 RSA public key")
	}
	return k, nil
}
