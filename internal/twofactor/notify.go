package twofactor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/paygraph/paygraph/ent/user"
)

// Message is one verification code to deliver.
type Message struct {
	// Channel is MOBILE or EMAIL.
	Channel string
	// To is the full address: digits of a mobile number, or an email address.
	To string
	// NationalCode is the mobile number's calling code ("86"), if known.
	NationalCode string
	Code         string
	OrderID      int64
	// VerifyCodeOrderID is the id the client hands back to pay.
	VerifyCodeOrderID int64
	ExpiresAt         time.Time
}

// Text is the message a person reads.
func (m Message) Text() string {
	return fmt.Sprintf("【paygraph】支付验证码 %s，%d 分钟内有效，请勿告诉他人。Your payment code is %s; it is valid for %d minutes. Never share it.",
		m.Code, int(CodeTTL/time.Minute), m.Code, int(CodeTTL/time.Minute))
}

// Notifier delivers verification codes. Send must not be called inside a
// database transaction: it talks to the outside world.
type Notifier interface {
	Send(ctx context.Context, m Message) error
}

// OutboxEntry is a code the development sender kept.
type OutboxEntry struct {
	Channel           user.AuthType
	To                string
	Code              string
	OrderID           int64
	VerifyCodeOrderID int64
	CreatedAt         time.Time
}

// DevSender is the development notifier used while no real sender is
// configured: it logs each code and keeps the last ones in memory for the
// admin verifyCodeOutbox query. Each instance keeps its own.
type DevSender struct {
	Log   *slog.Logger
	Clock func() time.Time
	// Keep is how many codes are kept (default 200).
	Keep int

	mu   sync.Mutex
	msgs []OutboxEntry
}

// Send logs m and keeps it.
func (d *DevSender) Send(ctx context.Context, m Message) error {
	now := time.Now()
	if d.Clock != nil {
		now = d.Clock()
	}
	if d.Log != nil {
		d.Log.InfoContext(ctx, "verification code (development sender: set PAYGRAPH_SMTP_URL / PAYGRAPH_SMS_URL to send it)",
			"channel", m.Channel, "to", m.To, "code", m.Code, "order", m.OrderID, "verifyCodeOrderId", m.VerifyCodeOrderID)
	}
	keep := d.Keep
	if keep <= 0 {
		keep = 200
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, OutboxEntry{Channel: user.AuthType(m.Channel), To: m.To, Code: m.Code, OrderID: m.OrderID,
		VerifyCodeOrderID: m.VerifyCodeOrderID, CreatedAt: now})
	if len(d.msgs) > keep {
		d.msgs = append(d.msgs[:0:0], d.msgs[len(d.msgs)-keep:]...)
	}
	return nil
}

// Latest returns up to n kept codes, newest first.
func (d *DevSender) Latest(n int) []*OutboxEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*OutboxEntry, 0, min(n, len(d.msgs)))
	for i := len(d.msgs) - 1; i >= 0 && len(out) < n; i-- {
		e := d.msgs[i]
		out = append(out, &e)
	}
	return out
}
