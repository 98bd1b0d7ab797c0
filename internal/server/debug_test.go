package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/paygraph/paygraph/internal/testutil"
)

// PAYGRAPH_DEBUG_ADDR's handler serves pprof and the statement counts,
// which count what the server ran.
func TestDebugHandlerServesProfilesAndStatementCounts(t *testing.T) {
	env := testutil.Base(t)
	env["PAYGRAPH_DEBUG_ADDR"] = "127.0.0.1:0"
	srv := testutil.Start(t, env)
	srv.Client().AdminToken(t)
	dbg := httptest.NewServer(srv.DebugHandler())
	defer dbg.Close()

	resp, err := http.Get(dbg.URL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pprof: %d", resp.StatusCode)
	}
	resp, err = http.Get(dbg.URL + "/debug/sql")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var counts map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil {
		t.Fatal(err)
	}
	users := false
	for k, n := range counts {
		users = users || strings.Contains(k, "FROM") && strings.Contains(k, "users") && n > 0
	}
	if !users {
		t.Fatalf("no read of users counted: %v", counts)
	}

	// The writer's commits by time: SQLite's, one per commit counted.
	resp, err = http.Get(dbg.URL + "/debug/commits")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var commits struct {
		BoundsMs []float64
		Counts   []int64
	}
	if err := json.NewDecoder(resp.Body).Decode(&commits); err != nil {
		t.Fatal(err)
	}
	var timed int64
	for _, n := range commits.Counts {
		timed += n
	}
	if len(commits.Counts) != len(commits.BoundsMs)+1 {
		t.Fatalf("%d counts for %d bounds", len(commits.Counts), len(commits.BoundsMs))
	}
	if srv.DB.Dialect == dialect.SQLite && (timed == 0 || timed < counts["write: COMMIT"]) { // more may have committed since
		t.Fatalf("%d commits timed, %d counted", timed, counts["write: COMMIT"])
	}
}
