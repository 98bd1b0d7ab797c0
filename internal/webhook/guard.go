package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/paygraph/paygraph/internal/apperr"
)

// Guard keeps the server from being used to reach its own network: unless
// private addresses are allowed, an endpoint URL may not name, or resolve
// to, a loopback, private, link-local, shared, multicast or otherwise
// non-public address. The rule is applied when an endpoint is saved and
// again to the address each delivery actually connects to (so a name that
// later resolves to 10.0.0.1 — DNS rebinding — is still refused).
type Guard struct {
	AllowPrivate bool
	// Resolver resolves host names when an endpoint is saved (nil: the
	// system's).
	Resolver *net.Resolver
}

// maxURLLen bounds an endpoint URL.
const maxURLLen = 2048

// nonPublic lists the ranges, beyond what netip's methods recognise, that
// are not the public internet (RFC 6890 and friends).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier NAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
}

// nat64 is the well-known NAT64 prefix: the IPv4 address it embeds decides.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// Private reports whether ip is anything but a public unicast address.
func Private(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		return Private(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// errPrivate explains a refusal.
func errPrivate(what string) error {
	return fmt.Errorf("%s is not a public address, and PAYGRAPH_WEBHOOK_ALLOW_PRIVATE is false", what)
}

// CheckURL validates an endpoint URL and returns it cleaned: http or https,
// a host, no user name or password (the URL is shown back to whoever sees
// the endpoint; authenticate with the signature), no fragment, at most
// 2048 characters, and — unless private addresses are allowed — a host
// that neither is nor resolves to a non-public address. A name that does
// not resolve now is accepted: each delivery checks again.
//
// Errors: BAD_USER_INPUT naming the field "url".
func (g *Guard) CheckURL(ctx context.Context, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	bad := func(format string, args ...any) error { return apperr.Input("url", format, args...) }
	if raw == "" || len(raw) > maxURLLen {
		return "", bad("the URL must be 1 to %d characters", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("%q is not a URL", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the URL must start with https:// (or http://)")
	case u.Host == "" || u.Hostname() == "":
		return "", bad("the URL has no host")
	case u.User != nil:
		return "", bad("the URL must not carry a user name or password; receivers authenticate paygraph by the signature")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", bad("the URL must not have a #fragment")
	}
	if g.AllowPrivate {
		return u.String(), nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if Private(ip) {
			return "", bad("%s", errPrivate(host))
		}
		return u.String(), nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || strings.HasSuffix(host, ".local") ||
		strings.HasSuffix(host, ".internal") || !strings.Contains(host, ".") {
		return "", bad("%s", errPrivate(host))
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(lctx, "ip", host)
	if err != nil {
		return u.String(), nil // not resolvable now; every delivery checks
	}
	for _, a := range addrs {
		if Private(a) {
			return "", bad("%s", errPrivate(fmt.Sprintf("%s (%s)", host, a)))
		}
	}
	return u.String(), nil
}

// errRefusedAddress marks a connection the guard stopped.
var errRefusedAddress = errors.New("refused address")

// control is a net.Dialer Control function: it runs after the name is
// resolved, just before each connect, with the address actually dialled,
// so no answer of a DNS server can slip a private address past it.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || Private(ip) {
		return fmt.Errorf("%w: %w", errRefusedAddress, errPrivate(host))
	}
	return nil
}

// Dialer returns a dialer that connects only where the guard allows.
func (g *Guard) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: g.control}
}
