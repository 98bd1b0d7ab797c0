package graphiql

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The vendored files are the builds gqlgen v0.17.95's page loads from its
// CDN: these are the subresource-integrity sums it pins for them.
var pinned = map[string]string{
	"graphiql.min.js":             "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs=",
	"graphiql.min.css":            "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU=",
	"react.production.min.js":     "sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY=",
	"react-dom.production.min.js": "sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc=",
}

func TestVendoredBuilds(t *testing.T) {
	for name, want := range pinned {
		a, ok := assets[name]
		if !ok {
			t.Errorf("%s is not embedded", name)
			continue
		}
		sum := sha256.Sum256(a.body)
		if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: %s; want %s", name, got, want)
		}
	}
	// Only the files the page uses are embedded, and the page uses each.
	for name, a := range assets {
		if !strings.Contains(string(page), Prefix+name+"?v="+a.version+`"`) {
			t.Errorf("the page does not link to %s at its version", name)
		}
	}
}

func TestAssetCaching(t *testing.T) {
	h := Assets()
	get := func(target string, hdr ...string) *http.Response {
		req := httptest.NewRequest("GET", target, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Result()
	}
	a := assets["init.js"]
	resp := get(Prefix + "init.js?v=" + a.version)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("current version: %d %v", resp.StatusCode, resp.Header)
	}
	// An old or missing version must not stick in caches.
	if resp := get(Prefix + "init.js?v=0123"); resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("other version: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get(Prefix+"init.js", "If-None-Match", `"`+a.version+`"`); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", resp.StatusCode)
	}
	for _, p := range []string{Prefix + "nope.js", Prefix, Prefix + "../index.html", Prefix + "static/init.js"} {
		if resp := get(p); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
}

func TestPage(t *testing.T) {
	w := httptest.NewRecorder()
	Page().ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	resp := w.Result()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != ContentSecurityPolicy ||
		resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(w.Body.String(), `data-endpoint="/query"`) {
		t.Fatalf("the page does not name /query:\n%s", w.Body)
	}
}
