package ratelimit

import (
	"testing"
	"time"
)

func TestBucketPerKey(t *testing.T) {
	l := New(3)
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("event %d refused", i)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait < 20*time.Second || wait > 22*time.Second {
		t.Fatalf("fourth event: %v, wait %v", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another key is limited too")
	}
	if ok, _ := l.Allow("a", now.Add(20*time.Second)); !ok {
		t.Fatal("one event did not come back after a third of a minute")
	}
	if ok, _ := l.Allow("a", now.Add(20*time.Second)); ok {
		t.Fatal("more than one came back")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	l := New(1)
	now := time.Unix(1_700_000_000, 0)
	for i := 0; i < maxKeys+10; i++ {
		l.Allow(string(rune(i)), now)
	}
	if n := len(l.buckets); n > maxKeys {
		t.Fatalf("%d buckets kept", n)
	}
}
