package paypass

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestUserLocks(t *testing.T) {
	var l userLocks
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		inside  = map[int64]int{}
		maxSeen int
	)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(user int64) {
			defer wg.Done()
			unlock, err := l.lock(context.Background(), user)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside[user]++
			maxSeen = max(maxSeen, inside[user])
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside[user]--
			mu.Unlock()
			unlock()
		}(int64(i % 4))
	}
	wg.Wait()
	if maxSeen != 1 {
		t.Fatalf("%d checks of one user at once", maxSeen)
	}
	if len(l.m) != 0 {
		t.Fatalf("%d locks left behind", len(l.m))
	}

	// A waiter gives up when its context ends, and leaves nothing behind.
	unlock, _ := l.lock(context.Background(), 7)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, 7); err == nil {
		t.Fatal("second lock of a held user")
	}
	unlock()
	if len(l.m) != 0 {
		t.Fatalf("%d locks left behind", len(l.m))
	}
}
