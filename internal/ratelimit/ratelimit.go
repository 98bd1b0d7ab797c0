// Package ratelimit counts what each client address may do per minute on
// this instance: a token bucket per key, with bounded memory.
package ratelimit

import (
	"sync"
	"time"
)

// maxKeys bounds the buckets kept; past it, full buckets (keys idle long
// enough to have refilled) are dropped first, then the oldest.
const maxKeys = 100_000

// Limiter allows PerMinute events per key, in bursts of up to PerMinute.
type Limiter struct {
	PerMinute int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a limiter of perMinute events per key.
func New(perMinute int) *Limiter { return &Limiter{PerMinute: perMinute} }

// Allow takes one event for key at now. When the key has none left it
// returns false and how long until the next one.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.PerMinute <= 0 {
		return true, 0
	}
	rate := float64(l.PerMinute) / float64(time.Minute) // per nanosecond
	burst := float64(l.PerMinute)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxKeys {
			l.evict(now, rate, burst)
		}
		b = &bucket{tokens: burst, at: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+float64(d)*rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate)
	return false, wait.Round(time.Second) + time.Second
}

// evict drops the buckets that have refilled (they would start full
// anyway); if none has, the one touched longest ago.
func (l *Limiter) evict(now time.Time, rate, burst float64) {
	var oldestKey string
	var oldest time.Time
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))*rate >= burst {
			delete(l.buckets, k)
			continue
		}
		if oldestKey == "" || b.at.Before(oldest) {
			oldestKey, oldest = k, b.at
		}
	}
	if len(l.buckets) >= maxKeys {
		delete(l.buckets, oldestKey)
	}
}
