package twofactor

import (
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/testutil/fakesmtp"
)

var msg = Message{
	Channel: "EMAIL", To: "zhangshan@163.com", Code: "042917", OrderID: 11, VerifyCodeOrderID: 22,
	ExpiresAt: time.Date(2025, 1, 1, 0, 5, 0, 0, time.UTC),
}

func TestSMTPSender(t *testing.T) {
	fake := fakesmtp.Start(t)
	s, err := NewSMTPSender("smtp://mailer:pw@" + fake.Addr + "?from=pay@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	got := fake.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	m := got[0]
	if m.From != "pay@example.com" || len(m.To) != 1 || m.To[0] != "zhangshan@163.com" || m.Auth != "\x00mailer\x00pw" {
		t.Fatalf("envelope: %+v", m)
	}
	head, body, _ := strings.Cut(m.Data, "\n\n")
	if !strings.Contains(head, "To: <zhangshan@163.com>") || !strings.Contains(head, "Subject: =?utf-8?q?") ||
		!strings.Contains(head, "Content-Transfer-Encoding: quoted-printable") {
		t.Fatalf("headers:\n%s", head)
	}
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil || !strings.Contains(string(text), "042917") || !strings.Contains(string(text), "支付验证码") {
		t.Fatalf("body %q: %v", text, err)
	}

	// A refused recipient is an error, not a silent success.
	fake.RejectRcpt(true)
	if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "RCPT") {
		t.Fatalf("refused recipient: %v", err)
	}
	// Nothing listening: an error within the timeout.
	dead, _ := NewSMTPSender("smtp://127.0.0.1:1")
	dead.Timeout = 2 * time.Second
	if err := dead.Send(context.Background(), msg); err == nil {
		t.Fatal("sent to a closed port")
	}
}

func TestSMTPURLs(t *testing.T) {
	s, err := NewSMTPSender("smtps://mail.example.com")
	if err != nil || s.addr != "mail.example.com:465" || !s.implicit || s.from != "paygraph@mail.example.com" {
		t.Fatalf("%+v %v", s, err)
	}
	s, err = NewSMTPSender("smtp://mail.example.com")
	if err != nil || s.addr != "mail.example.com:25" || s.implicit {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{"http://mail", "smtp://", "smtp://mail?from=not-an-address"} {
		if _, err := NewSMTPSender(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestWebhookSender(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []webhookBody
		users  []string
		status = http.StatusOK
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b webhookBody
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&b) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		u, p, _ := r.BasicAuth()
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, b)
		users = append(users, u+":"+p)
		w.WriteHeader(status)
	}))
	defer hs.Close()
	w := NewWebhookSender(strings.Replace(hs.URL, "http://", "http://sms:key@", 1) + "/send")
	m := msg
	m.Channel, m.To, m.NationalCode = "MOBILE", "18600000001", "86"
	if err := w.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	b := bodies[0]
	if len(bodies) != 1 || users[0] != "sms:key" || b.To != "18600000001" || b.NationalCode != "86" || b.Code != "042917" ||
		b.OrderID != "11" || b.VerifyCodeOrderID != "22" || b.ExpiresAt != "2025-01-01T00:05:00Z" || !strings.Contains(b.Text, "042917") {
		t.Fatalf("webhook got %+v (auth %v)", bodies, users)
	}
	status = http.StatusBadGateway
	mu.Unlock()
	if err := w.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("a 502 answer: %v", err)
	}
}

func TestDevSenderKeepsTheNewest(t *testing.T) {
	d := &DevSender{Keep: 3}
	for i := int64(1); i <= 5; i++ {
		m := msg
		m.VerifyCodeOrderID = i
		_ = d.Send(context.Background(), m)
	}
	got := d.Latest(10)
	if len(got) != 3 || got[0].VerifyCodeOrderID != 5 || got[2].VerifyCodeOrderID != 3 || got[0].Code != "042917" {
		t.Fatalf("%+v", got)
	}
	if got := d.Latest(1); len(got) != 1 || got[0].VerifyCodeOrderID != 5 {
		t.Fatalf("%+v", got)
	}
}
