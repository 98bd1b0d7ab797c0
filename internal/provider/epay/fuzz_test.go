package epay_test

import (
	"net/url"
	"testing"

	"github.com/paygraph/paygraph/internal/provider/epay"
)

// FuzzVerifyNotify feeds arbitrary query strings to the notify parser: it
// never panics, and nothing verifies without the merchant key's signature.
func FuzzVerifyNotify(f *testing.F) {
	good := epay.Params{"pid": "1000", "trade_no": "T1", "out_trade_no": "ORDER1", "money": "10.00", "trade_status": "TRADE_SUCCESS"}
	good["sign"], good["sign_type"] = epay.SignMD5(good, "k3y"), "MD5"
	f.Add(good.Values().Encode())
	f.Add("pid=1000&sign=&sign_type=RSA")
	f.Add("pid=1000&pid=1000&sign=x")
	f.Add("%zz")
	c, err := epay.New(epay.Config{BaseURL: func() string { return "http://127.0.0.1:1" }, PID: "1000", Key: "k3y", Version: epay.V1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		v, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		p, err := epay.FromValues(v)
		if err != nil {
			return
		}
		n, err := c.VerifyNotify(p)
		if err != nil {
			return
		}
		if !epay.VerifyMD5(p, "k3y") || n.PID != "1000" {
			t.Fatalf("verified without the key's signature: %q", q)
		}
	})
}
