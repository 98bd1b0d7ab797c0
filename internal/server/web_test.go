package server_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/paygraph/paygraph/internal/testutil"
)

var (
	// A src or href attribute, quoted or not.
	htmlLink = regexp.MustCompile(`(?i)\b(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))`)
	// A <script> element and its body.
	htmlScript = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	// What a style sheet loads: url(…) and @import "…".
	cssURL    = regexp.MustCompile(`(?i)url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s]*))\s*\)`)
	cssImport = regexp.MustCompile(`(?i)@import\s+(?:url\()?\s*["']?([^"')\s;]+)`)
)

func firstGroup(m []string) string {
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// loads reports whether ref, a link found in a page or style sheet, makes
// the browser load something from another host.
func loadsFromElsewhere(ref string) bool {
	r := strings.ToLower(strings.TrimSpace(ref))
	if strings.HasPrefix(r, "data:") || strings.HasPrefix(r, "#") {
		return false
	}
	u, err := url.Parse(r)
	return err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(r, "//")
}

// The GraphiQL page and all that it loads come from paygraph itself, and
// the page has no inline script, so its Content-Security-Policy holds.
func TestGraphiQLOffline(t *testing.T) {
	srv := testutil.Start(t, testutil.Base(t))
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	resp, page := get("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self';"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("Content-Security-Policy %q allows inline or eval'd scripts", csp)
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("the page names a URL of another host:\n%s", page)
	}
	scripts := htmlScript.FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Fatalf("the page has no script:\n%s", page)
	}
	for _, s := range scripts {
		if !strings.Contains(s[1], "src=") || strings.TrimSpace(s[2]) != "" {
			t.Errorf("inline script, which the policy refuses: %s", s[0])
		}
	}
	if strings.Contains(strings.ToLower(page), "<style") {
		t.Errorf("inline <style> in the page")
	}

	links := htmlLink.FindAllStringSubmatch(page, -1)
	var sheets, fetched []string
	for _, m := range links {
		ref := firstGroup(m)
		if loadsFromElsewhere(ref) {
			t.Errorf("the page loads %q from another host", ref)
			continue
		}
		if strings.HasPrefix(ref, "data:") {
			continue
		}
		resp, body := get(ref)
		fetched = append(fetched, ref)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", ref, resp.StatusCode)
			continue
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=31536000") {
			t.Errorf("GET %s: Cache-Control %q; want a long cache", ref, cc)
		}
		switch ct := resp.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/css"):
			sheets = append(sheets, body)
			for _, re := range []*regexp.Regexp{cssURL, cssImport} {
				for _, m := range re.FindAllStringSubmatch(body, -1) {
					dep := firstGroup(m)
					switch {
					case loadsFromElsewhere(dep):
						t.Errorf("%s loads %q from another host", ref, dep)
					case dep != "" && !strings.HasPrefix(strings.ToLower(dep), "data:"):
						base, _ := url.Parse(ref)
						rel, err := url.Parse(dep)
						if err != nil {
							t.Errorf("%s loads %q", ref, dep)
						} else if resp, _ := get(base.ResolveReference(rel).String()); resp.StatusCode != 200 {
							t.Errorf("%s loads %s: %d", ref, dep, resp.StatusCode)
						}
					}
				}
			}
		case strings.HasPrefix(ct, "text/javascript"):
		default:
			t.Errorf("GET %s: Content-Type %q", ref, ct)
		}
	}
	// GraphiQL itself, React, React DOM, the start-up script, and the styles.
	if len(fetched) < 6 || len(sheets) < 2 {
		t.Fatalf("the page loads only %v", fetched)
	}
	if !strings.Contains(strings.Join(sheets, ""), "graphiql-container") {
		t.Errorf("GraphiQL's style sheet was not among %v", fetched)
	}

	if resp, _ := get("/graphiql/nope.js"); resp.StatusCode != 404 {
		t.Errorf("GET /graphiql/nope.js = %d", resp.StatusCode)
	}
}
