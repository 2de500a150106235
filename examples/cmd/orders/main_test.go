package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad flags exit 2 with a message saying what is wrong.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--callback", "http://127.0.0.1:1/webhook", "--faults", "lose"}, `--faults "lose"`},
		{[]string{"--addr", "127.0.0.1:0"}, "set Config.CallbackURL or Config.Topic"},
		{[]string{"--topic", "t", "--addr", "127.0.0.1:0"}, "needs Config.Brokers"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	} {
		var out bytes.Buffer
		if code := run(t.Context(), tc.args, &out); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tc.args, code)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("run(%q) said %q, want it to mention %q", tc.args, out.String(), tc.want)
		}
	}
}
