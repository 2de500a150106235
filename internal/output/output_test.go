package output_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/output"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\n\tindented ü €\n": "plain text\n\tindented ü €\n",
		"screen \x1b[2J clear":         `screen \x1b[2J clear`,
		"title \x1b]0;pwned\x07":       `title \x1b]0;pwned\x07`,
		"ok\r--- PASS: fake (0.00s)":   `ok\r--- PASS: fake (0.00s)`,
		"c1 \u009b31m":                 `c1 \u009b31m`,
		"nul\x00 del\x7f bad\xff":      `nul\x00 del\x7f bad\xff`,
	} {
		var b bytes.Buffer
		n, err := output.Escape(&b).Write([]byte(in))
		if err != nil || n != len(in) {
			t.Errorf("Write(%q) = %d, %v", in, n, err)
		}
		if b.String() != want {
			t.Errorf("Escape(%q) = %q, want %q", in, b.String(), want)
		}
	}
}

// A reader that never reads must not block writers; what does not fit is dropped, counted and
// reported once.
func TestWriterNeverBlocks(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var mu sync.Mutex
	var reports []int64
	bw := output.NewWriter(w, output.Config{Name: "stdout", MaxBuffered: 64 << 10, OnDrop: func(name string, n int64) {
		mu.Lock()
		reports = append(reports, n)
		mu.Unlock()
	}})
	line := []byte(strings.Repeat("x", 1023) + "\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10_000 { // 10 MiB into a pipe nobody reads (its buffer holds 64 KiB)
			if n, err := bw.Write(line); n != len(line) || err != nil {
				t.Errorf("Write = %d, %v", n, err)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("writes blocked on a reader that does not read")
	}
	if bw.Dropped() == 0 {
		t.Error("nothing counted as dropped")
	}
	// Close is bounded by its ctx even though the reader never reads.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = bw.Close(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %s with a blocked reader", took)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(reports)
		mu.Unlock()
		if n == 1 {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("%d drop reports, want exactly 1", n)
		}
		time.Sleep(5 * time.Millisecond) // polling interval of the report goroutine
	}
}

func TestWriterFlushesInOrder(t *testing.T) {
	var b safeBuf
	bw := output.NewWriter(&b, output.Config{})
	for i := range 1000 {
		_, _ = bw.Write([]byte{byte('a' + i%26)})
	}
	if err := bw.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if len(got) != 1000 {
		t.Fatalf("%d bytes written, want 1000", len(got))
	}
	for i := range got {
		if got[i] != byte('a'+i%26) {
			t.Fatalf("out of order at %d", i)
		}
	}
	// After Close, writes are dropped, not written.
	_, _ = bw.Write([]byte("late"))
	if strings.Contains(b.String(), "late") {
		t.Error("a write after Close was written")
	}
	var _ io.Writer = bw
}

type safeBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *safeBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
