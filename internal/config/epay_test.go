package config

import (
	"strings"
	"testing"
	"time"
)

func TestEpayConfig(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.EpayURL != "" || c.EpaySignType != "RSA" || c.EpayTimeout != 10*time.Second {
		t.Fatalf("sandbox defaults: %q %q %v", c.EpayURL, c.EpaySignType, c.EpayTimeout)
	}
	c, err = Load(env(map[string]string{"PAYGRAPH_EPAY_URL": "https://pay.example/", "PAYGRAPH_EPAY_KEY": "k"}))
	if err != nil || c.EpaySignType != "MD5" || c.EpayURL != "https://pay.example" {
		t.Fatalf("a real gateway with a key: %+v %v", c, err)
	}
	c, err = Load(env(map[string]string{"PAYGRAPH_EPAY_URL": "https://pay.example", "PAYGRAPH_EPAY_PRIVATE_KEY": "x",
		"PAYGRAPH_EPAY_PLATFORM_PUBLIC_KEY": "y", "PAYGRAPH_EPAY_TIMEOUT": "3s"}))
	if err != nil || c.EpaySignType != "RSA" || c.EpayTimeout != 3*time.Second {
		t.Fatalf("a real V2 gateway: %+v %v", c, err)
	}
	for name, tc := range map[string]struct {
		env map[string]string
		v   string
	}{
		"unknown sign type":     {map[string]string{"PAYGRAPH_EPAY_SIGN_TYPE": "SHA1"}, "PAYGRAPH_EPAY_SIGN_TYPE"},
		"real gateway, no key":  {map[string]string{"PAYGRAPH_EPAY_URL": "https://pay.example"}, "PAYGRAPH_EPAY_KEY"},
		"V2 without a platform": {map[string]string{"PAYGRAPH_EPAY_URL": "https://pay.example", "PAYGRAPH_EPAY_PRIVATE_KEY": "x"}, "PAYGRAPH_EPAY_PRIVATE_KEY"},
		"V1 without a key":      {map[string]string{"PAYGRAPH_EPAY_URL": "https://pay.example", "PAYGRAPH_EPAY_PRIVATE_KEY": "x", "PAYGRAPH_EPAY_SIGN_TYPE": "md5"}, "PAYGRAPH_EPAY_KEY"},
		"bad timeout":           {map[string]string{"PAYGRAPH_EPAY_TIMEOUT": "soon"}, "PAYGRAPH_EPAY_TIMEOUT"},
	} {
		_, err := Load(env(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.v+": ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
