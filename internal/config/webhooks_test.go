package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWebhookDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Webhooks.Retries, DefaultWebhookRetries) || !c.Webhooks.AllowPrivate {
		t.Fatalf("SQLite defaults: %+v", c.Webhooks)
	}
	want := []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
		6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	if !slices.Equal(DefaultWebhookRetries, want) {
		t.Fatalf("default schedule %v", DefaultWebhookRetries)
	}
	// Private addresses are refused by default in production (PostgreSQL).
	c, err = Load(env(map[string]string{
		"PAYGRAPH_DATABASE_URL": "postgres://db.example.com/paygraph",
		"PAYGRAPH_JWT_SECRET":   strings.Repeat("k", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhooks.AllowPrivate {
		t.Fatal("PostgreSQL allows private webhook addresses by default")
	}
	c, err = Load(env(map[string]string{
		"PAYGRAPH_WEBHOOK_RETRIES":       " 100ms, 200ms ",
		"PAYGRAPH_WEBHOOK_ALLOW_PRIVATE": "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Webhooks.Retries, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}) || c.Webhooks.AllowPrivate {
		t.Fatalf("set: %+v", c.Webhooks)
	}
}

func TestBadWebhookSettingsNameTheirVariable(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"PAYGRAPH_WEBHOOK_RETRIES", "soon"},
		{"PAYGRAPH_WEBHOOK_RETRIES", "10s,,1m"},
		{"PAYGRAPH_WEBHOOK_RETRIES", "10s,-1m"},
		{"PAYGRAPH_WEBHOOK_RETRIES", "0s"},
		{"PAYGRAPH_WEBHOOK_RETRIES", "200h"},
		{"PAYGRAPH_WEBHOOK_RETRIES", "100h,100h,100h,100h"},
		{"PAYGRAPH_WEBHOOK_RETRIES", strings.Repeat("1s,", 25) + "1s"},
		{"PAYGRAPH_WEBHOOK_ALLOW_PRIVATE", "maybe"},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.HasPrefix(err.Error(), tc.name+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%q: got %v", tc.name, tc.value, err)
		}
	}
}
