package live

import (
	"context"
	"sync"
	"time"

	"github.com/paygraph/paygraph/ent"
)

// sharedKeep is how long a loaded step is kept for subscribers still to
// receive it; a step reaches all of its subscribers within moments.
const sharedKeep = 10 * time.Second

// sharedLoadTimeout bounds the one load every subscriber of a step waits for.
const sharedLoadTimeout = 5 * time.Second

// sharedSteps loads each history step once for all the subscribers it
// reaches: with thousands of sockets, reloading it (and its order) per
// subscriber was most of the fan-out's cost. The entities are read, never
// changed, by the subscribers.
type sharedSteps struct {
	mu sync.Mutex
	m  map[int64]*sharedStep
}

type sharedStep struct {
	done chan struct{}
	ev   *ent.OrderEvent
	err  error
	at   time.Time
}

// load returns step id, loading it with f if no subscriber did so lately.
// The load runs on its own context: one subscriber leaving must not fail it
// for the others.
func (c *sharedSteps) load(id int64, f func(context.Context) (*ent.OrderEvent, error)) (*ent.OrderEvent, error) {
	now := time.Now()
	c.mu.Lock()
	if c.m == nil {
		c.m = map[int64]*sharedStep{}
	}
	if st, ok := c.m[id]; ok && now.Sub(st.at) < sharedKeep {
		c.mu.Unlock()
		<-st.done
		return st.ev, st.err
	}
	for k, st := range c.m {
		if now.Sub(st.at) >= sharedKeep {
			delete(c.m, k)
		}
	}
	st := &sharedStep{done: make(chan struct{}), at: now}
	c.m[id] = st
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), sharedLoadTimeout)
	st.ev, st.err = f(ctx)
	cancel()
	if st.err != nil {
		c.mu.Lock()
		if c.m[id] == st {
			delete(c.m, id) // a failed load is not remembered
		}
		c.mu.Unlock()
	}
	close(st.done)
	return st.ev, st.err
}
