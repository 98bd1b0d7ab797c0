// Package clientip carries the address a request came from, for providers
// that want the payer's IP with a charge (Ping++ client_ip) and for the
// per-address connection cap.
//
// The address is the TCP peer's: no forwarding header (X-Forwarded-For,
// Forwarded, X-Real-IP) is trusted, since any client can send one.
package clientip

import (
	"context"
	"net"
)

type key struct{}

// Host returns the IP address of remoteAddr (an http.Request's RemoteAddr
// or a net.Conn's RemoteAddr().String()), or "" when it holds none.
func Host(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if net.ParseIP(host) == nil {
		return ""
	}
	return host
}

// With returns ctx carrying the host part of remoteAddr (an
// http.Request's RemoteAddr).
func With(ctx context.Context, remoteAddr string) context.Context {
	host := Host(remoteAddr)
	if host == "" {
		return ctx
	}
	return context.WithValue(ctx, key{}, host)
}

// From returns the address in ctx, or 127.0.0.1 when there is none.
func From(ctx context.Context) string {
	if ip, ok := ctx.Value(key{}).(string); ok {
		return ip
	}
	return "127.0.0.1"
}
