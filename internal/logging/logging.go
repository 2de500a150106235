// Package logging builds the orbital binaries' *slog.Logger: human-readable text on a
// terminal, one JSON object per line otherwise (for log collectors), at a chosen level.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Formats accepted by New.
const (
	FormatAuto = "auto" // text on a terminal, JSON otherwise
	FormatText = "text"
	FormatJSON = "json"
)

// IsTerminal reports whether w is a character device such as an interactive terminal
// (false for files, pipes and anything that is not an *os.File or a writer over one with a
// File() *os.File method).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if fw, wraps := w.(interface{ File() *os.File }); !ok && wraps {
		f, ok = fw.File(), fw.File() != nil
	}
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// ParseLevel parses debug, info, warn (or warning) and error, case-insensitively.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", s)
}

// CheckFormat returns an error unless format is auto, text or json.
func CheckFormat(format string) error {
	switch format {
	case FormatAuto, FormatText, FormatJSON, "":
		return nil
	}
	return fmt.Errorf("invalid log format %q (want auto, text or json)", format)
}

// New returns a logger writing to w in format (auto, text or json; "" is auto) at level
// (see ParseLevel). With auto, terminal decides between text (true) and JSON (false); pass
// IsTerminal(w) for w itself.
func New(w io.Writer, format, level string, terminal bool) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	if err := CheckFormat(format); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == FormatText || (format != FormatJSON && terminal) {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// AtLeast returns a handler that drops records below min unless h is at debug level: for
// plumbing (an embedded broker or pipeline) whose info lines are noise next to the
// service's own.
func AtLeast(h slog.Handler, min slog.Level) slog.Handler { return atLeast{h, min} }

type atLeast struct {
	slog.Handler
	min slog.Level
}

func (a atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	if a.Handler.Enabled(ctx, slog.LevelDebug) {
		return true
	}
	return l >= a.min && a.Handler.Enabled(ctx, l)
}

func (a atLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return atLeast{a.Handler.WithAttrs(attrs), a.min}
}

func (a atLeast) WithGroup(name string) slog.Handler {
	return atLeast{a.Handler.WithGroup(name), a.min}
}
