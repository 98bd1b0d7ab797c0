// Command demo (make demo) drives every paygraph flow end to end against a
// running server (make run) through its embedded sandboxes, and prints one
// line per step and the final ledger check, so a new user sees everything
// work in a few seconds.
//
// It speaks only GraphQL over POST /query and the sandboxes' own HTTP
// pages, with the standard library, as any client would:
//
//	PAYGRAPH_ADMIN=admin:change-me-now make run   # one terminal
//	make demo                                     # another
//
// PAYGRAPH_DEMO_URL is the server (default http://127.0.0.1:8080).
// PAYGRAPH_DEMO_ADMIN is the bootstrap admin's username:password; unset,
// PAYGRAPH_ADMIN is used when the shell has it, else admin:change-me-now,
// the admin the README's walk-through starts the server with. Every run
// registers new users and a new app (names carry a timestamp), so the demo
// may run again and again against the same server.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// DefaultURL is where make run listens.
const DefaultURL = "http://127.0.0.1:8080"

// DefaultAdmin is the admin the README starts make run with.
const DefaultAdmin = "admin:change-me-now"

// Config is what the demo needs to know about the server.
type Config struct {
	// URL is the server's base URL, without a trailing slash.
	URL string
	// AdminUser and AdminPassword sign in as the bootstrap admin
	// (PAYGRAPH_ADMIN of the server).
	AdminUser, AdminPassword string
}

// configFromEnv reads PAYGRAPH_DEMO_URL and PAYGRAPH_DEMO_ADMIN (or
// PAYGRAPH_ADMIN).
func configFromEnv(getenv func(string) string) (Config, error) {
	c := Config{URL: strings.TrimRight(getenv("PAYGRAPH_DEMO_URL"), "/")}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return c, fmt.Errorf("PAYGRAPH_DEMO_URL: %q is not an http(s) URL", c.URL)
	}
	admin, from := getenv("PAYGRAPH_DEMO_ADMIN"), "PAYGRAPH_DEMO_ADMIN"
	if admin == "" {
		admin, from = getenv("PAYGRAPH_ADMIN"), "PAYGRAPH_ADMIN"
	}
	if admin == "" {
		admin = DefaultAdmin
	}
	user, pass, ok := strings.Cut(admin, ":")
	if !ok || user == "" || pass == "" {
		return c, fmt.Errorf("%s: must be username:password", from)
	}
	c.AdminUser, c.AdminPassword = user, pass
	return c, nil
}

func main() {
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "✗", err)
		os.Exit(1)
	}
}

// Run drives every flow against cfg.URL, writing one line per step to out.
// The error names the failing step and carries the server's answer.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	d := newDemo(ctx, cfg, out)
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(failure)
			if !ok {
				panic(r)
			}
			err = f
		}
	}()
	d.all()
	return nil
}
