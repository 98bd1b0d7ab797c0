package server_test

import (
	"log/slog"
	"maps"
	"testing"

	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/server"
	"github.com/paygraph/paygraph/internal/testutil"
)

// An asset's decimals are part of its stored amounts: a restart that
// configures other decimals, or drops an asset wallets hold, is refused
// with one line naming the asset, and the balances read as before.
func TestAssetScalesAreKeptWithTheData(t *testing.T) {
	env := testutil.Base(t)
	first := testutil.Start(t, env)
	c := first.Client()
	admin := c.As(c.AdminToken(t))
	userID, tok := c.NewUser(t, "holder")
	admin.Do(t, `mutation($in:CreditInput!){credit(input:$in){id}}`, map[string]any{"in": map[string]any{
		"userId": userID, "asset": "USDT", "amount": "1.000000"}}).Decode(t, &struct{}{})

	start := func(assets string) error {
		e := maps.Clone(env)
		e["PAYGRAPH_ASSETS"] = assets
		cfg, err := config.Load(e.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(t.Context(), cfg, slog.New(slog.DiscardHandler), server.Options{})
		if err == nil {
			srv.Close()
		}
		return err
	}
	for assets, want := range map[string]string{
		"CNY:2,POINTS:0,BTC:8,USDT:2": "PAYGRAPH_ASSETS: USDT has 6 decimals in the database, not 2",
		"CNY:2,POINTS:0,BTC:8":        "PAYGRAPH_ASSETS: USDT is held in wallets but not configured; add USDT:6",
		"CNY:2,POINTS:0,BTC:6,USDT:6": "PAYGRAPH_ASSETS: BTC has 8 decimals in the database, not 6",
	} {
		if err := start(assets); err == nil || err.Error() != want {
			t.Errorf("PAYGRAPH_ASSETS=%s: %v, want %q", assets, err, want)
		}
	}
	// A new asset is recorded on the start that first names it.
	if err := start("CNY:2,POINTS:0,BTC:8,USDT:6,EUR:2"); err != nil {
		t.Fatalf("adding EUR: %v", err)
	}
	if err := start("CNY:2,POINTS:0,BTC:8,USDT:6,EUR:3"); err == nil || err.Error() != "PAYGRAPH_ASSETS: EUR has 2 decimals in the database, not 3" {
		t.Errorf("EUR rescaled: %v", err)
	}
	// The refused starts changed nothing: the balance reads as it was.
	e := maps.Clone(env)
	e["PAYGRAPH_ASSETS"] = "CNY:2,POINTS:0,BTC:8,USDT:6,EUR:2"
	again := testutil.Start(t, e)
	var out struct {
		Wallets []struct{ Asset, Available string }
	}
	again.Client().As(tok).Do(t, `{wallets{asset available}}`, nil).Decode(t, &out)
	if len(out.Wallets) != 1 || out.Wallets[0].Available != "1.000000" {
		t.Fatalf("after restarts: %+v", out.Wallets)
	}
	again.AssertLedger(t)
}
