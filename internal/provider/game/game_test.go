package game

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vectors are the epay V1 MD5 vectors (popdo/go-epay), which the default
// game signature follows.
type vectors struct {
	SignContent []struct {
		Params  map[string]string `json:"params"`
		Content string            `json:"content"`
	} `json:"sign_content"`
	MD5Sign []struct {
		Params  map[string]string `json:"params"`
		Key     string            `json:"key"`
		Content string            `json:"content"`
		Sign    string            `json:"sign"`
	} `json:"md5_sign"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	var v vectors
	b, err := os.ReadFile(filepath.Join("testdata", "epay_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.SignContent) == 0 || len(v.MD5Sign) == 0 {
		t.Fatal("no vectors")
	}
	return v
}

func TestMD5FollowsTheEpayVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range v.MD5Sign {
		if got := Content(c.Params); got != c.Content {
			t.Errorf("content %q, want %q", got, c.Content)
		}
		if got := Sign(MD5, []byte(c.Key), c.Params); got != c.Sign {
			t.Errorf("sign %q, want %q", got, c.Sign)
		}
		if !Valid(MD5, []byte(c.Key), c.Params, c.Sign) {
			t.Error("the vector's sign is refused")
		}
		// Exactly the lower-case hex digest: no padding, no upper case.
		for _, bad := range []string{" " + c.Sign, strings.ToUpper(c.Sign)} {
			if Valid(MD5, []byte(c.Key), c.Params, bad) {
				t.Errorf("sign %q is accepted", bad)
			}
		}
	}
	for _, c := range v.SignContent {
		// The epay vector drops sign_type; the game rule drops signType.
		p := map[string]string{}
		for k, val := range c.Params {
			if k != "sign_type" {
				p[k] = val
			}
		}
		p["signType"] = "MD5"
		if got := Content(p); got != c.Content {
			t.Errorf("content %q, want %q", got, c.Content)
		}
	}
}

func TestHMACSHA256(t *testing.T) {
	// openssl: printf 'a=1&b=2' | openssl dgst -sha256 -hmac k3y
	p := map[string]string{"b": "2", "a": "1", "sign": "x", "signType": "hmac-sha256", "empty": ""}
	const want = "36e6cc583883606efdd6c01146ed1747ab1a5c3818f5ca8f53ef176ab21d4dda"
	got := Sign(HMACSHA256, []byte("k3y"), p)
	if got != want {
		t.Fatalf("sign %q, want %q", got, want)
	}
	if !Valid(HMACSHA256, []byte("k3y"), p, got) || Valid(HMACSHA256, []byte("k3y!"), p, got) ||
		Valid(MD5, []byte("k3y"), p, got) {
		t.Fatal("verification does not depend on key and algorithm")
	}
}

func TestParseAlgorithm(t *testing.T) {
	for in, want := range map[string]Algorithm{"md5": MD5, "MD5": MD5, "hmac-sha256": HMACSHA256, "HMAC_SHA256": HMACSHA256, "HmacSHA256": HMACSHA256} {
		if got, err := ParseAlgorithm(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "sha1", "rsa", "md-5x"} {
		if _, err := ParseAlgorithm(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestFieldsKeepValuesAsSent(t *testing.T) {
	f, err := Fields("application/json",
		"", []byte(` {"game_order_no":"811-1","rmb_yuan":128.00,"n":null,"ok":true,"o":{"a": 1},"s":"a\u0026b"} `))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"game_order_no": "811-1", "rmb_yuan": "128.00", "n": "", "ok": "true", "o": `{"a": 1}`, "s": "a&b"}
	if len(f) != len(want) {
		t.Fatalf("fields %v", f)
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q", k, f[k], v)
		}
	}
	// A JSON body is read even when the content type says otherwise.
	if f, err := Fields("text/plain", "", []byte(`{"a":"1"}`)); err != nil || f["a"] != "1" {
		t.Fatalf("%v %v", f, err)
	}
	// Form body; the query is then ignored.
	if f, err := Fields("application/x-www-form-urlencoded", "a=9", []byte("a=1+2&b=%E5%95%86")); err != nil || f["a"] != "1 2" || f["b"] != "商" || len(f) != 2 {
		t.Fatalf("%v %v", f, err)
	}
	// Query, when there is no body.
	if f, err := Fields("", "a=1&rmb_yuan=10.00", nil); err != nil || f["a"] != "1" || f["rmb_yuan"] != "10.00" {
		t.Fatalf("%v %v", f, err)
	}
	for name, c := range map[string]struct{ ct, body string }{
		"duplicate json": {"application/json", `{"a":"1","a":"2"}`},
		"duplicate form": {"", "a=1&a=2"},
		"array":          {"application/json", `["a"]`},
		"trailing":       {"application/json", `{"a":"1"} x`},
		"two objects":    {"application/json", `{"a":"1"}{"b":"2"}`},
		"broken":         {"application/json", `{"a":`},
		"bad escape":     {"", "a=%zz"},
	} {
		if f, err := Fields(c.ct, "", []byte(c.body)); err == nil {
			t.Errorf("%s: accepted as %v", name, f)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	at := time.Date(2025, 3, 1, 4, 5, 6, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1740801906":           at,
		"1740801906000":        at,
		"2025-03-01T04:05:06Z": at,
		"2025-03-01 12:05:06":  at, // China Standard Time
	} {
		got, err := ParseTimestamp(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "soon", "-5", "1.5", "12345678901234567890"} {
		if _, err := ParseTimestamp(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzFields(f *testing.F) {
	f.Add("application/json", "", []byte(`{"a":1.50,"b":"x"}`))
	f.Add("", "a=1", []byte(""))
	f.Add("application/x-www-form-urlencoded", "", []byte("a=1&b=2"))
	f.Fuzz(func(t *testing.T, ct, q string, body []byte) {
		fields, err := Fields(ct, q, body)
		if err != nil {
			return
		}
		// Whatever is read signs and verifies consistently.
		sig := Sign(MD5, []byte("k"), fields)
		if !Valid(MD5, []byte("k"), fields, sig) {
			t.Fatal("own signature refused")
		}
	})
}
