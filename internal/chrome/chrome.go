// Package chrome finds a Chromium binary and gives the options orbital runs it with through
// chromedp: headless, without sandbox, GPU or any background network traffic (the machines
// orbital runs on often have a closed network), with a fresh profile, in a process group of
// its own. The browser suite, the status page tests and the e2e tests share it.
package chrome

import (
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// Names are the binaries Find looks for on PATH, in order.
func Names() []string {
	return []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
}

// Find returns the browser binary to run: path when set (a name on PATH or a file), else the
// first of Names found on PATH. The error says what was looked for.
func Find(path string) (string, error) {
	if path != "" {
		p, err := exec.LookPath(path)
		if err != nil {
			return "", fmt.Errorf("no Chrome binary at %q: %w", path, err)
		}
		return p, nil
	}
	for _, name := range Names() {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no Chrome binary found on PATH (looked for %s)", strings.Join(Names(), ", "))
}

// Options returns the chromedp allocator options for the binary execPath with its profile in
// profileDir: headless, no sandbox (orbital often runs as root in a container), no GPU, no first
// run, no background networking, component updates, sync or QUIC, no /dev/shm, no extensions;
// the browser starts in its own process group, so a terminal's Ctrl-C reaches the Go program
// (which drains) and not the browser, and the kernel still kills it if its parent dies.
func Options(execPath, profileDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(profileDir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.ModifyCmdFunc(browserCmd),
	}
}

// PollJS returns a JavaScript expression for chromedp.Evaluate with chromedp.EvalAwaitPromise:
// a promise that evaluates expr every interval and resolves with its value once it is truthy,
// or rejects after limit; an exception in expr rejects it. Polling inside one awaited evaluate
// runs in the page's current document, unlike chromedp.Poll, which names the execution context
// chromedp last recorded: right after a navigation that can still be the previous document's
// ("Cannot find context with specified id" on a loaded machine).
func PollJS(expr string, interval, limit time.Duration) string {
	return fmt.Sprintf(`new Promise((resolve, reject) => {
  const deadline = Date.now() + %d;
  const check = () => {
    let v;
    try { v = (%s); } catch (e) { reject(e); return; }
    if (v) { resolve(v); return; }
    if (Date.now() > deadline) { reject(new Error("still false after %s")); return; }
    setTimeout(check, %d);
  };
  check();
})`, limit.Milliseconds(), expr, limit, interval.Milliseconds())
}
