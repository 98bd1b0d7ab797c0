package server

import "testing"

func TestAddressKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:5123":              "192.0.2.7",
		"[::ffff:192.0.2.7]:5123":     "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:9999": "2001:db8:1:2::/64", // the same /64
		"[2001:db8:1:3::1]:9999":      "2001:db8:1:3::/64",
		"@":                           "", // not an IP (a unix socket): not counted
	} {
		if got := addressKey(addr); got != want {
			t.Errorf("addressKey(%q) = %q; want %q", addr, got, want)
		}
	}
}
