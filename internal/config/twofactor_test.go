package config

import (
	"strings"
	"testing"
)

func TestSecondFactorSettings(t *testing.T) {
	for v, val := range map[string]string{
		"PAYGRAPH_TWOFACTOR_KEY": "too-short",
		"PAYGRAPH_SMS_URL":       "ftp://sms.example.com",
		"PAYGRAPH_SMTP_URL":      "smtp://",
	} {
		_, err := Load(env(map[string]string{v: val}))
		if err == nil || !strings.HasPrefix(err.Error(), v+": ") {
			t.Errorf("%s=%q: got %v", v, val, err)
		}
	}
	c, err := Load(env(map[string]string{
		"PAYGRAPH_TWOFACTOR_KEY": strings.Repeat("k", 32),
		"PAYGRAPH_SMTP_URL":      "smtps://user:pw@mail.example.com?from=pay@example.com",
		"PAYGRAPH_SMS_URL":       "https://sms.example.com/send?token=x",
	}))
	if err != nil || string(c.TwoFactorKey) != strings.Repeat("k", 32) || c.SMTPURL == "" || c.SMSURL == "" {
		t.Fatalf("%+v %v", c, err)
	}
}
