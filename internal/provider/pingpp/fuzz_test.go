package pingpp

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzNotice feeds arbitrary (already verified) event bodies to the parser:
// it must never panic, and whatever it accepts names an order and a
// positive amount.
func FuzzNotice(f *testing.F) {
	if b, err := os.ReadFile("testdata/webhook_charge_succeeded.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"id":"evt_1","object":"event","type":"refund.succeeded","data":{"object":{"object":"refund","id":"re_1","amount":5,"succeed":true,"charge_order_no":"o1"}}}`))
	f.Add([]byte(`{"id":"evt_2","object":"event","type":"charge.succeeded","data":{"object":{"object":"charge","paid":true,"amount":-1,"order_no":"x","currency":"cny"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var ev Event
		if json.Unmarshal(body, &ev) != nil {
			return
		}
		n, err := (&Webhook{}).notice(&ev)
		if err == nil && (n.OrderNo == "" || n.Amount.Sign() <= 0) {
			t.Fatalf("accepted %s as %+v", body, n)
		}
	})
}
