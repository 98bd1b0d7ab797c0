package config

import (
	"os"
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
		"PAYGRAPH_DEBUG_ADDR":          "0.0.0.0:6060",
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

const pingppKey = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAy0d0QxZFYeHXGeWWneib
4Q0jUFjj4ro7bMnIJ8DjZ4w2NtLJi8p1mcFMbrIS5g95U5FUBCfAZXFb2QIaJfft
BByCQRbon7Jb97XoTP6kfk65tLz8Q9Cank1Ah/qivPIY0aNwvq8stedq9rcuJ6OQ
ncbfQ1217/Za50vKotYa+MEcFo9Y65biEmzq7BZeNYzuU4dGrPaCi917cfwNa8ey
ZSpoIOBe8e5JGOtZKCfgsgfecbXxdh6jq8Qn6mmrJILapEdxlj4xfzBzAuM3snqt
5XnDzzFWlI5Z+4lhyZr7eFVmnQSqn1HWt4VPzz/EWvxP8Rkvy89XuRXBAiO3/7Ur
8wIDAQAB
-----END PUBLIC KEY-----
`

func TestPingppPublicKey(t *testing.T) {
	// PEM text, also with the line breaks written as \n on one line.
	for _, v := range []string{pingppKey, strings.ReplaceAll(pingppKey, "\n", `\n`)} {
		c, err := Load(env(map[string]string{"PAYGRAPH_PINGPP_PUBLIC_KEY": v}))
		if err != nil || !strings.Contains(c.PingppPublicKey, "\n8wIDAQAB\n") {
			t.Fatalf("%v %q", err, c.PingppPublicKey)
		}
	}
	// Or a file.
	path := t.TempDir() + "/pingpp.pem"
	if err := os.WriteFile(path, []byte(pingppKey), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"PAYGRAPH_PINGPP_PUBLIC_KEY_FILE": path}))
	if err != nil || c.PingppPublicKey != pingppKey {
		t.Fatalf("from a file: %v", err)
	}
	for name, e := range map[string]map[string]string{
		"PAYGRAPH_PINGPP_PUBLIC_KEY":      {"PAYGRAPH_PINGPP_PUBLIC_KEY": "not a key"},
		"PAYGRAPH_PINGPP_PUBLIC_KEY_FILE": {"PAYGRAPH_PINGPP_PUBLIC_KEY_FILE": path + ".missing"},
	} {
		if _, err := Load(env(e)); err == nil || !strings.HasPrefix(err.Error(), name+": ") {
			t.Errorf("%v: got %v", e, err)
		}
	}
	if _, err := Load(env(map[string]string{"PAYGRAPH_PINGPP_PUBLIC_KEY": pingppKey, "PAYGRAPH_PINGPP_PUBLIC_KEY_FILE": path})); err == nil {
		t.Error("both the key and a file accepted")
	}
	// A real gateway needs its keys.
	if _, err := Load(env(map[string]string{"PAYGRAPH_PINGPP_URL": "https://api.pingxx.com", "PAYGRAPH_PINGPP_SECRET_KEY": "sk_live_x"})); err == nil {
		t.Error("a real Ping++ without its public key accepted")
	}
	c, err = Load(env(map[string]string{"PAYGRAPH_ESCROW_REFUND_WINDOW": "48h"}))
	if err != nil || c.EscrowRefundWindow != 48*time.Hour {
		t.Fatalf("refund window: %v", err)
	}
	if _, err := Load(env(map[string]string{"PAYGRAPH_ESCROW_REFUND_WINDOW": "soon"})); err == nil || !strings.HasPrefix(err.Error(), "PAYGRAPH_ESCROW_REFUND_WINDOW: ") {
		t.Fatalf("bad refund window: %v", err)
	}
}
