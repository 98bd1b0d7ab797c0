// Package graphiql serves GraphiQL, the in-browser GraphQL IDE, entirely
// from files embedded in the binary: the page loads nothing from another
// host, so it works offline and under a strict Content-Security-Policy.
//
// static/ holds the very builds gqlgen's stock page loads from a CDN,
// taken unchanged from the npm registry (npm pack; licenses in
// LICENSE.graphiql and LICENSE.react):
//
//	graphiql@4.1.2   graphiql.min.js, graphiql.min.css
//	react@18.2.0     umd/react.production.min.js
//	react-dom@18.2.0 umd/react-dom.production.min.js
//
// Their SHA-256 sums are the subresource-integrity values gqlgen pins
// (graphiql_test.go checks them). Beside them are this package's own
// init.js, which starts GraphiQL (the page has no inline script), and
// page.css. To move to another GraphiQL, replace the files with the same
// ones of the new version and update the sums in the test.
package graphiql

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
	"strings"
	"time"
)

// Prefix is the path under which Assets serves the files of static/.
const Prefix = "/graphiql/"

// ContentSecurityPolicy is sent with the page. Everything comes from
// paygraph itself ('self'); the exceptions are what GraphiQL 4 needs:
//
//   - style-src 'unsafe-inline': GraphiQL and the libraries in its bundle
//     (CodeMirror, Radix UI) add <style> elements and style attributes
//     at run time; without it panes, popovers and the editor's layout
//     break. No script can be inlined: script-src stays 'self'.
//   - img-src data:, font-src data:: graphiql.min.css carries its icons
//     and the Roboto and Fira Code fonts as data: URLs.
//   - connect-src ws: wss:: subscriptions use a WebSocket to /query, and
//     not every browser counts a WebSocket to the page's own host as
//     'self' (CSP Level 3 does, older engines do not).
//
// frame-ancestors, base-uri and form-action, which default-src does not
// cover, are closed as well: nothing frames the IDE, sets a base URL or
// posts a form.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
	"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

var (
	//go:embed index.html
	indexHTML []byte
	//go:embed static
	embedded embed.FS
)

// asset is one file of static/.
type asset struct {
	body        []byte
	version     string // the start of its SHA-256, in its URL as ?v=
	contentType string
}

var (
	assets = loadAssets()
	page   = versionLinks(indexHTML, assets)
	// modTime is when this binary was loaded; the embedded files have none.
	modTime = time.Now()
)

func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(embedded, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[path.Base(p)] = asset{body: b, version: hex.EncodeToString(sum[:8]), contentType: contentType(p)}
		return nil
	})
	if err != nil {
		panic("graphiql: reading the embedded files: " + err.Error())
	}
	return out
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

var link = regexp.MustCompile(`(src|href)="` + regexp.QuoteMeta(Prefix) + `([^"?#]+)"`)

// versionLinks adds ?v=<version> to the page's links to static files, so
// that their URLs change with their content and may be cached for good.
func versionLinks(html []byte, files map[string]asset) []byte {
	return link.ReplaceAllFunc(html, func(m []byte) []byte {
		sub := link.FindSubmatch(m)
		a, ok := files[string(sub[2])]
		if !ok {
			panic(fmt.Sprintf("graphiql: index.html links to %s%s, which is not in static/", Prefix, sub[2]))
		}
		return fmt.Appendf(nil, `%s="%s%s?v=%s"`, sub[1], Prefix, sub[2], a.version)
	})
}

// Page serves the GraphiQL page (GET /).
func Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The page names the current versions of the files: always revalidate it.
		h.Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "index.html", modTime, bytes.NewReader(page))
	})
}

// Assets serves the files of static/ under Prefix (GET /graphiql/<file>).
// A request for the version the page links to may be cached for a year;
// any other is revalidated, by its ETag.
func Assets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[strings.TrimPrefix(r.URL.Path, Prefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", `"`+a.version+`"`)
		if r.URL.Query().Get("v") == a.version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, "", modTime, bytes.NewReader(a.body))
	})
}
