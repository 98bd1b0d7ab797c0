package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/apperr"
)

// The signature is exactly the documented formula, so receivers in any
// language can check it.
func TestSignIsHMACOfTimestampDotBody(t *testing.T) {
	body := []byte(`{"id":"1","type":"order.paid","createdAt":"2025-01-02T03:04:05Z","data":{}}`)
	m := hmac.New(sha256.New, []byte("whsec_test"))
	m.Write([]byte("1700000000." + string(body)))
	want := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil))
	if got := Sign(1700000000, body, "whsec_test"); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	two := Sign(1700000000, body, "whsec_new", "whsec_test")
	if strings.Count(two, ",v1=") != 2 || !strings.HasSuffix(two, want[len("t=1700000000"):]) {
		t.Fatalf("two secrets: %s", two)
	}
	for _, s := range []string{"whsec_new", "whsec_test"} {
		if err := Verify(two, body, s, 1700000100, 300); err != nil {
			t.Errorf("%s does not verify: %v", s, err)
		}
	}
	if err := Verify(two, body, "whsec_other", 1700000100, 300); err == nil {
		t.Error("another secret verifies")
	}
	if err := Verify(two, body, "whsec_test", 1700000301, 300); err == nil {
		t.Error("a stale timestamp verifies")
	}
	if err := Verify(two, append(body, ' '), "whsec_test", 1700000000, 300); err == nil {
		t.Error("another body verifies")
	}
}

func TestSecretsAreSealedPerEndpoint(t *testing.T) {
	s, err := newSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := newSecret()
	if err != nil || !strings.HasPrefix(secret, SecretPrefix) || len(secret) != len(SecretPrefix)+43 {
		t.Fatalf("secret %q, %v", secret, err)
	}
	sealed, err := s.seal(secret, 7)
	if err != nil || strings.Contains(sealed, secret[len(SecretPrefix):]) {
		t.Fatalf("sealed %q, %v", sealed, err)
	}
	if got, err := s.open(sealed, 7); err != nil || got != secret {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s.open(sealed, 8); err == nil {
		t.Fatal("a secret opens for another endpoint")
	}
	other, _ := newSealer([]byte(strings.Repeat("x", 32)))
	if _, err := other.open(sealed, 7); err == nil {
		t.Fatal("a secret opens under another key")
	}
}

func TestPrivateAddresses(t *testing.T) {
	for addr, private := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true,
		"192.168.1.1": true, "169.254.169.254": true, "100.64.0.1": true, "0.0.0.0": true, "::": true,
		"fc00::1": true, "fd12::1": true, "fe80::1": true, "224.0.0.1": true, "255.255.255.255": true,
		"::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true, "64:ff9b::a00:1": true, "198.18.0.1": true,
		"192.0.2.1": true, "2001:db8::1": true,
		"8.8.8.8": false, "1.1.1.1": false, "172.32.0.1": false, "2606:4700::1111": false, "64:ff9b::808:808": false,
		"::ffff:8.8.8.8": false,
	} {
		if got := Private(netip.MustParseAddr(addr)); got != private {
			t.Errorf("Private(%s) = %v", addr, got)
		}
	}
}

// fakeResolver fails every lookup, so the tests need no network.
func fakeResolver(note string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests" + note)
	}}
}

func TestCheckURL(t *testing.T) {
	strict := &Guard{Resolver: fakeResolver("")}
	open := &Guard{AllowPrivate: true}
	ctx := context.Background()
	for _, tc := range []struct {
		url              string
		strictOK, openOK bool
	}{
		{"https://shop.example.com/hooks", true, true},
		{"http://shop.example.com:8443/hooks?x=1", true, true},
		{"https://8.8.8.8/hooks", true, true},
		{"http://127.0.0.1:9000/hook", false, true},
		{"http://[::1]:9000/hook", false, true},
		{"http://10.0.0.5/hook", false, true},
		{"http://169.254.169.254/latest/meta-data", false, true},
		{"http://localhost:9000/hook", false, true},
		{"http://api.localhost/hook", false, true},
		{"http://intranet/hook", false, true},
		{"http://0x7f000001/hook", false, true},
		{"ftp://shop.example.com/", false, false},
		{"https://user:pass@shop.example.com/", false, false},
		{"https://shop.example.com/#frag", false, false},
		{"https:///nohost", false, false},
		{"", false, false},
		{"https://shop.example.com/" + strings.Repeat("a", 2048), false, false},
	} {
		_, err := strict.CheckURL(ctx, tc.url)
		if (err == nil) != tc.strictOK {
			t.Errorf("strict %q: %v", tc.url, err)
		}
		if err != nil && (apperr.CodeOf(err) != apperr.BadUserInput) {
			t.Errorf("strict %q: code %s", tc.url, apperr.CodeOf(err))
		}
		if _, err := open.CheckURL(ctx, tc.url); (err == nil) != tc.openOK {
			t.Errorf("allowing private %q: %v", tc.url, err)
		}
	}
}

// The dialer refuses what a name resolves to at delivery time, whatever
// the URL said when it was saved (DNS rebinding).
func TestDialerRefusesPrivateAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	strict := &Guard{}
	_, err = strict.Dialer().DialContext(context.Background(), "tcp", ln.Addr().String())
	if !errors.Is(err, errRefusedAddress) {
		t.Fatalf("strict dial of %s: %v", ln.Addr(), err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_, err = strict.Dialer().DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	if !errors.Is(err, errRefusedAddress) {
		t.Fatalf("strict dial of localhost: %v", err)
	}
	c, err := (&Guard{AllowPrivate: true}).Dialer().DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{nil, "order.paid", true},
		{[]string{}, "wallet.changed", true},
		{[]string{"*"}, "order.refund_requested", true},
		{[]string{"order.*"}, "order.paid", true},
		{[]string{"order.*"}, "wallet.changed", false},
		{[]string{"order.paid"}, "order.paid", true},
		{[]string{"order.paid"}, "order.completed", false},
		{[]string{"order.refund*"}, "order.refund_rejected", true},
		{[]string{"*.changed"}, "wallet.changed", true},
		{[]string{"wallet.changed"}, "webhook.test", true},
	} {
		if got := Matches(tc.patterns, tc.typ); got != tc.want {
			t.Errorf("Matches(%v, %s) = %v", tc.patterns, tc.typ, got)
		}
	}
}

func TestCheckPatterns(t *testing.T) {
	got, err := checkPatterns([]string{" order.paid", "order.*", "order.paid", "wallet.changed", "*"})
	if err != nil || strings.Join(got, ",") != "order.paid,order.*,wallet.changed,*" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"order.payed", "orders.*", "", "order.[a]", "x", "order/paid", "webhook.test"} {
		if _, err := checkPatterns([]string{bad}); apperr.CodeOf(err) != apperr.BadUserInput {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if ts := Types(); len(ts) != 14 || ts[2] != "order.pending" {
		t.Fatalf("types %v", ts)
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://shop.example.com/hook", "http://127.0.0.1:1/", "http://[::1]/", "https://a:b@c/"} {
		f.Add(s)
	}
	g := &Guard{Resolver: fakeResolver("")}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := g.CheckURL(context.Background(), raw)
		if err != nil {
			if apperr.CodeOf(err) != apperr.BadUserInput {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			t.Fatalf("%q accepted as %q", raw, u)
		}
	})
}
