package access

import (
	"context"
	"testing"

	"github.com/paygraph/paygraph/ent"
)

// What one request remembers is bounded (a subscription lives long), and
// forgetting keeps what the request was granted; Fresh starts an
// operation with nothing remembered.
func TestRememberedAnswersAreBounded(t *testing.T) {
	ctx := WithRequest(context.Background(), nil)
	Grant(ctx, 7)
	for i := range int64(3 * maxRemembered) {
		_ = remember(ctx, key{"order", i}, func(*ent.Client) error { return nil })
		_, _ = owner(ctx, key{"event", i}, func(*ent.Client) (int64, error) { return i, nil })
	}
	r := ctx.Value(requestKey{}).(*request)
	if len(r.memo) > maxRemembered || len(r.ids) > maxRemembered {
		t.Fatalf("%d answers and %d owners remembered", len(r.memo), len(r.ids))
	}
	if !granted(ctx, 7) {
		t.Fatal("the grant was forgotten")
	}
	fresh := Fresh(ctx).Value(requestKey{}).(*request)
	if fresh == r || len(fresh.memo) != 0 {
		t.Fatalf("Fresh kept the request's answers (%d)", len(fresh.memo))
	}
}
