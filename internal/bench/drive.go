package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	flows   int
	errors  int
	elapsed time.Duration
	lat     []time.Duration
	// starts are the flows' (scheduled) starts, lat's in the same order
	// until pct sorts lat.
	starts []time.Time
	// late is, when paced, how far behind its schedule the latest flow
	// started: the server could not keep the pace.
	late time.Duration
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.flows) / r.elapsed.Seconds()
}

// pct is the p-quantile (0..1) of the latencies.
func (r result) pct(p float64) time.Duration { return quantile(r.lat, p) }

func quantile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	if !sort.SliceIsSorted(lat, func(i, j int) bool { return lat[i] < lat[j] }) {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	}
	return lat[int(float64(len(lat)-1)*p)]
}

func report(name string, r result) {
	fmt.Printf("%-28s %8.0f flows/s  p50 %-8s p99 %-8s errors %d (%d flows in %s)\n", name, r.rate(),
		r.pct(0.50).Round(10*time.Microsecond), r.pct(0.99).Round(10*time.Microsecond), r.errors, r.flows, r.elapsed.Round(time.Millisecond))
}

// perFlow is d divided among n flows, in whole microseconds.
func perFlow(d time.Duration, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(n))
}

// drive runs clients workers for d, worker w against targets[w %
// len(targets)] as payer w; with rate > 0 the flows start on a fixed
// schedule of rate per second, and latency counts from the scheduled start
// (so queueing shows).
func drive(ctx context.Context, targets []*gql, s *setupResult, clients int, d time.Duration, rate float64) result {
	var (
		mu   sync.Mutex
		res  result
		wg   sync.WaitGroup
		next atomic.Int64
	)
	start := time.Now()
	deadline := start.Add(d)
	interval := time.Duration(0)
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			g, user := targets[w%len(targets)], s.users[w]
			var (
				lat    []time.Duration
				starts []time.Time
				late   time.Duration
			)
			flows, errs := 0, 0
			for ctx.Err() == nil {
				t0 := time.Now()
				if interval > 0 {
					t0 = start.Add(time.Duration(next.Add(1)-1) * interval)
					if wait := time.Until(t0); wait > 0 {
						time.Sleep(wait)
					} else {
						late = max(late, -wait)
					}
				}
				if t0.After(deadline) {
					break
				}
				if err := g.flow(s, user); err != nil {
					errs++
					if errs <= 3 {
						fmt.Fprintln(os.Stderr, "flow error:", err)
					}
				} else {
					flows++
					lat = append(lat, time.Since(t0))
					starts = append(starts, t0)
				}
			}
			mu.Lock()
			res.flows += flows
			res.errors += errs
			res.lat = append(res.lat, lat...)
			res.starts = append(res.starts, starts...)
			res.late = max(res.late, late)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
