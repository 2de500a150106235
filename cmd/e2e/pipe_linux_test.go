package main

import (
	"os"
	"syscall"
)

// shrinkPipe makes the pipe of f hold at most one page, so a reader that never reads blocks
// its writer after 4 KiB instead of 64 KiB (F_SETPIPE_SZ).
func shrinkPipe(f *os.File) {
	const fSetPipeSz = 1031
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSz, 4096)
}
