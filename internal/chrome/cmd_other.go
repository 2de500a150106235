//go:build !linux

package chrome

import "os/exec"

// browserCmd leaves the browser command as it is outside Linux.
func browserCmd(*exec.Cmd) {}
