package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// verifyPaygraph is the receiver's check printed in the README, kept here
// so that the README's code is known to work.
func verifyPaygraph(body []byte, header, secret string, now time.Time) bool {
	var t string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k == "t" {
			t = v
		} else if k == "v1" {
			sigs = append(sigs, v)
		}
	}
	ts, err := strconv.ParseInt(t, 10, 64)
	if err != nil || now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	return slices.ContainsFunc(sigs, func(s string) bool { return hmac.Equal([]byte(s), []byte(want)) })
}

func TestREADMEReceiverCheck(t *testing.T) {
	body := []byte(`{"id":"1","type":"order.paid","createdAt":"2025-01-02T03:04:05Z","data":{}}`)
	now := time.Now()
	h := Sign(now.Unix(), body, "whsec_new", "whsec_old")
	for _, tc := range []struct {
		body   []byte
		header string
		secret string
		now    time.Time
		want   bool
	}{
		{body, h, "whsec_new", now, true},
		{body, h, "whsec_old", now.Add(4 * time.Minute), true},
		{body, h, "whsec_other", now, false},
		{body, h, "whsec_new", now.Add(6 * time.Minute), false},
		{body, h, "whsec_new", now.Add(-6 * time.Minute), false},
		{append(body, ' '), h, "whsec_new", now, false},
		{body, "v1=abc", "whsec_new", now, false},
	} {
		if got := verifyPaygraph(tc.body, tc.header, tc.secret, tc.now); got != tc.want {
			t.Errorf("%s at %s: %v", tc.secret, tc.now.Sub(now), got)
		}
	}
}
