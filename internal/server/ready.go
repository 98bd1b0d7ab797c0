package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/paygraph/paygraph/internal/db"
	"github.com/paygraph/paygraph/internal/txn"
)

// readiness answers /readyz: the database is ready when it answers a read
// and a write commits within the bound (PAYGRAPH_READY_TIMEOUT). At most
// one probe runs at a time and its outcome is kept for a second, so that
// /readyz, which anyone may call, never becomes a load on the writer; a
// probe stuck behind a hung writer is not started again but answered as
// not ready until it returns.
type readiness struct {
	timeout time.Duration // how long a probe may take
	fresh   time.Duration // how long an outcome is reused
	probe   func(context.Context) error

	mu      sync.Mutex
	at      time.Time // when the last probe finished
	err     error     // its outcome
	running chan struct{}
	started time.Time
}

// check returns nil when the database is ready, or why it is not.
func (r *readiness) check(ctx context.Context) error {
	r.mu.Lock()
	if !r.at.IsZero() && time.Since(r.at) < r.fresh {
		err := r.err
		r.mu.Unlock()
		return err
	}
	if r.running == nil {
		done := make(chan struct{})
		r.running, r.started = done, time.Now()
		go func() {
			pctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			err := r.probe(pctx)
			cancel()
			r.mu.Lock()
			r.at, r.err, r.running = time.Now(), err, nil
			r.mu.Unlock()
			close(done)
		}()
	}
	done, deadline := r.running, r.started.Add(r.timeout)
	r.mu.Unlock()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-done:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.err
	case <-timer.C:
		return fmt.Errorf("a write has not committed for %v", time.Since(r.started).Round(time.Millisecond))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probeWrite reads, then commits a write through the transaction runner:
// with SQLite that is the single writer every money move queues for, so a
// hung or failing writer (a full disk) makes the server unready.
func (s *Server) probeWrite(ctx context.Context) error {
	if err := s.DB.Ping(ctx); err != nil {
		return fmt.Errorf("reading: %w", err)
	}
	err := s.Tx.Run(ctx, func(tx *txn.Tx) error { return db.WriteReadiness(ctx, tx, time.Now()) })
	if err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.ready.check(r.Context()); err != nil {
		if !errors.Is(err, context.Canceled) {
			s.Log.WarnContext(r.Context(), "readiness check failed", "err", err)
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("database not ready: it does not take writes\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
