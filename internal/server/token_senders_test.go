package server_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygraph/paygraph/ent/user"
	"github.com/paygraph/paygraph/ent/verifycode"
	"github.com/paygraph/paygraph/internal/testutil"
	"github.com/paygraph/paygraph/internal/testutil/fakesmtp"
)

// smsGateway is a fake SMS webhook on 127.0.0.1.
type smsGateway struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []map[string]string
	status int
}

func newSMSGateway(t *testing.T) *smsGateway {
	g := &smsGateway{status: http.StatusOK}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b map[string]string
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || r.URL.Query().Get("token") != "sms-secret" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		g.bodies = append(g.bodies, b)
		w.WriteHeader(g.status)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *smsGateway) received() []map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]string(nil), g.bodies...)
}

func (g *smsGateway) fail(status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status = status
}

var sixDigits = regexp.MustCompile(`\b[0-9]{6}\b`)

func TestRealSenders(t *testing.T) {
	mail := fakesmtp.Start(t)
	sms := newSMSGateway(t)
	env := testutil.Base(t)
	env["PAYGRAPH_SMTP_URL"] = "smtp://" + mail.Addr + "?from=pay@example.com"
	env["PAYGRAPH_SMS_URL"] = sms.URL + "/send?token=sms-secret"
	f := newTokenPay(t, env)
	f.credit(t, f.payerID, "CNY", "10.00")

	// Email through SMTP.
	f.setAuthType(t, f.payer, "EMAIL").Decode(t, &struct{}{})
	id := f.order(t, f.payerID, "CNY", "1.00")
	vc := f.send(t, f.payer, id)
	msgs := mail.Messages()
	if len(msgs) != 1 || msgs[0].From != "pay@example.com" || len(msgs[0].To) != 1 || msgs[0].To[0] != "zhangshan@163.com" {
		t.Fatalf("mail: %+v", msgs)
	}
	_, body, _ := strings.Cut(msgs[0].Data, "\n\n")
	text, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	code := sixDigits.FindString(string(text))
	if code == "" {
		t.Fatalf("no code in %q", text)
	}
	if r := f.pay(t, f.payer, id, vc, code); len(r.Errors) > 0 {
		t.Fatalf("pay with the mailed code: %+v", r.Errors)
	}

	// SMS through the webhook.
	f.clk.Advance(time.Minute)
	f.setAuthType(t, f.payer, "MOBILE").Decode(t, &struct{}{})
	id = f.order(t, f.payerID, "CNY", "2.00")
	vc = f.send(t, f.payer, id)
	got := sms.received()
	if len(got) != 1 || got[0]["to"] != "18600000001" || got[0]["nationalCode"] != "86" || got[0]["orderId"] != id ||
		got[0]["verifyCodeOrderId"] != vc || len(got[0]["code"]) != 6 || !strings.Contains(got[0]["text"], got[0]["code"]) {
		t.Fatalf("webhook: %+v", got)
	}
	if r := f.pay(t, f.payer, id, vc, got[0]["code"]); len(r.Errors) > 0 {
		t.Fatalf("pay with the texted code: %+v", r.Errors)
	}
	wantBalances(t, f, "CNY", "7.00", "3.00")

	// With real senders the codes are nowhere in plain text.
	tokenWantCode(t, "outbox with real senders", f.admin.Do(t, `{verifyCodeOutbox{code}}`, nil), "FORBIDDEN")
	ctx := context.Background()
	rows, err := f.srv.DB.Ent.VerifyCode.Query().Order(verifycode.ByCreatedAt()).All(ctx)
	if err != nil || len(rows) != 2 {
		t.Fatalf("%d codes stored: %v", len(rows), err)
	}
	for i, want := range []string{code, got[0]["code"]} {
		if rows[i].CodeHash == "" || strings.Contains(rows[i].CodeHash, want) || rows[i].UsedAt == nil ||
			!strings.Contains(rows[i].Destination, "****") {
			t.Fatalf("stored code %d: %+v", i, rows[i])
		}
	}

	// A gateway that fails: PROVIDER_ERROR, and the caller can tell.
	sms.fail(http.StatusInternalServerError)
	f.clk.Advance(time.Minute)
	tokenWantCode(t, "a failing gateway", f.sendRaw(t, f.payer, f.order(t, f.payerID, "CNY", "1.00")), "PROVIDER_ERROR")
	f.srv.AssertLedger(t)
}

func TestOnlyConfiguredChannels(t *testing.T) {
	mail := fakesmtp.Start(t)
	env := testutil.Base(t)
	env["PAYGRAPH_SMTP_URL"] = "smtp://" + mail.Addr
	f := newTokenPay(t, env)
	tokenWantCode(t, "MOBILE without an SMS sender", f.setAuthType(t, f.payer, "MOBILE"), "BAD_USER_INPUT")
	f.setAuthType(t, f.payer, "EMAIL").Decode(t, &struct{}{})
	tokenWantCode(t, "outbox with a real sender", f.admin.Do(t, `{verifyCodeOutbox{code}}`, nil), "FORBIDDEN")
}

func TestTotpSecretIsSealed(t *testing.T) {
	f := newTokenPay(t, testutil.Base(t))
	var setup struct{ SetupTotp struct{ Secret string } }
	f.payer.Do(t, `mutation{setupTotp{secret}}`, nil).Decode(t, &setup)
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(setup.SetupTotp.Secret)
	id, _ := strconv.ParseInt(f.payerID, 10, 64)
	u, err := f.srv.DB.Ent.User.Query().Where(user.ID(id)).Only(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.TotpPendingSecret, "v1:") || strings.Contains(u.TotpPendingSecret, setup.SetupTotp.Secret) ||
		strings.Contains(u.TotpPendingSecret, string(raw)) {
		t.Fatalf("pending secret stored as %q", u.TotpPendingSecret)
	}
	f.bindGA(t, f.payer)
	u, _ = f.srv.DB.Ent.User.Get(context.Background(), id)
	if !u.BindGa || u.TotpPendingSecret != "" || !strings.HasPrefix(u.TotpSecret, "v1:") {
		t.Fatalf("after enableTotp: bind %v pending %q secret %q", u.BindGa, u.TotpPendingSecret, u.TotpSecret)
	}
}
