package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Database.Driver != "sqlite" || c.Database.Path != "paygraph.db" ||
		c.PublicURL != "http://127.0.0.1:8080" || c.OrderTTL != 30*time.Minute || c.EscrowAutoConfirm != 24*time.Hour ||
		c.GameCallbackSign != "md5" || c.EpayPID != "1000" || len(c.Assets) != 4 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestBadValuesNameTheirVariable(t *testing.T) {
	for v, val := range map[string]string{
		"PAYGRAPH_ADDR":                "nope",
		"PAYGRAPH_DATABASE_URL":        "mysql://x",
		"PAYGRAPH_PUBLIC_URL":          "ftp://x",
		"PAYGRAPH_JWT_SECRET":          "short",
		"PAYGRAPH_ADMIN":               "admin",
		"PAYGRAPH_ORDER_TTL":           "-5m",
		"PAYGRAPH_ESCROW_AUTO_CONFIRM": "tomorrow",
		"PAYGRAPH_GAME_CALLBACK_SIGN":  "sha1",
		"PAYGRAPH_LOG_FORMAT":          "xml",
		"PAYGRAPH_ASSETS":              "CNY:2,cny:3",
		"PAYGRAPH_SMTP_URL":            "http://mail",
		"PAYGRAPH_NODE_ID":             "5000",
	} {
		_, err := Load(env(map[string]string{v: val}))
		if err == nil || !strings.HasPrefix(err.Error(), v+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: got %v", v, val, err)
		}
	}
}

func TestRealGatewayNeedsItsKey(t *testing.T) {
	_, err := Load(env(map[string]string{"PAYGRAPH_EPAY_URL": "https://pay.example.com"}))
	if err == nil || !strings.HasPrefix(err.Error(), "PAYGRAPH_EPAY_KEY: ") {
		t.Fatalf("got %v", err)
	}
}

func TestPostgresNeedsASharedSecret(t *testing.T) {
	_, err := Load(env(map[string]string{"PAYGRAPH_DATABASE_URL": "postgres://u@h/db"}))
	if err == nil || !strings.HasPrefix(err.Error(), "PAYGRAPH_JWT_SECRET") {
		t.Fatalf("got %v", err)
	}
}

func TestPasswordNeverShown(t *testing.T) {
	_, err := ParseDatabaseURL("mysql://user:hunter2@host/db")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v", err)
	}
}

func TestParseAssets(t *testing.T) {
	a, err := ParseAssets("CNY:2, POINTS:0,BTC:8")
	if err != nil || len(a) != 3 || a[2] != (Asset{"BTC", 8}) {
		t.Fatalf("%v %v", a, err)
	}
	for _, bad := range []string{"CNY", "CNY:x", "CNY:13", "CNY:2,CNY:2", "c:2"} {
		if _, err := ParseAssets(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
