package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/paygraph/paygraph/internal/metrics"
	"github.com/paygraph/paygraph/internal/trace"
)

// Observe adds extensions.traceId to every response and records requests,
// latency and errors per operation. The operation label is the operation
// type and its first root field ("mutation.pay"), which the schema bounds,
// rather than the client's free-form operation name.
type Observe struct {
	Metrics *metrics.Metrics
	schema  *ast.Schema
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = &Observe{}

// ExtensionName names the extension.
func (Observe) ExtensionName() string { return "Observe" }

// Validate keeps the schema, to tell real root fields from made-up ones.
func (o *Observe) Validate(es graphql.ExecutableSchema) error {
	o.schema = es.Schema()
	return nil
}

// InterceptResponse wraps each response (one per subscription event).
func (o *Observe) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	if resp == nil {
		return nil
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["traceId"] = trace.ID(ctx)
	if o.Metrics != nil {
		op := o.operationLabel(ctx)
		o.Metrics.Operations.WithLabelValues(op).Inc()
		o.Metrics.Latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
		for _, e := range resp.Errors {
			code, _ := e.Extensions["code"].(string)
			o.Metrics.Errors.WithLabelValues(op, code).Inc()
		}
	}
	return resp
}

func (o *Observe) operationLabel(ctx context.Context) string {
	if !graphql.HasOperationContext(ctx) {
		return "invalid"
	}
	oc := graphql.GetOperationContext(ctx)
	if oc == nil || oc.Operation == nil {
		return "invalid"
	}
	for _, sel := range oc.Operation.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok {
			continue
		}
		var root *ast.Definition
		switch oc.Operation.Operation {
		case ast.Query:
			root = o.schema.Query
		case ast.Mutation:
			root = o.schema.Mutation
		case ast.Subscription:
			root = o.schema.Subscription
		}
		if root == nil || (root.Fields.ForName(f.Name) == nil && f.Name != "__schema" && f.Name != "__type" && f.Name != "__typename") {
			return "invalid"
		}
		return string(oc.Operation.Operation) + "." + f.Name
	}
	return string(oc.Operation.Operation)
}
