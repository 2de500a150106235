//go:build !linux

package tests

import "os/exec"

// browserCmd leaves the browser command as it is outside Linux.
func browserCmd(*exec.Cmd) {}
