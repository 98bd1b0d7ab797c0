package admin

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestPage(t *testing.T) {
	for _, h := range []http.Handler{Page(), Assets()} {
		w := get(h, Prefix)
		resp := w.Result()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != ContentSecurityPolicy ||
			resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Frame-Options") != "DENY" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		body := w.Body.String()
		if !strings.Contains(body, `<script type="module" src="/admin/app.js?v=`+assets["app.js"].version+`"`) {
			t.Fatalf("the page does not load app.js at its version:\n%s", body)
		}
		if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || strings.Contains(body, "style=") {
			t.Fatalf("the page inlines a script or a style:\n%s", body)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("the Content-Security-Policy allows %s", bad)
		}
	}
}

// A module's URL changes when it or anything it imports changes: each
// import of a sibling carries the sibling's version.
func TestImportsCarryVersions(t *testing.T) {
	imports := 0
	for name, a := range assets {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range regexp.MustCompile(`(?m)^import\b[^'"]*['"]([^'"]+)['"]`).FindAllStringSubmatch(string(a.body), -1) {
			spec := m[1]
			dep, version, ok := strings.Cut(strings.TrimPrefix(spec, "./"), "?v=")
			if !strings.HasPrefix(spec, "./") || !ok || assets[dep].version != version {
				t.Errorf("%s imports %q, not ./<file>?v=<its version>", name, spec)
			}
			imports++
		}
	}
	if imports < 10 {
		t.Fatalf("only %d imports seen", imports)
	}
}

func TestVersionsFollowImports(t *testing.T) {
	files := func(c string) map[string][]byte {
		return map[string][]byte{
			"a.js": []byte("import { b } from './b.js';\nimport './c.js';\n"),
			"b.js": []byte("import { c } from \"./c.js\";\nexport const b = 1;\n"),
			"c.js": []byte("export const c = " + c + ";\n"),
			"d.js": []byte("export const d = 1;\n"),
		}
	}
	one, two := build(files("1")), build(files("2"))
	for _, n := range []string{"a.js", "b.js", "c.js"} {
		if one[n].version == two[n].version {
			t.Errorf("%s kept its version when c.js changed", n)
		}
	}
	if one["d.js"].version != two["d.js"].version {
		t.Error("d.js changed version though nothing it imports changed")
	}
	if want := "from \"./c.js?v=" + one["c.js"].version + "\""; !strings.Contains(string(one["b.js"].body), want) {
		t.Errorf("b.js is %s; want %s", one["b.js"].body, want)
	}
	for name, raw := range map[string]map[string][]byte{
		"a cycle":        {"a.js": []byte("import './b.js';"), "b.js": []byte("import './a.js';")},
		"a missing file": {"a.js": []byte("import { x } from './x.js';")},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			build(raw)
		}()
	}
}

func TestAssetCaching(t *testing.T) {
	h := Assets()
	a := assets["api.js"]
	resp := get(h, Prefix+"api.js?v="+a.version).Result()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("current version: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get(h, Prefix+"api.js?v=0123").Result(); resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("other version: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get(h, Prefix+"api.js", "If-None-Match", `"`+a.version+`"`).Result(); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", resp.StatusCode)
	}
	if resp := get(h, Prefix+"console.css").Result(); resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Fatalf("console.css: %v", resp.Header)
	}
	for _, p := range []string{Prefix + "nope.js", Prefix + "../index.html", Prefix + "static/app.js", Prefix + "index.html"} {
		if resp := get(h, p).Result(); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d", p, resp.StatusCode)
		}
	}
}

// Nothing the console ships names another host or builds HTML from
// strings.
func TestNoOtherHostNoInnerHTML(t *testing.T) {
	for name, a := range assets {
		s := string(a.body)
		if regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).MatchString(s) {
			t.Errorf("%s names another host", name)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "parseFloat", "Number(o.", "Number(a", "Number(e."} {
			if strings.Contains(s, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
}
