package db

import (
	"testing"
	"time"
)

// Commit times land in their bucket; the slow ones are listed too, the
// latest 256 of them.
func TestCommitTimesAndSlowCommits(t *testing.T) {
	s := newStatements()
	s.commitTook(700 * time.Microsecond)
	s.commitTook(15 * time.Millisecond)
	s.commitTook(time.Second)
	got := s.CommitTimes()
	want := make([]int64, len(CommitBoundsMs)+1)
	want[1], want[5], want[len(want)-1] = 1, 1, 1 // ≤ 1 ms, ≤ 20 ms, > 250 ms
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("buckets %v, want %v", got, want)
		}
	}
	slow := s.SlowCommits()
	if len(slow) != 2 || slow[0].Ms != 15 || slow[1].Ms != 1000 {
		t.Fatalf("slow commits %+v", slow)
	}
	for range 300 {
		s.commitTook(12 * time.Millisecond)
	}
	if slow := s.SlowCommits(); len(slow) != maxSlow || slow[0].Ms != 12 {
		t.Fatalf("%d slow commits kept, the first %+v", len(slow), slow[0])
	}
}
