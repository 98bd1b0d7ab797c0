package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/paygraph/paygraph/internal/db"
)

// DebugHandler serves the measuring aids of PAYGRAPH_DEBUG_ADDR, a
// loopback-only listener of its own: net/http/pprof under /debug/pprof/
// (CPU, allocation, goroutine … profiles) and, at /debug/sql, how many
// times each SQL statement ran since the start, as a JSON object of
// "pool: statement" to count; at /debug/commits, how long the SQLite
// writer's commits took (fsync included), as counts per bucket of
// boundsMs (the last count: longer), and the latest commits that took
// 10 ms or more (slow: when each ended, in Unix ms, and how long it took).
func (s *Server) DebugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/sql", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.DB.Statements.Counts())
	})
	mux.HandleFunc("GET /debug/commits", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"boundsMs": db.CommitBoundsMs, "counts": s.DB.Statements.CommitTimes(),
			"slow": s.DB.Statements.SlowCommits(),
		})
	})
	return mux
}
