// Command paygraph is a payment server that frontends talk to over GraphQL.
// This file only wires things: configuration, the server, the listener and
// a graceful shutdown.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/paygraph/paygraph/internal/config"
	"github.com/paygraph/paygraph/internal/logx"
	"github.com/paygraph/paygraph/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	giveBack := takeTerminal()
	err := run(ctx, os.Getenv, nil)
	giveBack()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "paygraph:", err)
		os.Exit(1)
	}
}

// run starts paygraph and serves until ctx ends. ready, if not nil,
// receives the listening address once the server accepts connections.
func run(ctx context.Context, getenv func(string) string, ready chan<- string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := logx.New(os.Stderr, cfg.LogFormat, cfg.LogLevel)
	srv, err := server.New(ctx, cfg, log, server.Options{})
	if err != nil {
		return err
	}
	defer srv.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return &config.Error{Var: "PAYGRAPH_ADDR", Reason: err.Error()}
	}
	if cfg.DebugAddr != "" {
		// Profiles and statement counts, for measuring (make bench).
		dln, err := net.Listen("tcp", cfg.DebugAddr)
		if err != nil {
			ln.Close()
			return &config.Error{Var: "PAYGRAPH_DEBUG_ADDR", Reason: err.Error()}
		}
		ds := &http.Server{Handler: srv.DebugHandler(), ReadHeaderTimeout: 10 * time.Second}
		go ds.Serve(dln)
		defer ds.Close()
		log.Warn("debug listener: pprof and SQL statement counts", "addr", dln.Addr().String())
	}
	if getenv("PAYGRAPH_PUBLIC_URL") == "" {
		// Notify and return URLs (and the sandboxes' pages) use the real address.
		srv.SetPublicURL("http://" + ln.Addr().String())
	}
	// The handler, timeouts and connection caps of the configuration.
	hs := &http.Server{}
	ln = srv.ConfigureHTTP(hs, ln)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("paygraph listening", "addr", ln.Addr().String(), "graphiql", "http://"+ln.Addr().String()+"/", "console", "http://"+ln.Addr().String()+"/admin", "database", cfg.Database.Driver)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
