// Package money is exact decimal arithmetic for amounts. An amount lives in
// the database as an int64 count of an asset's minor units (fen for CNY,
// satoshi for BTC); on the wire it is a Decimal string in major units. No
// float ever touches a money path.
package money

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/paygraph/paygraph/internal/apperr"
)

// Decimal is an exact decimal number as a client wrote it: Coef × 10^-Scale.
type Decimal struct {
	Coef  int64
	Scale int
}

// maxDigits bounds the digits a Decimal may carry, so Coef never overflows.
const maxDigits = 18

// ParseDecimal reads a plain decimal string: an optional '-', digits, and an
// optional '.' followed by digits ("10.00", "0.1575", "100"). Exponents,
// '+', spaces, thousands separators, "NaN" and "Inf" are refused.
func ParseDecimal(s string) (Decimal, error) {
	bad := func() (Decimal, error) {
		return Decimal{}, fmt.Errorf("%q is not a decimal number such as \"10.00\"", s)
	}
	body := s
	neg := strings.HasPrefix(body, "-")
	if neg {
		body = body[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || (hasDot && frac == "") {
		return bad()
	}
	digits := intPart + frac
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return bad()
		}
	}
	digits = strings.TrimLeft(digits, "0")
	if len(digits) > maxDigits {
		return Decimal{}, fmt.Errorf("%q has more than %d significant digits", s, maxDigits)
	}
	var coef int64
	if digits != "" {
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return bad()
		}
		coef = n
	}
	if neg {
		coef = -coef
	}
	return Decimal{Coef: coef, Scale: len(frac)}, nil
}

// ParseStrict reads an amount a provider wrote: ParseDecimal's form, but
// canonical — no sign, no leading zeros, at most maxScale decimals
// ("10.00", "0.50" and "7" are read; "010.00", "-1.00", "00.5" and, with
// maxScale 2, "10.000" are refused).
func ParseStrict(s string, maxScale int) (Decimal, error) {
	intPart, frac, _ := strings.Cut(s, ".")
	if strings.HasPrefix(s, "-") || len(intPart) > 1 && intPart[0] == '0' || len(frac) > maxScale {
		return Decimal{}, fmt.Errorf("%q is not written as a plain amount with at most %d decimals, such as \"10.00\"", s, maxScale)
	}
	return ParseDecimal(s)
}

// String writes d with exactly its scale of decimals.
func (d Decimal) String() string {
	neg := d.Coef < 0
	u := uint64(d.Coef)
	if neg {
		u = uint64(-d.Coef)
	}
	s := strconv.FormatUint(u, 10)
	if d.Scale > 0 {
		if len(s) <= d.Scale {
			s = strings.Repeat("0", d.Scale-len(s)+1) + s
		}
		s = s[:len(s)-d.Scale] + "." + s[len(s)-d.Scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Sign returns -1, 0 or 1.
func (d Decimal) Sign() int {
	switch {
	case d.Coef < 0:
		return -1
	case d.Coef > 0:
		return 1
	}
	return 0
}

// MarshalGQL writes d as a JSON string.
func (d Decimal) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(d.String())) }

// UnmarshalGQL reads a Decimal from a JSON string. Numbers are refused: a
// JSON number may already have passed through a float in the client.
func (d *Decimal) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return apperr.New(apperr.BadUserInput, "a Decimal must be sent as a string, e.g. \"10.00\", not %T", v)
	}
	p, err := ParseDecimal(s)
	if err != nil {
		return apperr.New(apperr.BadUserInput, "%s", err)
	}
	*d = p
	return nil
}

// Asset is a currency or token with a fixed number of decimals.
type Asset struct {
	Code  string
	Scale int
}

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// Minor converts d to a count of a's minor units. More decimals than the
// asset's scale is an error, never a rounding; trailing zeros beyond the
// scale are fine ("1.500" CNY is 150 fen).
func (a Asset) Minor(d Decimal) (int64, error) {
	coef, scale := d.Coef, d.Scale
	for scale > a.Scale && coef%10 == 0 {
		coef /= 10
		scale--
	}
	if scale > a.Scale {
		return 0, fmt.Errorf("%s has more than %d decimals for %s", d, a.Scale, a.Code)
	}
	mul := pow10[a.Scale-scale]
	if coef > math.MaxInt64/mul || coef < math.MinInt64/mul {
		return 0, fmt.Errorf("%s %s is too large", d, a.Code)
	}
	return coef * mul, nil
}

// Decimal returns minor units of a as a Decimal at the asset's scale.
func (a Asset) Decimal(minor int64) Decimal { return Decimal{Coef: minor, Scale: a.Scale} }

// Registry knows the configured assets.
type Registry struct {
	byCode map[string]Asset
	list   []Asset
}

// NewRegistry returns a registry of assets.
func NewRegistry(assets ...Asset) *Registry {
	r := &Registry{byCode: map[string]Asset{}}
	for _, a := range assets {
		r.byCode[a.Code] = a
		r.list = append(r.list, a)
	}
	return r
}

// All lists the assets in configuration order.
func (r *Registry) All() []Asset { return r.list }

// Get returns the asset with code, or a BAD_USER_INPUT error naming field.
func (r *Registry) Get(field, code string) (Asset, error) {
	a, ok := r.byCode[code]
	if !ok {
		return Asset{}, apperr.Input(field, "unknown asset %q", code)
	}
	return a, nil
}

// Positive converts a client amount to minor units of the asset with code,
// requiring it to be greater than zero. Errors are BAD_USER_INPUT naming
// the field at fault: assetField for an unknown asset, field for the amount.
func (r *Registry) Positive(assetField, field, code string, d Decimal) (Asset, int64, error) {
	a, err := r.Get(assetField, code)
	if err != nil {
		return Asset{}, 0, err
	}
	n, err := a.Minor(d)
	if err != nil {
		return Asset{}, 0, apperr.Input(field, "%s", err)
	}
	if n <= 0 {
		return Asset{}, 0, apperr.Input(field, "amount must be greater than zero")
	}
	return a, n, nil
}

// Format renders minor units of the asset with code; an unknown code
// (removed from the configuration after use) is shown without decimals.
func (r *Registry) Format(code string, minor int64) Decimal {
	if a, ok := r.byCode[code]; ok {
		return a.Decimal(minor)
	}
	return Decimal{Coef: minor}
}
