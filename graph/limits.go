package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

const codeTooDeep = "QUERY_TOO_DEEP"

// DepthLimit refuses operations nested deeper than Max. Introspection
// fields (__schema, __type) are not counted, so GraphiQL keeps working.
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
	if depth := selectionDepth(rc.Operation.SelectionSet, rc.Doc.Fragments, map[string]bool{}); depth > d.Max {
		err := gqlerror.Errorf("operation is nested %d levels deep, more than the limit of %d", depth, d.Max)
		err.Extensions = map[string]any{"code": codeTooDeep}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, frags ast.FragmentDefinitionList, visiting map[string]bool) int {
	max := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.Name) > 1 && s.Name[:2] == "__" {
				continue
			}
			d = 1 + selectionDepth(s.SelectionSet, frags, visiting)
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, frags, visiting)
		case *ast.FragmentSpread:
			if visiting[s.Name] { // cycles are refused by validation; do not loop
				continue
			}
			if f := frags.ForName(s.Name); f != nil {
				visiting[s.Name] = true
				d = selectionDepth(f.SelectionSet, frags, visiting)
				delete(visiting, s.Name)
			}
		}
		if d > max {
			max = d
		}
	}
	return max
}
