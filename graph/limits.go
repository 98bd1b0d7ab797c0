package graph

import (
	"context"
	"crypto/sha256"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
)

// Codes of the refusals below, kept as extensions.reason (the code a
// client sees is BAD_USER_INPUT, with HTTP 422).
const (
	codeTooDeep       = "QUERY_TOO_DEEP"
	codeDocTooLarge   = "DOCUMENT_TOO_LARGE"
	codeDocTooDeep    = "DOCUMENT_TOO_DEEP"
	codeTooExpensive  = "TOO_MANY_EXPENSIVE_FIELDS"
	codeTooManySyncs  = "TOO_MANY_SYNCS"
	codeOneKeyedField = "IDEMPOTENCY_KEY_FOR_ONE_MUTATION"
)

// DocumentLimits bounds the work a document can cause before anything else
// looks at it. gqlparser's validation and gqlgen's complexity both walk a
// document with its fragments expanded, so a small document whose
// fragments spread each other twice costs 2^n; nested values and long
// token streams cost the parser's recursion and memory. DocumentLimits
// measures the document once, in time linear in its size (one lexer pass,
// then one parse and a memoised count per fragment), and refuses it before
// validation when it is larger than the limits. Documents already measured
// are remembered, so a client repeating a document pays a hash lookup.
type DocumentLimits struct {
	// MaxTokens bounds the lexical tokens of a document.
	MaxTokens int
	// MaxNesting bounds brackets ({, [, () nested in the document, and
	// the nesting of variable values.
	MaxNesting int
	// MaxFields bounds the fields of the document with every fragment
	// spread expanded (aliases count; the sum over its operations).
	MaxFields int

	measured *lru.LRU[string]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = &DocumentLimits{}

// ExtensionName names the extension.
func (*DocumentLimits) ExtensionName() string { return "DocumentLimits" }

// Validate prepares the memory of measured documents.
func (d *DocumentLimits) Validate(graphql.ExecutableSchema) error {
	d.measured = lru.New[string](1000)
	return nil
}

// MutateOperationParameters measures the raw document and the variables.
func (d *DocumentLimits) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if err := d.checkVariables(p.Variables); err != nil {
		return err
	}
	if p.Query == "" {
		return nil // APQ hash only, or no query: later stages answer
	}
	sum := sha256.Sum256([]byte(p.Query))
	key := string(sum[:])
	if _, ok := d.measured.Get(ctx, key); ok {
		return nil
	}
	if err := d.lex(p.Query); err != nil {
		return err
	}
	doc, perr := parser.ParseQuery(&ast.Source{Input: p.Query})
	if perr != nil {
		return nil // the executor reports syntax errors itself
	}
	if err := d.count(doc); err != nil {
		return err
	}
	d.measured.Add(ctx, key, "")
	return nil
}

func refusal(reason, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": reason}
	return err
}

// lex counts tokens and bracket nesting in one pass.
func (d *DocumentLimits) lex(query string) *gqlerror.Error {
	lx := lexer.New(&ast.Source{Input: query})
	tokens, depth := 0, 0
	for {
		tok, err := lx.ReadToken()
		if err != nil {
			return nil // a syntax error: the parser reports it
		}
		switch tok.Kind {
		case lexer.EOF:
			return nil
		case lexer.BraceL, lexer.BracketL, lexer.ParenL:
			if depth++; depth > d.MaxNesting {
				return refusal(codeDocTooDeep, "the document nests brackets more than %d deep", d.MaxNesting)
			}
		case lexer.BraceR, lexer.BracketR, lexer.ParenR:
			depth--
		}
		if tokens++; tokens > d.MaxTokens {
			return refusal(codeDocTooLarge, "the document has more than %d tokens", d.MaxTokens)
		}
	}
}

// count refuses a document whose operations, or any of whose fragments,
// expand to more than MaxFields fields. Each fragment is counted once; a
// spread adds its fragment's count, saturating above the limit.
func (d *DocumentLimits) count(doc *ast.QueryDocument) *gqlerror.Error {
	limit := d.MaxFields + 1
	memo := map[string]int{}
	var set func(ast.SelectionSet) int
	frag := func(name string) int {
		if n, ok := memo[name]; ok {
			return n // counted, or being counted (a cycle, refused by validation)
		}
		memo[name] = 0
		f := doc.Fragments.ForName(name)
		if f == nil {
			return 0
		}
		n := set(f.SelectionSet)
		memo[name] = n
		return n
	}
	set = func(s ast.SelectionSet) int {
		n := 0
		for _, sel := range s {
			switch v := sel.(type) {
			case *ast.Field:
				n += 1 + set(v.SelectionSet)
			case *ast.InlineFragment:
				n += set(v.SelectionSet)
			case *ast.FragmentSpread:
				n += frag(v.Name)
			}
			if n > limit {
				return limit
			}
		}
		return n
	}
	total := 0
	for _, op := range doc.Operations {
		total = min(total+set(op.SelectionSet), limit)
	}
	for _, f := range doc.Fragments {
		total = max(total, frag(f.Name))
	}
	if total > d.MaxFields {
		return refusal(codeDocTooLarge, "the document has more than %d fields once its fragments are expanded", d.MaxFields)
	}
	return nil
}

func (d *DocumentLimits) checkVariables(vars map[string]any) *gqlerror.Error {
	var deep func(v any, depth int) bool
	deep = func(v any, depth int) bool {
		if depth > d.MaxNesting {
			return true
		}
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				if deep(e, depth+1) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if deep(e, depth+1) {
					return true
				}
			}
		}
		return false
	}
	for _, v := range vars {
		if deep(v, 1) {
			return refusal(codeDocTooDeep, "variable values nest more than %d deep", d.MaxNesting)
		}
	}
	return nil
}

// DepthLimit refuses operations nested deeper than Max. Introspection
// fields (__schema, __type) are not counted, so GraphiQL keeps working.
// Each fragment's depth is measured once.
type DepthLimit struct{ Max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = DepthLimit{}

// ExtensionName names the extension.
func (DepthLimit) ExtensionName() string { return "DepthLimit" }

// Validate is a no-op.
func (DepthLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation before it runs.
func (d DepthLimit) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if rc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(rc.Operation.SelectionSet, rc.Doc.Fragments, map[string]int{}); depth > d.Max {
		return refusal(codeTooDeep, "operation is nested %d levels deep, more than the limit of %d", depth, d.Max)
	}
	return nil
}

// selectionDepth is the depth of set; memo holds each fragment's depth
// (-1 while it is being measured: cycles are refused by validation).
func selectionDepth(set ast.SelectionSet, frags ast.FragmentDefinitionList, memo map[string]int) int {
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.Name) > 1 && s.Name[:2] == "__" {
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet, frags, memo)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, frags, memo)
		case *ast.FragmentSpread:
			if m, ok := memo[s.Name]; ok {
				d = max(m, 0)
			} else if f := frags.ForName(s.Name); f != nil {
				memo[s.Name] = -1
				d = selectionDepth(f.SelectionSet, frags, memo)
				memo[s.Name] = d
			}
		}
		deepest = max(deepest, d)
	}
	return deepest
}

// RootFieldRules are the limits on the root fields of one operation:
//
//   - at most one field marked @expensive in the schema (slow password
//     hashing, a call to a provider or a sender) per document, so one
//     request cannot make the server do that work hundreds of times;
//   - at most MaxSyncs `order(sync: true)` per document (each asks the
//     payment gateway);
//   - with an Idempotency-Key header, at most one field that takes an
//     idempotency key: the key applies to one mutation, and two under one
//     key would replay or conflict with each other.
//
// They are checked before anything runs.
type RootFieldRules struct {
	MaxSyncs int

	expensive map[string]bool // "Mutation.login"
	keyed     map[string]bool // root fields with an idempotencyKey argument or input field
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &RootFieldRules{}

// ExtensionName names the extension.
func (*RootFieldRules) ExtensionName() string { return "RootFieldRules" }

// Validate reads the @expensive marks and the keyed fields from the schema.
func (r *RootFieldRules) Validate(es graphql.ExecutableSchema) error {
	s := es.Schema()
	r.expensive, r.keyed = map[string]bool{}, map[string]bool{}
	for _, root := range []*ast.Definition{s.Query, s.Mutation, s.Subscription} {
		if root == nil {
			continue
		}
		for _, f := range root.Fields {
			name := root.Name + "." + f.Name
			if f.Directives.ForName("expensive") != nil {
				r.expensive[name] = true
			}
			for _, a := range f.Arguments {
				if a.Name == "idempotencyKey" {
					r.keyed[name] = true
				}
				if in := s.Types[a.Type.Name()]; in != nil && in.Kind == ast.InputObject && in.Fields.ForName("idempotencyKey") != nil {
					r.keyed[name] = true
				}
			}
		}
	}
	return nil
}

// MutateOperationContext counts the operation's root fields.
func (r *RootFieldRules) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	op := rc.Operation
	if op == nil {
		return nil
	}
	var expensive, syncs, keyed []string
	visitRootFields(op.SelectionSet, rc.Doc.Fragments, map[string]bool{}, func(f *ast.Field) {
		if f.ObjectDefinition == nil {
			return
		}
		name := f.ObjectDefinition.Name + "." + f.Name
		if r.expensive[name] {
			expensive = append(expensive, f.Alias)
		}
		if r.keyed[name] {
			keyed = append(keyed, f.Alias)
		}
		if f.Name == "order" && f.ObjectDefinition.Name == "Query" {
			if a := f.Arguments.ForName("sync"); a != nil {
				if v, err := a.Value.Value(rc.Variables); err == nil && v == true {
					syncs = append(syncs, f.Alias)
				}
			}
		}
	})
	switch {
	case len(expensive) > 1:
		return refusal(codeTooExpensive, "a request may run only one of the expensive fields (login, register, password checks, provider calls); this one asks for %d: %v", len(expensive), expensive)
	case len(syncs) > r.MaxSyncs:
		return refusal(codeTooManySyncs, "a request may sync at most %d orders with the gateway; this one asks for %d", r.MaxSyncs, len(syncs))
	case len(keyed) > 1 && rc.Headers.Get(idempotencyKeyHeader) != "":
		return refusal(codeOneKeyedField, "the Idempotency-Key header applies to one mutation, and this request has %d (%v); send one mutation per request, or give each its own idempotencyKey argument", len(keyed), keyed)
	}
	return nil
}

// idempotencyKeyHeader gives a request's one mutation its idempotency key.
const idempotencyKeyHeader = "Idempotency-Key"

// visitRootFields calls fn for each root field of set, looking through
// fragments (each spread once).
func visitRootFields(set ast.SelectionSet, frags ast.FragmentDefinitionList, seen map[string]bool, fn func(*ast.Field)) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			fn(s)
		case *ast.InlineFragment:
			visitRootFields(s.SelectionSet, frags, seen, fn)
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if f := frags.ForName(s.Name); f != nil {
				visitRootFields(f.SelectionSet, frags, seen, fn)
			}
		}
	}
}
