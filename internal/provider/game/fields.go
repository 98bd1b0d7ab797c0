package game

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
)

// Fields reads a callback's fields from exactly one place: a JSON object
// body, a form body, or — when the body is empty — the URL query. Each
// value is kept as it appears in the request, because that is what was
// signed: a JSON string's text, a JSON number's literal ("128.00" stays
// "128.00"), true/false, an object or array as its raw text; null is empty.
// A field given twice is refused (which one was signed?).
func Fields(contentType, rawQuery string, body []byte) (map[string]string, error) {
	trimmed := bytes.TrimSpace(body)
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case len(trimmed) == 0:
		return formFields(rawQuery)
	case strings.HasSuffix(mt, "json") || trimmed[0] == '{':
		return jsonFields(trimmed)
	default:
		return formFields(string(trimmed))
	}
}

func formFields(s string) (map[string]string, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("unreadable form: %v", err)
	}
	out := make(map[string]string, len(v))
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, fmt.Errorf("field %q is given %d times", k, len(vs))
		}
		out[k] = vs[0]
	}
	return out, nil
}

func jsonFields(body []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	bad := errors.New("the body is not a JSON object")
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad
	}
	out := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		k, ok := t.(string)
		if !ok {
			return nil, bad
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, bad
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("field %q is given twice", k)
		}
		out[k], err = jsonText(raw)
		if err != nil {
			return nil, bad
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, bad
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return nil, errors.New("data after the JSON object")
	}
	return out, nil
}

// jsonText is a JSON value as it was signed: a string's text, anything
// else exactly as written.
func jsonText(raw json.RawMessage) (string, error) {
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case string(raw) == "null":
		return "", nil
	}
	return string(raw), nil
}
