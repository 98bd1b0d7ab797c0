package live

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/events"
)

// waitFor fails t unless ok comes true within a few seconds.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Each pushed subscription gets its events in order, one at a time, then
// its finish; many of them share the workers; no worker outlives the work.
func TestPushWorkersKeepOrderAndEnd(t *testing.T) {
	var w pushWorkers
	const subs, each = 50, 40
	type sub struct {
		mu       sync.Mutex
		got      []int64
		running  atomic.Bool
		overlap  atomic.Bool
		finished atomic.Int32
		late     atomic.Bool // an event after finish
	}
	all := make([]*sub, subs)
	queues := make([]*pushQueue, subs)
	for i := range all {
		s := &sub{}
		all[i] = s
		queues[i] = &pushQueue{ctx: t.Context(), forward: func(e events.Event) {
			if !s.running.CompareAndSwap(false, true) {
				s.overlap.Store(true)
			}
			if s.finished.Load() != 0 {
				s.late.Store(true)
			}
			s.mu.Lock()
			s.got = append(s.got, e.ID)
			s.mu.Unlock()
			time.Sleep(20 * time.Microsecond) // room for an overlap to show
			s.running.Store(false)
		}, finish: func() { s.finished.Add(1) }}
	}
	var publishers sync.WaitGroup
	for _, q := range queues {
		publishers.Add(1)
		go func() {
			defer publishers.Done()
			for j := range each {
				w.add(q, events.Event{ID: int64(j)})
			}
			w.end(q)
			w.end(q)                       // once only
			w.add(q, events.Event{ID: -1}) // after the end: dropped
		}()
	}
	publishers.Wait()
	for i, s := range all {
		waitFor(t, "the finishes", func() bool { return s.finished.Load() != 0 })
		if n := s.finished.Load(); n != 1 {
			t.Fatalf("subscription %d finished %d times", i, n)
		}
		if s.overlap.Load() || s.late.Load() {
			t.Fatalf("subscription %d: deliveries overlapped or followed the finish", i)
		}
		s.mu.Lock()
		for j, id := range s.got {
			if id != int64(j) {
				t.Fatalf("subscription %d got %v; want 0..%d in order", i, s.got, each-1)
			}
		}
		if len(s.got) != each {
			t.Fatalf("subscription %d got %d events", i, len(s.got))
		}
		s.mu.Unlock()
	}
	waitFor(t, "the workers to end", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.workers == 0 && w.ready == nil
	})
}

// A subscriber more than events.Buffer behind is cut off: it gets what
// it had, then its finish, and no more. One whose context has ended gets
// no more events, only its finish.
func TestPushWorkersCutOffSlowAndEnded(t *testing.T) {
	var w pushWorkers
	block := make(chan struct{})
	var got atomic.Int64
	var finished atomic.Int32
	slow := &pushQueue{ctx: t.Context(), forward: func(events.Event) {
		<-block
		got.Add(1)
	}, finish: func() { finished.Add(1) }}
	for i := range events.Buffer + 10 {
		w.add(slow, events.Event{ID: int64(i)})
	}
	close(block)
	waitFor(t, "the slow one's finish", func() bool { return finished.Load() == 1 })
	if n := got.Load(); n > events.Buffer+1 || n < events.Buffer {
		t.Fatalf("the slow one got %d events; want what it had room for (%d)", n, events.Buffer)
	}

	ctx, cancel := context.WithCancel(t.Context())
	hold := make(chan struct{})
	var after atomic.Int64
	var endedFinish atomic.Int32
	ended := &pushQueue{ctx: ctx, forward: func(e events.Event) {
		if e.ID == 0 {
			<-hold
			return
		}
		after.Add(1)
	}, finish: func() { endedFinish.Add(1) }}
	for i := range 5 {
		w.add(ended, events.Event{ID: int64(i)})
	}
	cancel()
	w.end(ended)
	close(hold)
	waitFor(t, "the ended one's finish", func() bool { return endedFinish.Load() == 1 })
	if n := after.Load(); n != 0 {
		t.Fatalf("%d events delivered after the context ended", n)
	}
	waitFor(t, "the workers to end", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.workers == 0
	})
}
