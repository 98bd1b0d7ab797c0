package pingpp_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/rsakey"

	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/pingpp"
)

// The vector is a real charge.succeeded webhook from Ping++'s PHP SDK, its
// X-Pingplusplus-Signature and the matching Ping++ public key.
func vector(t *testing.T) (body []byte, sig string, key *rsa.PublicKey) {
	t.Helper()
	body, err := os.ReadFile("testdata/webhook_charge_succeeded.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != 859 {
		t.Fatalf("the vector body is %d bytes, want 859 (was it reformatted?)", len(body))
	}
	s, err := os.ReadFile("testdata/webhook_charge_succeeded.signature")
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile("testdata/pingpp_public_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err = rsakey.ParsePublic(string(pem))
	if err != nil {
		t.Fatal(err)
	}
	return body, strings.TrimSpace(string(s)), key
}

func request(body []byte, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/callbacks/pingpp", bytes.NewReader(body))
	if sig != "" {
		r.Header.Set(pingpp.SignatureHeader, sig)
	}
	return r
}

func TestVectorVerifies(t *testing.T) {
	body, sig, key := vector(t)
	if err := pingpp.VerifySignature([]*rsa.PublicKey{key}, body, sig); err != nil {
		t.Fatalf("the Ping++ vector does not verify: %v", err)
	}
	w := &pingpp.Webhook{Keys: []*rsa.PublicKey{key}, AppID: "app_vcPcqDeS88ixrPlu"}
	id, n, err := w.Verify(request(body, sig), body)
	if err != nil {
		t.Fatal(err)
	}
	want := payment.Notice{OrderNo: "2015d019f7cf6c0d", ProviderTradeNo: "ch_bq9IHKnn6GnLzsS0swOujr4x",
		Amount: pingpp.Fen(100), Outcome: payment.OutcomePaid, OpenedTrade: true}
	if id != "evt_eYa58Wd44Glerl8AgfYfd1sL" || n != want || n.Amount.String() != "1.00" {
		t.Fatalf("event %q, notice %+v", id, n)
	}
}

// Changing any single byte of the body, or of the signature, breaks it.
func TestEveryChangedByteFails(t *testing.T) {
	body, sig, key := vector(t)
	keys := []*rsa.PublicKey{key}
	for i := range body {
		b := bytes.Clone(body)
		b[i] ^= 0x01
		if err := pingpp.VerifySignature(keys, b, sig); err != pingpp.ErrBadSignature {
			t.Fatalf("byte %d of the body changed: %v", i, err)
		}
	}
	// A flipped byte inside the signature itself.
	raw := []byte(sig)
	raw[10] = map[bool]byte{true: 'B', false: 'A'}[raw[10] == 'A']
	if err := pingpp.VerifySignature(keys, body, string(raw)); err != pingpp.ErrBadSignature {
		t.Fatalf("changed signature: %v", err)
	}
	w := &pingpp.Webhook{Keys: keys}
	b := bytes.Replace(body, []byte(`"amount":100`), []byte(`"amount":900`), 1)
	if _, _, err := w.Verify(request(b, sig), b); err != pingpp.ErrBadSignature {
		t.Fatalf("amount changed: %v", err)
	}
}

func TestMissingOrForeignSignature(t *testing.T) {
	body, sig, key := vector(t)
	w := &pingpp.Webhook{Keys: []*rsa.PublicKey{key}}
	if _, _, err := w.Verify(request(body, ""), body); err != pingpp.ErrNoSignature {
		t.Fatalf("no header: %v", err)
	}
	if _, _, err := w.Verify(request(body, "not base64!"), body); err != pingpp.ErrBadSignature {
		t.Fatalf("garbage header: %v", err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := pingpp.VerifySignature([]*rsa.PublicKey{&other.PublicKey}, body, sig); err != pingpp.ErrBadSignature {
		t.Fatalf("another key: %v", err)
	}
	// Several trusted keys: any one that verifies is enough.
	if err := pingpp.VerifySignature([]*rsa.PublicKey{&other.PublicKey, key}, body, sig); err != nil {
		t.Fatalf("two keys: %v", err)
	}
	// A genuine event of another app is refused.
	w.AppID = "app_someoneElse"
	if _, _, err := w.Verify(request(body, sig), body); err == nil || !strings.Contains(err.Error(), "not ours") {
		t.Fatalf("other app: %v", err)
	}
}

func TestParsePublicKey(t *testing.T) {
	for _, bad := range []string{"", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := rsakey.ParsePublic(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
