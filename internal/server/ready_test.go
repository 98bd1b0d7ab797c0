package server_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/testutil"
	"github.com/paygraph/paygraph/internal/txn"
)

func TestReadyzNoticesAHungWriter(t *testing.T) {
	srv := testutil.Start(t, connEnv(t, "PAYGRAPH_READY_TIMEOUT", "500ms"))
	get := func() (int, time.Duration) {
		start := time.Now()
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("/readyz = %d at start", code)
	}

	// A unit of work that holds the writer (SQLite) or the readiness row
	// (PostgreSQL) until released.
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- srv.Tx.Run(context.Background(), func(tx *txn.Tx) error {
			if err := db.WriteReadiness(context.Background(), tx, time.Now()); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	time.Sleep(1100 * time.Millisecond) // the last good answer is stale now

	for i := range 5 { // every call answers at once; none piles up behind the writer
		code, took := get()
		if code != http.StatusServiceUnavailable {
			t.Fatalf("call %d: /readyz = %d with the writer hung", i, code)
		}
		if took > 2*time.Second {
			t.Fatalf("call %d: /readyz took %v; want the 500ms bound", i, took)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(subWait)
	for {
		code, _ := get()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d after the writer was released", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
