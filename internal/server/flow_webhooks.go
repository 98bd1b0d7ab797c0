package server

import (
	"context"
	"net/http"
	"time"

	"entgo.io/ent/dialect"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/scheduler"
	"github.com/paygraph/paygraph/internal/webhook"
)

// webhookKeyPurpose derives the key that seals endpoint secrets in the
// database from the token key.
const webhookKeyPurpose = "paygraph webhook secrets v1"

// eventRecorder is the outbox writer the ledger and the order services
// call in the transaction of each change.
func (s *Server) eventRecorder() *webhook.Recorder {
	// With SQLite this instance is the only writer and hands out ids in
	// commit order: an event's position is its id, written with it.
	return &webhook.Recorder{Assets: s.Assets, Ordered: s.DB.Dialect != dialect.Postgres, Describe: func(o *ent.Order) (string, string, *int) {
		return payment.StatusDesc(o.Type, o.Status), payment.StatusText(o.Type, o.Status), payment.LegacyStatus(o.Type, o.Status)
	}}
}

// initWebhooks wires merchants' endpoints, the events API and the
// dispatcher, which runs until Close, and the job that purges events
// past their retention.
//
// Expiry and escrow auto-confirmation stay scheduler jobs rather than
// moving onto the delivery queue: their due times already live in the
// order rows they change (indexed), each change is a conditional
// transition that several instances may race for safely, and they survive
// restarts as they are. A queue row per order would add a write to every
// payment and a second record of what the order already says.
func (s *Server) initWebhooks(*http.ServeMux) error {
	guard := &webhook.Guard{AllowPrivate: s.Config.Webhooks.AllowPrivate}
	svc, err := webhook.NewService(s.DB.Ent, s.Tx, guard, s.Tokens.DeriveKey(webhookKeyPurpose))
	if err != nil {
		return err
	}
	d := &webhook.Dispatcher{
		Service: svc, Bus: s.Bus, Log: s.Log, Postgres: s.DB.Dialect == dialect.Postgres,
		Retries: s.Config.Webhooks.Retries,
	}
	svc.Dispatcher = d
	s.Webhooks, s.Dispatcher = svc, d
	svc.Ordered = !d.Postgres // as the recorder's positions
	s.Scheduler.Add(scheduler.Job{Name: "purge-events", Run: func(ctx context.Context) error {
		_, err := svc.Purge(ctx, time.Now())
		return err
	}})
	s.onClose(d.Start())
	return nil
}
