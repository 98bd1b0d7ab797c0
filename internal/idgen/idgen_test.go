package idgen

import (
	"testing"
	"time"
)

func TestIncreasingEvenWhenTheClockStepsBack(t *testing.T) {
	now := time.Now()
	g := New(3)
	g.now = func() time.Time { return now }
	prev := g.Next()
	for i := 0; i < 10000; i++ { // more than one millisecond's sequence
		if i == 5000 {
			now = now.Add(-time.Second)
		}
		id := g.Next()
		if id <= prev {
			t.Fatalf("id %d after %d", id, prev)
		}
		prev = id
	}
	if d := Time(prev).Sub(now.Add(time.Second)); d < 0 || d > 5*time.Millisecond {
		t.Fatalf("time of id off by %v", d)
	}
}
