// Package scheduler runs paygraph's timed work: expiring unpaid orders,
// releasing escrow after the auto-confirm delay, purging old idempotency
// keys. What is due is read from the database each round and every change
// is a conditional transition, so the work survives restarts and is done
// once even when several instances run the scheduler at the same time.
package scheduler

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Job is one kind of timed work. It does what is due now and returns.
type Job struct {
	Name string
	Run  func(ctx context.Context) error
}

// Scheduler runs its jobs every Interval.
type Scheduler struct {
	Interval time.Duration
	Log      *slog.Logger

	mu   sync.Mutex
	jobs []Job
}

// Add registers a job; flows add theirs (escrow auto-confirm, …) at start.
func (s *Scheduler) Add(j Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, j)
}

// RunOnce runs every job once, now. A failing job is logged and the
// others still run; the first error is returned.
func (s *Scheduler) RunOnce(ctx context.Context) error {
	s.mu.Lock()
	jobs := append([]Job(nil), s.jobs...)
	s.mu.Unlock()
	var first error
	for _, j := range jobs {
		if err := j.Run(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.Log.ErrorContext(ctx, "scheduled job failed", "job", j.Name, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// Start runs the jobs every Interval until the returned stop is called;
// stop waits for a round in progress to finish.
func (s *Scheduler) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = s.RunOnce(ctx)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
