//go:build !linux

package main

// takeTerminal does nothing here: see foreground_linux.go.
func takeTerminal() (giveBack func()) { return func() {} }
