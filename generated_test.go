package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates ent and gqlgen code in a copy of the
// repository and fails if any generated file differs from the committed one.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("codegen takes a while; skipped with -short")
	}
	if os.Getenv("PAYGRAPH_TEST_POSTGRES_URL") != "" {
		t.Skip("engine-independent; checked in the SQLite run")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	tmp := t.TempDir()
	copyTree(t, ".", tmp)
	cmd := exec.Command("go", "generate", "./...")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go generate: %v\n%s", err, out)
	}
	var stale []string
	for _, root := range []string{"ent", "graph", "schema"} {
		walk(t, filepath.Join(tmp, root), func(path string, b []byte) {
			rel, _ := filepath.Rel(tmp, path)
			old, err := os.ReadFile(rel)
			if err != nil || !bytes.Equal(old, b) {
				stale = append(stale, rel)
			}
		})
		walk(t, root, func(path string, _ []byte) {
			if _, err := os.Stat(filepath.Join(tmp, path)); err != nil {
				stale = append(stale, path+" (no longer generated)")
			}
		})
	}
	if len(stale) > 0 {
		t.Fatalf("generated code is stale; run `make generate` and commit:\n  %s", strings.Join(stale, "\n  "))
	}
}

func walk(t *testing.T, root string, f func(string, []byte)) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f(path, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the Go sources and schemas the generators read.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, path), 0o755)
		}
		switch filepath.Ext(path) {
		case ".go", ".graphql", ".yml", ".mod", ".sum":
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, path), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
