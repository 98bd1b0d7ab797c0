package escrow

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/paygraph/paygraph/ent"
	"github.com/paygraph/paygraph/ent/order"
	"github.com/paygraph/paygraph/internal/access"
	"github.com/paygraph/paygraph/internal/apperr"
	"github.com/paygraph/paygraph/internal/auth"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/paypass"
	"github.com/paygraph/paygraph/internal/role"
)

// openDeal lists the statuses of a deal whose chat may go on: paid and
// neither confirmed nor settled.
var openDeal = []payment.Status{payment.Paid, payment.RefundRequested}

// ChatSession is the escrow marketplace's shouldCreateNewTalk: the chat of a paid deal
// with a seller for a skill, if one is still open. Both are nil when there
// is none (the document's chatId 0), and a new deal is needed.
type ChatSession struct {
	ChatID  *string
	OrderID *int64
}

// ChatSession finds the caller's open chat with receiverID about skillID:
// the latest deal paid less than ChatWindow ago and not yet closed.
//
// Errors: BAD_USER_INPUT.
func (s *Service) ChatSession(ctx context.Context, receiverID int64, skillID string) (*ChatSession, error) {
	p, err := auth.Require(ctx, role.User)
	if err != nil {
		return nil, err
	}
	if skillID, err = text("skillId", skillID, 1, 64); err != nil {
		return nil, err
	}
	o, err := s.Client.Order.Query().
		Where(order.TypeEQ(order.TypeDEAL), order.PayerID(p.Subject), order.PayeeID(receiverID), order.SkillID(skillID),
			order.StatusIn(openDeal...), order.PaidAtGT(s.Clock.Now().Add(-ChatWindow))).
		Order(ent.Desc(order.FieldPaidAt)).First(ctx)
	if ent.IsNotFound(err) {
		return &ChatSession{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finding chat: %w", err)
	}
	out := &ChatSession{OrderID: &o.ID}
	if o.ChatID != "" {
		out.ChatID = &o.ChatID
	}
	return out, nil
}

// ChatStatus is the escrow marketplace's shouldContinueTalk.
type ChatStatus struct {
	// Should says whether the chat may go on.
	Should bool
	// PayTime is when the chat's deal was paid; ExpiresAt is PayTime + 24 h.
	PayTime   *time.Time
	ExpiresAt *time.Time
	OrderID   *int64
}

// ChatStatus says whether a chat may go on: its latest paid deal (one the
// caller may see) is open and was paid less than ChatWindow ago.
//
// Errors: BAD_USER_INPUT.
func (s *Service) ChatStatus(ctx context.Context, chatID string) (*ChatStatus, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	if chatID, err = text("chatId", chatID, 1, 64); err != nil {
		return nil, err
	}
	o, err := s.Client.Order.Query().
		Where(access.Orders(p), order.TypeEQ(order.TypeDEAL), order.ChatID(chatID), order.PaidAtNotNil()).
		Order(ent.Desc(order.FieldPaidAt)).First(ctx)
	if ent.IsNotFound(err) {
		return &ChatStatus{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finding chat: %w", err)
	}
	exp := o.PaidAt.Add(ChatWindow)
	open := false
	for _, st := range openDeal {
		open = open || o.Status == st
	}
	return &ChatStatus{Should: open && s.Clock.Now().Before(exp), PayTime: o.PaidAt, ExpiresAt: &exp, OrderID: &o.ID}, nil
}

// CommentOrder is the buyer's one comment on a completed deal: a score of
// 1 to 5 and up to 500 characters.
//
// Errors: BAD_USER_INPUT, ErrOrderNotFound, ErrNotBuyer, INVALID_TRANSITION
// (not completed).
func (s *Service) CommentOrder(ctx context.Context, orderID int64, score int, comment string) (*ent.Order, error) {
	p, err := auth.Require(ctx, role.User)
	if err != nil {
		return nil, err
	}
	if score < 1 || score > 5 {
		return nil, input("score", "score is 1 to 5")
	}
	if comment, err = text("comment", comment, 0, 500); err != nil {
		return nil, err
	}
	o, err := s.order(ctx, orderID)
	if err != nil {
		return nil, err
	}
	switch {
	case o.PayerID != p.Subject:
		return nil, ErrNotBuyer
	case o.Type != order.TypeDEAL:
		return nil, errWrongType("commentOrder", "DEAL")
	case o.Status != payment.Completed:
		return nil, apperr.New(apperr.InvalidTransition, "only a completed deal can be commented; this one is %s", o.Status)
	case o.Score != nil:
		return nil, input("orderId", "this deal has been commented already")
	}
	n, err := s.Client.Order.Update().
		Where(order.ID(o.ID), order.PayerID(p.Subject), order.StatusEQ(payment.Completed), order.ScoreIsNil()).
		SetScore(score).SetComment(comment).SetUpdatedAt(s.Clock.Now()).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("commenting order %d: %w", o.ID, err)
	}
	if n == 0 {
		return nil, input("orderId", "this deal has been commented already, or changed meanwhile")
	}
	return s.order(ctx, o.ID)
}

// UpdateProfile sets the caller's public name and avatar shown on orders;
// an empty value clears one, a missing one is left as it is.
//
// Errors: BAD_USER_INPUT.
func (s *Service) UpdateProfile(ctx context.Context, nickname, avatar *string) (*ent.User, error) {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return nil, err
	}
	u := s.Client.User.UpdateOneID(p.Subject)
	if nickname != nil {
		n, err := text("nickname", *nickname, 0, 64)
		if err != nil {
			return nil, err
		}
		if n == "" {
			u.ClearNickname()
		} else {
			u.SetNickname(n)
		}
	}
	if avatar != nil {
		a := strings.TrimSpace(*avatar)
		if a == "" {
			u.ClearAvatar()
		} else {
			if pu, err := url.Parse(a); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || len(a) > 1024 {
				return nil, input("avatar", "avatar must be an http(s) URL of at most 1024 characters")
			}
			u.SetAvatar(a)
		}
	}
	out, err := u.Save(ctx)
	if ent.IsNotFound(err) {
		return nil, auth.ErrTokenInvalid
	}
	return out, err
}

// DisplayName is the public name shown on orders: the nickname, or the username.
func DisplayName(u *ent.User) string {
	if u.Nickname != "" {
		return u.Nickname
	}
	return u.Username
}

// HasPayPassword says whether u has a pay password, to whoever sees its
// contacts (access.SeesPrivate); nil for anyone else.
func HasPayPassword(ctx context.Context, u *ent.User) *bool {
	if !access.SeesPrivate(ctx, u) {
		return nil
	}
	b := u.PayPasswordHash != ""
	return &b
}

// ResetPayPassword removes a user's pay password (see paypass.Guard.Reset).
//
// Errors: FORBIDDEN (not an ADMIN), NOT_FOUND.
func (s *Service) ResetPayPassword(ctx context.Context, userID int64) (*ent.User, error) {
	if _, err := auth.Require(ctx, role.Admin); err != nil {
		return nil, err
	}
	return s.Guard.Reset(ctx, userID)
}

// SetPayPassword sets the caller's pay password (see paypass.Guard.Set).
func (s *Service) SetPayPassword(ctx context.Context, newPassword string, oldPassword *string) (*ent.User, error) {
	p, err := auth.Require(ctx, role.User)
	if err != nil {
		return nil, err
	}
	return s.Guard.Set(ctx, p.Subject, newPassword, oldPassword)
}

// ConfirmPassword checks the caller's login password under the pay
// password's limits, and returns true when it is right.
//
// Errors: WRONG_PASSWORD (legacyCode 4), LOCKED.
func (s *Service) ConfirmPassword(ctx context.Context, password string) (bool, error) {
	p, err := auth.Require(ctx, role.User, role.Admin)
	if err != nil {
		return false, err
	}
	if err := s.Guard.Check(ctx, p.Subject, paypass.Confirm, password); err != nil {
		return false, err
	}
	return true, nil
}
