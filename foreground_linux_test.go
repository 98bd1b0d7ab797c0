package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// `make run` in a terminal, stopped with Ctrl-C: paygraph shuts down, and
// make and the shell that started it see status 0. The recipe is the
// Makefile's own; the terminal is a pseudo-terminal whose Ctrl-C goes to
// its foreground process group, as a real one does.
func TestMakeRunStoppedWithCtrlCExitsZero(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make here")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "paygraph")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	recipe := makeRunRecipe(t)
	mk := filepath.Join(dir, "Makefile")
	if err := os.WriteFile(mk, []byte("run:\n\t"+strings.ReplaceAll(recipe, "./paygraph", bin)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	master, slave := openPTY(t)
	// A shell without job control, as a script's: make and paygraph share
	// its process group, which holds the terminal.
	cmd := exec.Command("sh", "-c", `make --no-print-directory -f "$1" run; echo "make exited $?"`, "sh", mk)
	cmd.Env = append(os.Environ(),
		"PAYGRAPH_ADDR=127.0.0.1:0",
		"PAYGRAPH_DATABASE_URL=sqlite://"+filepath.Join(dir, "paygraph.db"),
		"PAYGRAPH_LOG_FORMAT=text", "PAYGRAPH_LOG_LEVEL=info")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(master)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	wait := func(want string) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("terminal closed before %q:\n%s", want, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q in time:\n%s", want, strings.Join(seen, "\n"))
			}
		}
	}
	wait("paygraph listening")
	if _, err := master.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	wait("make exited ")
	last := seen[len(seen)-1]
	if !strings.HasSuffix(last, "make exited 0") {
		t.Fatalf("%q; want make exited 0:\n%s", last, strings.Join(seen, "\n"))
	}
	for _, l := range seen {
		if strings.Contains(l, "make: ***") {
			t.Fatalf("make reported an error: %q", l)
		}
	}
}

// makeRunRecipe is the recipe line of the Makefile's run target.
func makeRunRecipe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for l := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(l, "run:") {
			in = true
			continue
		}
		if in && strings.HasPrefix(l, "\t") {
			return strings.TrimPrefix(l, "\t")
		}
	}
	t.Fatal("no run target in the Makefile")
	return ""
}

func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("ptsname: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}
