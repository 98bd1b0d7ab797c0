package server

import (
	"context"
	"net/http"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/scheduler"
	"github.com/paygraph/paygraph/internal/twofactor"
)

// initTokenFlow wires the token checkout: second factors for pay (GA, SMS, email).
func (s *Server) initTokenFlow(*http.ServeMux) error {
	key := s.Config.TwoFactorKey
	if len(key) == 0 {
		key = s.Tokens.DeriveKey("paygraph second factor v1")
	}
	tf := twofactor.Service{
		Client: s.DB.Ent, Tx: s.Tx, Clock: s.Clock, Log: s.Log, Payments: s.Payments,
	}
	if s.Config.SMTPURL != "" {
		smtp, err := twofactor.NewSMTPSender(s.Config.SMTPURL)
		if err != nil {
			return &config.Error{Var: "PAYGRAPH_SMTP_URL", Reason: err.Error()}
		}
		tf.Email = smtp
	}
	if s.Config.SMSURL != "" {
		tf.SMS = twofactor.NewWebhookSender(s.Config.SMSURL)
	}
	if tf.Email == nil && tf.SMS == nil {
		// Development: codes go to the log and the admin verifyCodeOutbox.
		tf.Dev = &twofactor.DevSender{Log: s.Log, Clock: s.Clock.Now}
		tf.Email, tf.SMS = tf.Dev, tf.Dev
	}
	svc, err := twofactor.New(tf, key)
	if err != nil {
		return &config.Error{Var: "PAYGRAPH_TWOFACTOR_KEY", Reason: err.Error()}
	}
	// bindTradePwd is the escrow marketplace's pay password.
	svc.BindTradePwd = func(u *ent.User) bool { return u.PayPasswordHash != "" }
	s.TwoFactor = svc
	s.Payments.SecondFactor = svc
	s.Scheduler.Add(scheduler.Job{Name: "purge-verify-codes", Run: func(ctx context.Context) error {
		_, err := svc.PurgeCodes(ctx)
		return err
	}})
	return nil
}
