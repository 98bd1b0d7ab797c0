package graph

import (
	"context"
	"errors"
	"reflect"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/paygraph/paygraph/internal/access"
)

// Visibility is the field middleware that applies access.CanView to every
// value a field returns, whatever returned it: a root field, node, an edge
// ent loads, a connection's nodes, a payload's field. So the rule for an
// entity is decided in one place and no path can skip it:
//
//   - an entity the caller may not see becomes null, with a FORBIDDEN
//     error on that field;
//   - in a list, each such element becomes null (where the list may hold
//     nulls) or is left out, with an error naming its index;
//
// Connections are built with the same rule as a query filter
// (access.Orders, access.WalletEntries; callback events are ADMIN's), so
// their totals and pages hold only visible entities.
//
// Fields selected never change whether an entity is visible: the rule
// looks at the entity, not at the selection.
func Visibility(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	if err != nil || res == nil {
		return res, err
	}
	switch res.(type) {
	case string, bool, int, int64, *string, *bool, *int, *int64:
		return res, nil // the common case, kept cheap
	}
	if rv := reflect.ValueOf(res); (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Slice) && rv.IsNil() {
		return res, nil // a typed nil: nothing to show
	}
	if err := access.CanView(ctx, res); err != nil {
		return nil, err
	}
	return filterList(ctx, res)
}

// filterList applies the rule to each element of a list of entities.
func filterList(ctx context.Context, res any) (any, error) {
	rv := reflect.ValueOf(res)
	if rv.Kind() != reflect.Slice || rv.Len() == 0 {
		return res, nil
	}
	et := rv.Type().Elem()
	if et.Kind() != reflect.Pointer && et.Kind() != reflect.Interface {
		return res, nil
	}
	nullable := false
	if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Field != nil && fc.Field.Definition != nil {
		if t := fc.Field.Definition.Type; t.Elem != nil {
			nullable = !t.Elem.NonNull
		}
	}
	var out reflect.Value
	for i := 0; i < rv.Len(); i++ {
		el := rv.Index(i)
		if el.IsNil() {
			continue
		}
		err := access.CanView(ctx, el.Interface())
		if err == nil {
			if out.IsValid() && !nullable {
				out = reflect.Append(out, el)
			}
			continue
		}
		addIndexError(ctx, i, err)
		switch {
		case nullable:
			if !out.IsValid() {
				out = reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
				reflect.Copy(out, rv)
			}
			out.Index(i).Set(reflect.Zero(et))
		case !out.IsValid():
			out = reflect.MakeSlice(rv.Type(), 0, rv.Len())
			out = reflect.AppendSlice(out, rv.Slice(0, i))
		}
	}
	if !out.IsValid() {
		return res, nil
	}
	return out.Interface(), nil
}

// addIndexError records err on element i of the current field.
func addIndexError(ctx context.Context, i int, err error) {
	path := append(graphql.GetPath(ctx), ast.PathIndex(i))
	gerr := &gqlerror.Error{Err: err, Message: err.Error(), Path: path}
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		gerr.Message = ge.Message
	}
	graphql.AddError(ctx, gerr)
}
