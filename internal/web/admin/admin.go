// Package admin serves the operator console at /admin: a page for the
// people who run the money (orders, refunds and withdrawals to decide,
// the ledger, apps). It is a client of the public GraphQL API and nothing
// more: every rule stays in the API, the page only shows and asks.
//
// The console is plain ES modules and one style sheet in static/, embedded
// in the binary, with no build step and nothing loaded from another host.
// Each file's URL carries a version taken from its content (?v=…), and a
// module's version covers the versions of the modules it imports (their
// import specifiers are rewritten to carry them), so a change to any file
// changes the URL of every file that depends on it and the files may be
// cached for good. static/queries.js holds every GraphQL document the
// console sends (see Documents).
package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Prefix is the path under which Assets serves the files of static/; the
// page itself is at /admin (and /admin/).
const Prefix = "/admin/"

// ContentSecurityPolicy is sent with the page. Everything comes from
// paygraph itself and nothing is inlined: no inline script, no inline
// style, no eval. connect-src 'self' covers the WebSocket to /query on
// the page's own host (CSP Level 3, which current browsers follow).
// frame-ancestors, base-uri and form-action, which default-src does not
// cover, are closed: nothing frames the console (no clickjacking of the
// approve buttons), sets a base URL or posts a form (forms are handled by
// script).
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

var (
	//go:embed index.html
	indexHTML []byte
	//go:embed static
	embedded embed.FS
)

// asset is one file of static/, as served.
type asset struct {
	body        []byte
	version     string // the start of the SHA-256 of body, in its URL as ?v=
	contentType string
}

var (
	assets = loadAssets()
	page   = versionLinks(indexHTML, assets)
	// modTime is when this binary was loaded; the embedded files have none.
	modTime = time.Now()
)

// moduleImport is a static import or re-export of a sibling module:
// `from './x.js'` or `import './x.js'`.
var moduleImport = regexp.MustCompile(`(\bfrom\s*|\bimport\s*)(['"])\./([A-Za-z0-9_.-]+\.js)(['"])`)

func loadAssets() map[string]asset {
	raw := map[string][]byte{}
	err := fs.WalkDir(embedded, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if path.Dir(p) != "static" {
			return fmt.Errorf("%s: static/ is flat, no folders", p)
		}
		b, err := embedded.ReadFile(p)
		raw[path.Base(p)] = b
		return err
	})
	if err != nil {
		panic("admin: reading the embedded files: " + err.Error())
	}
	return build(raw)
}

// build versions files: a module's imports of siblings are rewritten to
// carry their versions first, then its own version is taken from the
// result. It panics on an import of a missing file and on a cycle.
func build(raw map[string][]byte) map[string]asset {
	out := map[string]asset{}
	var visit func(name string, stack []string)
	visit = func(name string, stack []string) {
		if _, done := out[name]; done {
			return
		}
		for _, s := range stack {
			if s == name {
				panic("admin: modules import each other in a cycle: " + strings.Join(append(stack, name), " → "))
			}
		}
		body, ok := raw[name]
		if !ok {
			panic(fmt.Sprintf("admin: %s imports ./%s, which is not in static/", stack[len(stack)-1], name))
		}
		if path.Ext(name) == ".js" {
			// Imports first, so that their versions are known.
			for _, m := range moduleImport.FindAllSubmatch(body, -1) {
				visit(string(m[3]), append(stack, name))
			}
			body = moduleImport.ReplaceAllFunc(body, func(m []byte) []byte {
				sub := moduleImport.FindSubmatch(m)
				dep := string(sub[3])
				return fmt.Appendf(nil, "%s%s./%s?v=%s%s", sub[1], sub[2], dep, out[dep].version, sub[4])
			})
		}
		sum := sha256.Sum256(body)
		out[name] = asset{body: body, version: hex.EncodeToString(sum[:8]), contentType: contentType(name)}
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		visit(name, nil)
	}
	return out
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

var link = regexp.MustCompile(`(src|href)="` + regexp.QuoteMeta(Prefix) + `([^"?#]+)"`)

// versionLinks adds ?v=<version> to the page's links to static files.
func versionLinks(html []byte, files map[string]asset) []byte {
	return link.ReplaceAllFunc(html, func(m []byte) []byte {
		sub := link.FindSubmatch(m)
		a, ok := files[string(sub[2])]
		if !ok {
			panic(fmt.Sprintf("admin: index.html links to %s%s, which is not in static/", Prefix, sub[2]))
		}
		return fmt.Appendf(nil, `%s="%s%s?v=%s"`, sub[1], Prefix, sub[2], a.version)
	})
}

func securityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// Page serves the console's page (GET /admin and GET /admin/).
func Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		securityHeaders(h)
		// The page names the current versions of the files: always revalidate it.
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(page))
	})
}

// Assets serves the page at Prefix itself and the files of static/ under
// it (GET /admin/<file>). A request for the version the page links to may
// be cached for a year; any other is revalidated, by its ETag.
func Assets() http.Handler {
	pageHandler := Page()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		if name == "" {
			pageHandler.ServeHTTP(w, r)
			return
		}
		a, ok := assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		securityHeaders(h)
		h.Set("ETag", `"`+a.version+`"`)
		if r.URL.Query().Get("v") == a.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, "", modTime, bytes.NewReader(a.body))
	})
}

// document is one GraphQL document of static/queries.js:
//
//	export const NAME = gql`…`;
var document = regexp.MustCompile("(?m)^export const ([A-Z][A-Z0-9_]*) = gql`([^`]*)`;")

// Documents returns every GraphQL document the console sends, by the name
// queries.js exports it under. Tests run them against the API: they must
// be valid, and the mutations must be refused to USER and SERVICE tokens.
func Documents() map[string]string {
	b, err := embedded.ReadFile("static/queries.js")
	if err != nil {
		panic("admin: " + err.Error())
	}
	out := map[string]string{}
	for _, m := range document.FindAllSubmatch(b, -1) {
		out[string(m[1])] = string(m[2])
	}
	return out
}
