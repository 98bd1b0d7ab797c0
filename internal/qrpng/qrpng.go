// Package qrpng draws QR codes as PNG images: the sandbox cashier's code of
// its pay URL and getPayUrl's qrPng.
package qrpng

import (
	"encoding/base64"
	"errors"

	qrcode "github.com/skip2/go-qrcode"
)

// MaxContent bounds what is encoded; a QR code holds at most a few
// kilobytes and pay URLs are far shorter.
const MaxContent = 2048

// PNG returns a size×size PNG of a QR code holding content (error
// correction level M, with the standard quiet zone).
func PNG(content string, size int) ([]byte, error) {
	if content == "" || len(content) > MaxContent {
		return nil, errors.New("QR content must be 1 to 2048 bytes")
	}
	return qrcode.Encode(content, qrcode.Medium, size)
}

// DataURL returns the PNG as a data: URL an <img> can show directly.
func DataURL(content string) (string, error) {
	b, err := PNG(content, 256)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b), nil
}
