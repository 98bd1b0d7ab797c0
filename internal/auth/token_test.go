package auth

import (
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/role"
)

func TestTokenRoundTrip(t *testing.T) {
	tk := NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Hour)
	s, exp, err := tk.IssueUser(42, role.Admin, 0)
	if err != nil || time.Until(exp) < 59*time.Minute {
		t.Fatal(err, exp)
	}
	p, _, err := tk.Parse(s)
	if err != nil || p.Subject != 42 || p.Role != role.Admin || p.AppID != 0 {
		t.Fatalf("%+v %v", p, err)
	}
	s, _, _ = tk.IssueService(7, 3)
	p, ver, err := tk.Parse(s)
	if err != nil || p.Role != role.Service || p.AppID != 7 || ver != 3 {
		t.Fatalf("%+v %d %v", p, ver, err)
	}
}

func TestExpiredToken(t *testing.T) {
	tk := NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Minute)
	s, _, _ := tk.IssueUser(1, role.User, 0)
	tk.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, _, err := tk.Parse(s); err != ErrTokenExpired {
		t.Fatalf("got %v", err)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	path := t.TempDir() + "/k"
	a, created, err := LoadOrCreateSecret(path)
	if err != nil || !created || len(a) < 32 {
		t.Fatal(err, created)
	}
	b, created, err := LoadOrCreateSecret(path)
	if err != nil || created || string(a) != string(b) {
		t.Fatal("key not kept", err, created)
	}
}
