package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// failure is a failed step. Steps stop the run by panicking with one;
// Run recovers it and returns it as the error, so each flow reads as the
// sequence of calls it is.
type failure struct {
	step string
	err  error
}

func (f failure) Error() string { return f.step + ": " + f.err.Error() }

// demo is one run: the server, the HTTP client, where steps are printed.
type demo struct {
	ctx   context.Context
	cfg   Config
	out   io.Writer
	hc    *http.Client
	start time.Time
}

func newDemo(ctx context.Context, cfg Config, out io.Writer) *demo {
	return &demo{
		ctx: ctx, cfg: cfg, out: out, start: time.Now(),
		hc: &http.Client{
			Timeout: 30 * time.Second,
			// Redirects are followed by hand: the gateway's answer to a
			// page payment is a redirect to its cashier, which is a step.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// ok prints a step that worked.
func (d *demo) ok(format string, args ...any) {
	fmt.Fprintf(d.out, "✓ "+format+"\n", args...)
}

// fail stops the run at step.
func (d *demo) fail(step string, format string, args ...any) {
	panic(failure{step: step, err: fmt.Errorf(format, args...)})
}

// caller is a token and who it speaks for, as the steps print it.
type caller struct {
	who   string
	token string
}

// gqlError is one GraphQL error as the server sends it.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) String() string {
	s := e.Message
	if c, _ := e.Extensions["code"].(string); c != "" {
		s = c + ": " + s
	}
	if f, _ := e.Extensions["field"].(string); f != "" {
		s += " (field " + f + ")"
	}
	return s
}

// gql runs one GraphQL operation as c and decodes its data into out; any
// error the server answers fails step with the server's words.
func (d *demo) gql(step string, c caller, query string, vars map[string]any, out any) {
	d.gqlHint(step, "", c, query, vars, out)
}

// gqlHint is gql with a hint added to a GraphQL error: what the user
// should check.
func (d *demo) gqlHint(step, hint string, c caller, query string, vars map[string]any, out any) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		d.fail(step, "%v", err)
	}
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, d.cfg.URL+"/query", bytes.NewReader(body))
	if err != nil {
		d.fail(step, "%v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		d.fail(step, "%v (is the server running? start it with `PAYGRAPH_ADMIN=%s make run`)", err, DefaultAdmin)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		d.fail(step, "reading the answer: %v", err)
	}
	var r struct {
		Data       json.RawMessage `json:"data"`
		Errors     []gqlError      `json:"errors"`
		Extensions struct {
			TraceID string `json:"traceId"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		d.fail(step, "HTTP %d, not a GraphQL answer: %s", resp.StatusCode, snippet(raw))
	}
	if len(r.Errors) > 0 {
		msgs := make([]string, len(r.Errors))
		for i, e := range r.Errors {
			msgs[i] = e.String()
		}
		trace := ""
		if r.Extensions.TraceID != "" {
			trace = " [trace " + r.Extensions.TraceID + "]"
		}
		if hint != "" {
			hint = " — " + hint
		}
		d.fail(step, "the server answered %s%s%s", strings.Join(msgs, "; "), trace, hint)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			d.fail(step, "decoding %s: %v", snippet(r.Data), err)
		}
	}
}

// get fetches a page and returns its body; any status but 200 fails step.
func (d *demo) get(step, u string) string {
	req, err := http.NewRequestWithContext(d.ctx, http.MethodGet, u, nil)
	if err != nil {
		d.fail(step, "%v", err)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		d.fail(step, "GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		d.fail(step, "GET %s: HTTP %d %s", u, resp.StatusCode, snippet(b))
	}
	return string(b)
}

// postForm posts form to u and returns the answer.
func (d *demo) postForm(step, u string, form url.Values, accept string) (*http.Response, string) {
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		d.fail(step, "%v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		d.fail(step, "POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

var (
	formRe   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	fieldRe  = regexp.MustCompile(`(?is)<(input|button)\b([^>]*)>`)
	attrRe   = regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*"([^"]*)"`)
	spacesRe = regexp.MustCompile(`\s+`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// pressButton opens a cashier page and presses the button that submits
// name=value: it sends the request the browser would, the form's hidden
// fields and the button's own name and value posted to the form's action
// (the page itself when it has none). It returns the answer's body;
// anything but HTTP 200 fails step.
func (d *demo) pressButton(step, pageURL, name, value, accept string) string {
	page := d.get(step, pageURL)
	base, err := url.Parse(pageURL)
	if err != nil {
		d.fail(step, "%v", err)
	}
	for _, f := range formRe.FindAllStringSubmatch(page, -1) {
		fa := attrs(f[1])
		if m := fa["method"]; m != "" && !strings.EqualFold(m, "post") {
			continue
		}
		form, pressed := url.Values{}, false
		for _, in := range fieldRe.FindAllStringSubmatch(f[2], -1) {
			a := attrs(in[2])
			switch {
			case strings.EqualFold(in[1], "input") && strings.EqualFold(a["type"], "hidden") && a["name"] != "":
				form.Set(a["name"], a["value"])
			case strings.EqualFold(in[1], "button") && a["name"] == name && a["value"] == value:
				form.Set(name, value)
				pressed = true
			}
		}
		if !pressed && form.Get(name) != value {
			continue
		}
		target := base
		if act := fa["action"]; act != "" {
			if target, err = base.Parse(act); err != nil {
				d.fail(step, "the page's form action %q: %v", act, err)
			}
		}
		resp, body := d.postForm(step, target.String(), form, accept)
		if resp.StatusCode != http.StatusOK {
			d.fail(step, "POST %s: HTTP %d %s", target, resp.StatusCode, snippet([]byte(body)))
		}
		return body
	}
	d.fail(step, "the page %s has no button submitting %s=%s", pageURL, name, value)
	return ""
}

// snippet is the start of a body, on one line, for an error message.
func snippet(b []byte) string {
	s := strings.TrimSpace(spacesRe.ReplaceAllString(string(b), " "))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// totp is the 6-digit RFC 6238 code (SHA1, 30 s) of a base32 secret at t,
// as an authenticator app shows it.
func totp(secret string, t time.Time) (string, error) {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(secret, "=")))
	if err != nil {
		return "", fmt.Errorf("the TOTP secret is not base32: %w", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	h := hmac.New(sha1.New, key)
	h.Write(msg[:])
	sum := h.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", n%1_000_000), nil
}
