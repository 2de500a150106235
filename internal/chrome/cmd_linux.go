//go:build linux

package chrome

import (
	"os/exec"
	"syscall"
)

// browserCmd puts Chromium in its own process group, so a Ctrl-C on the terminal that runs
// e2e reaches e2e alone (which drains its runs) and not the browser of an in-flight run. It keeps
// chromedp's default safety net: the kernel kills the browser when its parent goes away.
func browserCmd(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
