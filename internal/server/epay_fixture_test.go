package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// epayWorld is a server on the embedded epay sandbox with a buyer.
type epayWorld struct {
	srv          *testutil.Server
	c, admin     *testutil.Client
	buyer        *testutil.Client
	buyerID      string
	buyerToken   string
	noRedirectHC *http.Client
}

// epayKey is the merchant key tests configure, so that they can sign
// notifies of their own.
const epayKey = "test-epay-key-0123456789abcdef"

func newEpayWorld(t *testing.T, signType string, extra testutil.Env, opts server.Options) *epayWorld {
	t.Helper()
	env := testutil.Base(t)
	env["PAYGRAPH_EPAY_KEY"] = epayKey
	if signType != "" {
		env["PAYGRAPH_EPAY_SIGN_TYPE"] = signType
	}
	for k, v := range extra {
		env[k] = v
	}
	srv := testutil.StartWith(t, env, opts)
	c := srv.Client()
	w := &epayWorld{srv: srv, c: c, admin: c.As(c.AdminToken(t))}
	w.buyerID, w.buyerToken = c.NewUser(t, "buyer")
	w.buyer = c.As(w.buyerToken)
	w.noRedirectHC = &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(w.noRedirectHC.CloseIdleConnections)
	return w
}

type epayOrder struct {
	ID, OrderNo, Type, Status, StatusDesc, Amount, Asset string
	LegacyStatus                                         *int
	Points                                               *int
	PayWay, Channel, ProviderTradeNo                     *string
	PaidAt                                               *string
	Synced                                               bool
	ProviderInfo                                         *struct {
		TradeNo, APITradeNo, Addtime, Endtime, Money *string
		Status                                       int
	}
}

// epayOrderFields selects every edge too: the results of mutations must
// resolve all of them (see testutil.EveryEdge).
var epayOrderFields = `id orderNo type status statusDesc amount asset legacyStatus points payWay channel providerTradeNo paidAt ` + testutil.EveryEdge("Order")

func (w *epayWorld) createPoints(t *testing.T, c *testutil.Client, amount string, points int, paymentType string) epayOrder {
	t.Helper()
	var out struct{ CreatePointsOrder epayOrder }
	c.Do(t, `mutation($in:CreatePointsOrderInput!){createPointsOrder(input:$in){`+epayOrderFields+`}}`,
		map[string]any{"in": map[string]any{"amount": amount, "points": points, "paymentType": paymentType}}).Decode(t, &out)
	return out.CreatePointsOrder
}

type payURL struct {
	TradeNo, PayType, PayInfo, OrderNo string
	QrPng                              *string
}

func getPayURLResp(c *testutil.Client, in map[string]any) (*testutil.Response, error) {
	return c.Post(`mutation($in:GetPayUrlInput!){getPayUrl(input:$in){tradeNo payType payInfo orderNo qrPng}}`, map[string]any{"in": in})
}

func (w *epayWorld) getPayURL(t *testing.T, c *testutil.Client, in map[string]any) payURL {
	t.Helper()
	r, err := getPayURLResp(c, in)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		GetPayURL payURL `json:"getPayUrl"`
	}
	r.Decode(t, &out)
	return out.GetPayURL
}

func (w *epayWorld) order(t *testing.T, c *testutil.Client, orderNo string, sync bool) epayOrder {
	t.Helper()
	var out struct{ Order epayOrder }
	c.Do(t, `query($no:String!,$sync:Boolean){order(orderNo:$no,sync:$sync){`+epayOrderFields+
		` synced providerInfo{tradeNo apiTradeNo status addtime endtime money}}}`,
		map[string]any{"no": orderNo, "sync": sync}).Decode(t, &out)
	return out.Order
}

// sandboxPay presses the cashier's Pay or Fail button; it returns whether
// the first notify was acknowledged.
func (w *epayWorld) sandboxPay(t *testing.T, tradeNo, result string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/sandbox/epay/pay/"+tradeNo, strings.NewReader(url.Values{"result": {result}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := w.noRedirectHC.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Code     int
		Notified bool
		Msg      string
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sandbox pay %s: %d %+v %v", result, resp.StatusCode, out, err)
	}
	return out.Notified
}

// notify sends a notify to /payment/notify as a GET, like the gateway.
func (w *epayWorld) notify(t *testing.T, v url.Values) string {
	t.Helper()
	resp, err := w.noRedirectHC.Get(w.srv.URL + "/payment/notify?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// verdicts counts stored callbacks by verdict.
func (w *epayWorld) verdicts(t *testing.T) map[string]int {
	t.Helper()
	var out struct {
		CallbackEvents struct {
			Edges []struct {
				Node struct{ Provider, Verdict string }
			}
		}
	}
	w.admin.Do(t, `{callbackEvents(first:100){edges{node{provider verdict}}}}`, nil).Decode(t, &out)
	m := map[string]int{}
	for _, e := range out.CallbackEvents.Edges {
		if e.Node.Provider != "epay" {
			t.Fatalf("callback from %s", e.Node.Provider)
		}
		m[e.Node.Verdict]++
	}
	return m
}

// wallet returns a user's available and escrow balances in asset.
func wallet(t *testing.T, c *testutil.Client, asset string) (available, escrow string) {
	t.Helper()
	var out struct {
		Wallets []struct{ Asset, Available, Escrow string }
	}
	c.Do(t, `{wallets{asset available escrow}}`, nil).Decode(t, &out)
	for _, w := range out.Wallets {
		if w.Asset == asset {
			return w.Available, w.Escrow
		}
	}
	return "0", "0"
}

func legacyCode(r *testutil.Response) any {
	if len(r.Errors) == 0 {
		return nil
	}
	return r.Errors[0].Extensions["legacyCode"]
}
