package config

import (
	"fmt"
	"net/url"
	"strings"
)

// CORS says which web pages on other origins may call the API from a
// browser (PAYGRAPH_CORS_ORIGINS). With none listed only pages paygraph
// serves itself (GraphiQL) may: no CORS headers are sent.
type CORS struct {
	// Origins are the listed origins, as browsers send them in Origin:
	// scheme://host[:port] in lower case, without a default port. "*"
	// stands for any origin, without credentials.
	Origins []string
}

// Allow reports whether a page on origin (an Origin header) may call the
// API, and whether it may send credentials: only a listed origin may,
// not one allowed through "*".
func (c CORS) Allow(origin string) (allowed, credentials bool) {
	if origin == "" {
		return false, false
	}
	wildcard := false
	for _, o := range c.Origins {
		if o == "*" {
			wildcard = true
		} else if strings.EqualFold(o, origin) {
			return true, true
		}
	}
	return wildcard, false
}

// Any reports whether "*" is listed.
func (c CORS) Any() bool {
	for _, o := range c.Origins {
		if o == "*" {
			return true
		}
	}
	return false
}

func (r *reader) cors() CORS {
	const name = "PAYGRAPH_CORS_ORIGINS"
	var c CORS
	for _, part := range strings.Split(r.str(name, ""), ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		o, err := parseOrigin(part)
		if err != nil {
			r.fail(name, "%s", err)
			return CORS{}
		}
		c.Origins = append(c.Origins, o)
	}
	return c
}

// parseOrigin reads "*" or an origin such as https://shop.example.com,
// in the form browsers send it.
func parseOrigin(s string) (string, error) {
	if s == "*" {
		return s, nil
	}
	bad := fmt.Errorf("%q is not an origin such as https://shop.example.com (scheme://host[:port], no path), nor *", s)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(s, "?") ||
		strings.Contains(u.Host, "*") {
		return "", bad
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if u.Port() == "" && strings.HasSuffix(u.Host, ":") {
		return "", bad
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}
