package main

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

// takeTerminal makes paygraph, started by make (`make run`) in the
// foreground of a terminal, the terminal's foreground process group, so
// that Ctrl-C reaches paygraph alone: it shuts down gracefully, exits 0,
// and make, which never saw the signal, exits 0 too. (Interrupted itself,
// GNU make would end with the shell's status for Ctrl-C, 130, whatever its
// recipe did.) Anywhere else — no terminal, not under make, already leading
// its process group, in the background — it does nothing. The returned
// function gives the terminal back to the process group paygraph came from;
// call it before exiting. Ctrl-Z is ignored while paygraph holds the
// terminal: stopped, it would leave make waiting and the shell without a
// job to resume.
func takeTerminal() (giveBack func()) {
	nothing := func() {}
	if os.Getenv("MAKELEVEL") == "" {
		return nothing
	}
	const fd = 0 // standard input
	fg, err := tcgetpgrp(fd)
	if err != nil {
		return nothing // not a terminal
	}
	from := syscall.Getpgrp()
	if from == syscall.Getpid() || fg != from {
		return nothing
	}
	// Changing the foreground from a background group raises SIGTTOU.
	signal.Ignore(syscall.SIGTTOU, syscall.SIGTSTP)
	if err := syscall.Setpgid(0, 0); err != nil {
		signal.Reset(syscall.SIGTTOU, syscall.SIGTSTP)
		return nothing
	}
	if err := tcsetpgrp(fd, syscall.Getpid()); err != nil {
		_ = syscall.Setpgid(0, from)
		signal.Reset(syscall.SIGTTOU, syscall.SIGTSTP)
		return nothing
	}
	return func() { _ = tcsetpgrp(fd, from) }
}

func tcgetpgrp(fd int) (int, error) {
	var pgrp int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCGPGRP, uintptr(unsafe.Pointer(&pgrp))); e != 0 {
		return 0, e
	}
	return int(pgrp), nil
}

func tcsetpgrp(fd, pgrp int) error {
	p := int32(pgrp)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCSPGRP, uintptr(unsafe.Pointer(&p))); e != 0 {
		return e
	}
	return nil
}
