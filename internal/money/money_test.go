package money

import (
	"testing"
)

func TestParseAndFormat(t *testing.T) {
	for in, want := range map[string]Decimal{
		"10.00": {1000, 2}, "0.1575": {1575, 4}, "100": {100, 0}, "-1.5": {-15, 1}, "007.10": {710, 2}, "0": {0, 0},
		"999999999999999999": {999999999999999999, 0},
	} {
		got, err := ParseDecimal(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", ".5", "5.", "1e5", "+1", " 1", "1,000", "NaN", "Inf", "1.2.3", "--1", "0x10", "1234567890123456789"} {
		if _, err := ParseDecimal(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for d, want := range map[Decimal]string{{1000, 2}: "10.00", {5, 3}: "0.005", {-5, 2}: "-0.05", {0, 8}: "0.00000000", {42, 0}: "42"} {
		if d.String() != want {
			t.Errorf("%+v → %q, want %q", d, d.String(), want)
		}
	}
}

func TestMinor(t *testing.T) {
	cny := Asset{"CNY", 2}
	for in, want := range map[string]int64{"10.00": 1000, "10": 1000, "0.01": 1, "1.500": 150, "0.10000": 10} {
		d, _ := ParseDecimal(in)
		if got, err := cny.Minor(d); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	for _, bad := range []string{"0.001", "1.005", "92233720368547758.07"} {
		d, err := ParseDecimal(bad)
		if err != nil {
			continue
		}
		if _, err := cny.Minor(d); err == nil {
			t.Errorf("%s accepted for CNY", bad)
		}
	}
	if _, err := (Asset{"POINTS", 0}).Minor(Decimal{15, 1}); err == nil {
		t.Error("1.5 POINTS accepted")
	}
}

func TestRegistryPositive(t *testing.T) {
	r := NewRegistry(Asset{"CNY", 2}, Asset{"BTC", 8})
	if _, n, err := r.Positive("asset", "amount", "BTC", Decimal{1575, 4}); err != nil || n != 15750000 {
		t.Fatal(n, err)
	}
	for _, c := range []struct {
		code string
		d    Decimal
	}{{"CNY", Decimal{0, 0}}, {"CNY", Decimal{-1, 0}}, {"XYZ", Decimal{1, 0}}, {"CNY", Decimal{1, 3}}} {
		if _, _, err := r.Positive("asset", "amount", c.code, c.d); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"10.00", "0.1575", "-3", "1e5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		back, err := ParseDecimal(d.String())
		if err != nil || back != d {
			t.Fatalf("%q → %+v → %q → %+v %v", s, d, d.String(), back, err)
		}
	})
}
