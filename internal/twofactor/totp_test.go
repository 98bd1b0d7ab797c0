package twofactor

import (
	"encoding/json"
	"github.com/paygraph/paygraph/internal/access"
	"os"
	"testing"
	"time"
)

// The RFC 6238 appendix B vectors (8 digits, 30 s step, SHA1/256/512).
func TestRFC6238Vectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc6238.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Digits        int               `json:"digits"`
		PeriodSeconds int               `json:"period_seconds"`
		Secrets       map[string]string `json:"secrets_ascii"`
		Vectors       []map[string]any  `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) != 6 || len(f.Secrets) != 3 {
		t.Fatalf("vectors file: %d vectors, %d secrets", len(f.Vectors), len(f.Secrets))
	}
	n := 0
	for _, v := range f.Vectors {
		at := time.Unix(int64(v["t"].(float64)), 0)
		for alg, secret := range f.Secrets {
			p := TOTP{Period: time.Duration(f.PeriodSeconds) * time.Second, Digits: f.Digits, Algorithm: Algorithm(alg), Skew: 1}
			want := v[alg].(string)
			if got := p.At([]byte(secret), at); got != want {
				t.Errorf("%s at %d: got %s, want %s", alg, at.Unix(), got, want)
			}
			// Match accepts it now and one step either side, and says which step.
			for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
				step, ok, _ := p.Match([]byte(secret), want, at.Add(d), 0)
				if !ok || step != p.Step(at) {
					t.Errorf("%s at %d%+v: match %v step %d", alg, at.Unix(), d, ok, step)
				}
			}
			n++
		}
	}
	if n != 18 {
		t.Fatalf("checked %d codes", n)
	}
}

func TestMatchWindowAndReplay(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1_700_000_000, 0)
	cur := GA.Step(now)
	code := GA.At(secret, now)
	if len(code) != 6 {
		t.Fatalf("GA code %q", code)
	}
	// Two steps away is refused.
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		if _, ok, _ := GA.Match(secret, code, now.Add(d), 0); ok {
			t.Fatalf("code accepted %v away", d)
		}
	}
	// A step already accepted is refused, and reported as a replay.
	if _, ok, replayed := GA.Match(secret, code, now, cur); ok || !replayed {
		t.Fatalf("replay: ok %v replayed %v", ok, replayed)
	}
	// A code of the next step is still good after this one was used.
	next := GA.At(secret, now.Add(30*time.Second))
	if step, ok, _ := GA.Match(secret, next, now, cur); !ok || step != cur+1 {
		t.Fatalf("next step: ok %v step %d", ok, step)
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok, _ := GA.Match(secret, bad, now, 0); ok {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestSealedSecrets(t *testing.T) {
	k, err := newKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.seal([]byte("secret!"), 42)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.open(sealed, 42); err != nil || string(got) != "secret!" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := k.open(sealed, 43); err == nil {
		t.Fatal("a secret sealed for user 42 opened for user 43")
	}
	other, _ := newKeys([]byte("another key, also 32 bytes long!"))
	if _, err := other.open(sealed, 42); err == nil {
		t.Fatal("opened with another key")
	}
	h := k.hashCode(7, "123456")
	if !k.codeMatches(7, "123456", h) || k.codeMatches(8, "123456", h) || k.codeMatches(7, "123457", h) {
		t.Fatal("code hashes")
	}
	if _, err := newKeys([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestMasks(t *testing.T) {
	for in, want := range map[string]string{
		"18600000001": "186****0001",
		"1860001":     "1****1",
		"12":          "****",
		"":            "",
	} {
		if got := access.MaskMobile(in); got != want {
			t.Errorf("MaskMobile(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"zhangshan@163.com": "z********n@163.com",
		"zn@163.com":        "z********@163.com",
		"张三丰@qq.com":        "张********丰@qq.com",
		"":                  "",
	} {
		if got := access.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRandomCodes(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		c, err := randomCode(6)
		if err != nil || len(c) != 6 {
			t.Fatalf("%q %v", c, err)
		}
		for _, r := range c {
			if r < '0' || r > '9' {
				t.Fatalf("%q", c)
			}
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
}
