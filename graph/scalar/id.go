// Package scalar holds the GraphQL scalars paygraph maps by hand.
package scalar

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalInt64ID writes a 64-bit id as a GraphQL ID string, so JavaScript
// clients never lose precision.
func MarshalInt64ID(id int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(strconv.FormatInt(id, 10)))
	})
}

// UnmarshalInt64ID reads a GraphQL ID given as a decimal string or integer.
func UnmarshalInt64ID(v any) (int64, error) {
	switch v := v.(type) {
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a valid ID", v)
		}
		return n, nil
	case json.Number:
		return UnmarshalInt64ID(string(v))
	case int64:
		if v > 0 {
			return v, nil
		}
	case int:
		if v > 0 {
			return int64(v), nil
		}
	}
	return 0, fmt.Errorf("%v is not a valid ID", v)
}
