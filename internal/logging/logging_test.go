package logging_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/internal/logging"
)

func TestNew(t *testing.T) {
	tests := []struct {
		format, level string
		terminal      bool
		wantJSON      bool
		wantDebug     bool
		wantErr       bool
	}{
		{format: "auto", level: "info", terminal: true},
		{format: "auto", level: "info", terminal: false, wantJSON: true},
		{format: "", level: "", terminal: false, wantJSON: true},
		{format: "text", level: "debug", terminal: false, wantDebug: true},
		{format: "json", level: "WARN", terminal: true, wantJSON: true},
		{format: "xml", level: "info", wantErr: true},
		{format: "auto", level: "loud", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := logging.New(&buf, tt.format, tt.level, tt.terminal)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("dbg")
			l.Warn("hello", "case", "track")
			out := buf.String()
			if got := strings.HasPrefix(out, "{"); got != tt.wantJSON {
				t.Errorf("JSON = %v, want %v: %s", got, tt.wantJSON, out)
			}
			if got := strings.Contains(out, "dbg"); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v", got, tt.wantDebug)
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	if logging.IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if logging.IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}
