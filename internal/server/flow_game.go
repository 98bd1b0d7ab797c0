package server

import (
	"encoding/hex"
	"github.com/paygraph/paygraph/ent/order"
	"net/http"

	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/payment"
	"github.com/paygraph/paygraph/internal/provider/game"
)

// gameKeyPurpose derives the development callback key from the token key.
const gameKeyPurpose = "paygraph/game-callback-key/v1"

// initGameFlow wires the game goods flow: game goods and the signed callback.
//
// Without PAYGRAPH_GAME_CALLBACK_KEY the callback key is derived from the
// token key, so it is the same on every instance and across restarts (as
// the token key is: kept beside the SQLite database, or required with
// PostgreSQL), and the sendGameTestCallback helper is on.
func (s *Server) initGameFlow(mux *http.ServeMux) error {
	alg, err := game.ParseAlgorithm(s.Config.GameCallbackSign)
	if err != nil {
		return &config.Error{Var: "PAYGRAPH_GAME_CALLBACK_SIGN", Reason: err.Error()}
	}
	key, dev := s.Config.GameCallbackKey, false
	if key == "" {
		key, dev = hex.EncodeToString(s.Tokens.DeriveKey(gameKeyPurpose)), true
		s.Log.Warn("PAYGRAPH_GAME_CALLBACK_KEY is unset: game callbacks are checked with a development key derived from the token key; sendGameTestCallback signs with it. Set the provider's key in production")
	}
	prov := &game.Provider{Key: []byte(key), Algorithm: alg, Clock: s.Clock, Client: s.DB.Ent}
	s.GameGoods = &payment.GameGoods{Payments: s.Payments, Catalog: s.Catalog}
	// The game provider collects the money: a GOODS order writes no journal.
	s.Ledger.NoJournal = append(s.Ledger.NoJournal, order.TypeGOODS)
	s.GameSandbox = &game.Sandbox{
		Provider: prov, Client: s.DB.Ent, Assets: s.Assets, Enabled: dev,
		Handler: func() http.Handler { return s.handler },
	}
	mux.Handle("POST "+game.CallbackPath, s.Shim.Handler(prov))
	return nil
}
