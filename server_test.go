package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygraph/paygraph/internal/testutil"
)

func TestBadConfigurationStopsTheStart(t *testing.T) {
	for name, env := range map[string]testutil.Env{
		"scheme":         {"PAYGRAPH_DATABASE_URL": "mysql://root@localhost/x"},
		"missing folder": {"PAYGRAPH_DATABASE_URL": "sqlite:///no/such/folder/paygraph.db", "PAYGRAPH_JWT_SECRET": testutil.Secret},
		"unreachable":    {"PAYGRAPH_DATABASE_URL": "postgres://nobody:secret-pw@127.0.0.1:1/x?connect_timeout=2", "PAYGRAPH_JWT_SECRET": testutil.Secret},
		"ttl":            {"PAYGRAPH_ORDER_TTL": "soon"},
		"admin":          {"PAYGRAPH_ADMIN": "nopassword"},
		"addr":           {"PAYGRAPH_ADDR": "localhost"},
	} {
		t.Run(name, func(t *testing.T) {
			err := run(t.Context(), env.Getenv, nil)
			if err == nil {
				t.Fatal("started")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "PAYGRAPH_") {
				t.Fatalf("want one line naming the variable, got %q", msg)
			}
			if strings.Contains(msg, "secret-pw") {
				t.Fatalf("password leaked: %q", msg)
			}
		})
	}
}

func TestRunServesAndShutsDownGracefully(t *testing.T) {
	dir := t.TempDir()
	env := testutil.Env{
		"PAYGRAPH_ADDR":         "127.0.0.1:0",
		"PAYGRAPH_DATABASE_URL": "sqlite://" + filepath.Join(dir, "paygraph.db"),
		"PAYGRAPH_LOG_LEVEL":    "error",
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, env.Getenv, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready")
	}
	// The generated key was kept beside the database, private to its owner.
	if st, err := os.Stat(filepath.Join(dir, "paygraph.db.jwt-secret")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(strings.ToLower(string(body)), "graphiql") {
		t.Fatal("no GraphiQL at /")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}
