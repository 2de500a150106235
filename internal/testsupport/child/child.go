// Package child runs one test of the current test binary in a subprocess, for tests that
// must change process-wide state (a lower file-descriptor limit) or watch a process die.
package child

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Start runs the test named test (an exact name) of this test binary in a subprocess with
// env added to its environment, and returns the address it prints on a line "ADDR host:port"
// and its process (to read its /proc figures).
// The subprocess runs until the test ends: its stdin is closed then (a child waits for that to
// exit) and its exit status is checked.
func Start(t *testing.T, test string, env ...string) (string, *os.Process) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %s: %v", test, err)
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return addr, cmd.Process
		}
	}
	t.Fatalf("child %s printed no address: %v", test, sc.Err())
	return "", nil
}
