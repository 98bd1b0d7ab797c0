package auth

import (
	"encoding/hex"
	"testing"
	"time"
)

func TestDeriveKey(t *testing.T) {
	a := NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Hour)
	b := NewTokens([]byte("0123456789abcdef0123456789abcdeX"), time.Hour)
	hexKey := func(t *Tokens, purpose string) string { return hex.EncodeToString(t.DeriveKey(purpose)) }
	k := hexKey(a, "game")
	if len(k) != 64 || k != hexKey(a, "game") {
		t.Fatalf("key %q is not a stable 32-byte key", k)
	}
	if k == hexKey(a, "other") || k == hexKey(b, "game") {
		t.Fatal("derived keys do not depend on purpose and secret")
	}
	// openssl: printf game | openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef
	if want := "fe7dc51fdd79570595040a050269095b1c8019ceb36e4f9b8fdf46e2ecf0a6aa"; k != want {
		t.Fatalf("key %s, want %s", k, want)
	}
}
