package chrome_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbital-e2e/orbital/internal/chrome"
)

func TestFind(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "my-chrome")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := chrome.Find(bin); err != nil || got != bin {
		t.Errorf("Find(%q) = %q, %v; want the file itself", bin, got, err)
	}
	if _, err := chrome.Find(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Find(missing) error = %v, want one naming the path", err)
	}

	// With an empty PATH nothing is found, and the error lists what was looked for.
	t.Setenv("PATH", dir)
	if _, err := chrome.Find(""); err == nil || !strings.Contains(err.Error(), "chromium") {
		t.Errorf("Find(\"\") with no browser on PATH: error = %v, want one listing the names", err)
	}
	// A browser on PATH under one of the names is found.
	named := filepath.Join(dir, chrome.Names()[1])
	if err := os.WriteFile(named, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := chrome.Find(""); err != nil || got != named {
		t.Errorf("Find(\"\") = %q, %v; want %q", got, err, named)
	}
}

func TestOptionsAreHeadlessWithTheProfile(t *testing.T) {
	if n := len(chrome.Options("/usr/bin/chromium", t.TempDir())); n < 10 {
		t.Errorf("Options gave %d options, want the full headless set", n)
	}
}
