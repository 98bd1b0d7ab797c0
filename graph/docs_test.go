package graph_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/paygraph/paygraph/graph"
)

// placeholder is how the docs leave a value to the reader: "<buyer id>".
var placeholder = regexp.MustCompile(`"<[^">]*>"`)

// Every GraphQL operation in the README and docs/ (```graphql blocks, one
// operation per line that starts with mutation, query, subscription or {,
// continued by the lines after it) is valid against the schema, so the
// guides cannot go stale as the API changes.
func TestDocumentedOperationsAreValid(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range operations(string(b)) {
			n++
			q := placeholder.ReplaceAllString(op, `"1"`)
			doc, err := parser.ParseQuery(&ast.Source{Input: q})
			if err != nil {
				t.Errorf("%s: %v\n%s", filepath.Base(f), err, op)
				continue
			}
			if errs := validator.Validate(schema, doc); len(errs) > 0 {
				t.Errorf("%s: %v\n%s", filepath.Base(f), gqlerror.List(errs), op)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d documented operations found", n)
	}
}

func operations(md string) []string {
	var ops []string
	in, cur := false, ""
	flush := func() {
		if strings.TrimSpace(cur) != "" {
			ops = append(ops, cur)
		}
		cur = ""
	}
	for _, l := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(l, "```graphql"):
			in = true
			continue
		case strings.HasPrefix(l, "```"):
			if in {
				flush()
			}
			in = false
			continue
		case !in:
			continue
		}
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		for _, start := range []string{"mutation", "query", "subscription", "{"} {
			if strings.HasPrefix(t, start) {
				flush()
				break
			}
		}
		cur += l + "\n"
	}
	return ops
}
