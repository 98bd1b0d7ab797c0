package server_test

import (
	"testing"

	"github.com/paygraph/paygraph/internal/server"
)

// Orders are filtered on whether a partial refund request waits
// (refundRequestedAmountNotNil / IsNil), so whoever decides refunds finds
// them while they keep their status: the console's "to decide" list.
func TestOrdersFilterOnAWaitingPartialRefund(t *testing.T) {
	m := newMoney(t, server.Options{})
	m.credit(t, m.payerID, "CNY", "20.00")
	asked, other := twoLineOrder(t, m), twoLineOrder(t, m)
	m.payer.Do(t, `mutation($id:ID!){requestRefund(orderId:$id,reason:"one is broken",amount:"2.00"){id}}`,
		map[string]any{"id": asked})

	ids := func(where map[string]any) []string {
		var out struct {
			Orders struct {
				Edges []struct {
					Node struct{ ID, Status, RefundRequestedAmount string }
				}
			}
		}
		m.admin.Do(t, `query($w:OrderWhereInput){orders(where:$w){edges{node{id status refundRequestedAmount}}}}`,
			map[string]any{"w": where}).Decode(t, &out)
		var got []string
		for _, e := range out.Orders.Edges {
			got = append(got, e.Node.ID+" "+e.Node.Status+" "+e.Node.RefundRequestedAmount)
		}
		return got
	}
	if got := ids(map[string]any{"refundRequestedAmountNotNil": true}); len(got) != 1 || got[0] != asked+" PAID 2.00" {
		t.Errorf("waiting: %v", got)
	}
	if got := ids(map[string]any{"refundRequestedAmountIsNil": true, "status": "PAID"}); len(got) != 1 || got[0] != other+" PAID " {
		t.Errorf("none waiting: %v", got)
	}
	approvePart(m.payee, asked, nil)
	if got := ids(map[string]any{"refundRequestedAmountNotNil": true}); len(got) != 0 {
		t.Errorf("waiting after the approval: %v", got)
	}
}
