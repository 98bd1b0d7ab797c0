package access

import (
	"context"
	"strings"

	"github.com/paygraph/paygraph/ent"
)

// Contact returns one of u's contact fields (v) as the caller may see it:
// clear to the user and an ADMIN, through mask to a SERVICE (which sees a
// user only as a payer or payee of its app's orders), and nil to anyone
// else or when it is empty.
func Contact(ctx context.Context, u *ent.User, v string, mask func(string) string) *string {
	if v == "" {
		return nil
	}
	clear, masked := SeesContacts(ctx, u)
	switch {
	case clear:
		return &v
	case masked:
		m := mask(v)
		return &m
	}
	return nil
}

// AsStored is the mask of a field shown as it is (a country code).
func AsStored(s string) string { return s }

// MaskMobile shows the first three and last four digits of a mobile number
// (18600000001 → 186****0001); shorter numbers keep one digit at each end.
func MaskMobile(m string) string {
	switch {
	case m == "":
		return ""
	case len(m) >= 8:
		return m[:3] + "****" + m[len(m)-4:]
	case len(m) >= 3:
		return m[:1] + "****" + m[len(m)-1:]
	}
	return "****"
}

// MaskEmail keeps the first and last character of the local part and the
// domain, with a fixed eight stars between (zhangshan@163.com →
// z********n@163.com), so the length does not show.
func MaskEmail(e string) string {
	if e == "" {
		return ""
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok {
		return "********"
	}
	r := []rune(local)
	switch len(r) {
	case 0:
		return "********@" + domain
	case 1, 2:
		return string(r[0]) + "********@" + domain
	}
	return string(r[0]) + "********" + string(r[len(r)-1]) + "@" + domain
}
