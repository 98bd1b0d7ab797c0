// Package clientip carries the address a request came from, for providers
// that want the payer's IP with a charge (Ping++ client_ip).
package clientip

import (
	"context"
	"net"
)

type key struct{}

// With returns ctx carrying the host part of remoteAddr (an
// http.Request's RemoteAddr).
func With(ctx context.Context, remoteAddr string) context.Context {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	if net.ParseIP(host) == nil {
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
