package config

import (
	"slices"
	"strings"
	"testing"
)

func TestCORSOrigins(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.CORS.Origins != nil {
		t.Fatalf("default: %+v, %v", c.CORS, err)
	}
	c, err = Load(env(map[string]string{"PAYGRAPH_CORS_ORIGINS": " https://Shop.Example.com , http://localhost:5173,https://a.example:443/, http://[::1]:8080 ,*"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://shop.example.com", "http://localhost:5173", "https://a.example", "http://[::1]:8080", "*"}
	if !slices.Equal(c.CORS.Origins, want) || !c.CORS.Any() {
		t.Fatalf("got %q\nwant %q", c.CORS.Origins, want)
	}
	for origin, want := range map[string][2]bool{
		"https://shop.example.com": {true, true},
		"http://localhost:5173":    {true, true},
		"http://shop.example.com":  {true, false}, // through *
		"":                         {false, false},
	} {
		if ok, creds := c.CORS.Allow(origin); ok != want[0] || creds != want[1] {
			t.Errorf("Allow(%q) = %v, %v; want %v", origin, ok, creds, want)
		}
	}
	listed := CORS{Origins: []string{"https://shop.example.com"}}
	if ok, _ := listed.Allow("http://shop.example.com"); ok || listed.Any() {
		t.Errorf("another scheme is another origin")
	}
	if ok, _ := listed.Allow("https://shop.example.com:8443"); ok {
		t.Errorf("another port is another origin")
	}
}

func TestBadCORSOriginNamesItsVariable(t *testing.T) {
	for _, val := range []string{
		"shop.example.com", "https://shop.example.com/app", "ftp://shop.example.com", "https://*.example.com",
		"https://user@shop.example.com", "https://shop.example.com?x", "null", "https://", "https://a.example:x",
	} {
		_, err := Load(env(map[string]string{"PAYGRAPH_CORS_ORIGINS": "https://ok.example," + val}))
		if err == nil || !strings.HasPrefix(err.Error(), "PAYGRAPH_CORS_ORIGINS: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: got %v", val, err)
		}
	}
}
