// Package output keeps a process's stdout and stderr from stopping its work: a Writer that
// never blocks its callers (bounded buffering; what does not fit is dropped and counted), and
// Escape, which makes untrusted text safe to show on a terminal.
package output

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/segmentio/stats/v4"
)

// DefaultMaxBuffered is the default bound of a Writer's buffer (1 MiB).
const DefaultMaxBuffered = 1 << 20

// Writer is an io.Writer that hands its bytes to an underlying writer from a goroutine of its
// own, so a reader that stops reading (a blocked pipe) or goes away (a closed pipe) never
// blocks the caller. At most MaxBuffered bytes wait; a write that does not fit is dropped
// whole and counted, and the first drop is reported once through OnDrop. Write never fails.
// It is safe for concurrent use; writes keep their order.
type Writer struct {
	w      io.Writer
	max    int
	onDrop func(name string, dropped int64)
	name   string

	mu      sync.Mutex
	cond    *sync.Cond
	buf     [][]byte
	size    int
	closed  bool
	writing bool

	dropped atomic.Int64
	warned  atomic.Bool
	eng     atomic.Pointer[stats.Engine]
	done    chan struct{}
}

// SetStats makes drops count in output.dropped_bytes_total{stream=Name} on e (created at 0,
// with what was dropped before).
func (b *Writer) SetStats(e *stats.Engine) {
	if e == nil {
		return
	}
	b.eng.Store(e)
	e.Add("output.dropped_bytes_total", b.dropped.Load(), stats.T("stream", b.name))
}

// Config configures a Writer.
type Config struct {
	// Name names the stream in drop reports ("stdout"). Default: "output".
	Name string
	// MaxBuffered bounds the bytes waiting to be written. Default: DefaultMaxBuffered.
	MaxBuffered int
	// OnDrop is called (in a goroutine of its own) the first time a write is dropped,
	// with the bytes dropped so far. Default: nothing.
	OnDrop func(name string, dropped int64)
}

// NewWriter returns a Writer over w. Close it to flush what is buffered.
func NewWriter(w io.Writer, c Config) *Writer {
	if c.Name == "" {
		c.Name = "output"
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	bw := &Writer{w: w, max: c.MaxBuffered, onDrop: c.OnDrop, name: c.Name, done: make(chan struct{})}
	bw.cond = sync.NewCond(&bw.mu)
	go bw.loop()
	return bw
}

// Write queues a copy of p, or drops it when the buffer is full. It always reports len(p).
func (b *Writer) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.mu.Lock()
	if b.closed || b.size+len(p) > b.max {
		b.mu.Unlock()
		n := b.dropped.Add(int64(len(p)))
		if e := b.eng.Load(); e != nil {
			e.Add("output.dropped_bytes_total", len(p), stats.T("stream", b.name))
		}
		if b.onDrop != nil && b.warned.CompareAndSwap(false, true) {
			go b.onDrop(b.name, n)
		}
		return len(p), nil
	}
	b.buf = append(b.buf, append([]byte(nil), p...))
	b.size += len(p)
	b.cond.Signal()
	b.mu.Unlock()
	return len(p), nil
}

// File returns the underlying *os.File, or nil: so a caller can still ask whether the stream
// is a terminal.
func (b *Writer) File() *os.File {
	f, _ := b.w.(*os.File)
	return f
}

// Dropped is the number of bytes dropped so far.
func (b *Writer) Dropped() int64 { return b.dropped.Load() }

func (b *Writer) loop() {
	defer close(b.done)
	for {
		b.mu.Lock()
		for len(b.buf) == 0 && !b.closed {
			b.cond.Wait()
		}
		if len(b.buf) == 0 && b.closed {
			b.mu.Unlock()
			return
		}
		chunk := b.buf[0]
		b.buf[0] = nil
		b.buf = b.buf[1:]
		b.writing = true
		b.mu.Unlock()
		_, _ = b.w.Write(chunk) // an error (a closed pipe) is the reader's loss, not ours
		b.mu.Lock()
		b.size -= len(chunk)
		b.writing = false
		b.cond.Broadcast()
		b.mu.Unlock()
	}
}

// Close stops accepting writes and waits until what is buffered is written or ctx ends
// (the bytes then still waiting are abandoned, with the goroutine blocked on them).
func (b *Writer) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("output %s: %d bytes not written: %w", b.name, b.pending(), ctx.Err())
	}
}

func (b *Writer) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size
}

// Escape returns a writer that writes to w with every control character but newline and tab
// shown as an escape (ESC as \x1b, CR as \r, U+009B as \u009b), so text from an untrusted
// source (a pipeline's error body) cannot clear a terminal, change its title or overwrite a
// line with a fake "--- PASS". Invalid UTF-8 is shown as \xNN too. Each Write is escaped on
// its own, so write whole lines or messages: a rune split across two writes is shown as its
// bytes (\xc3\xa9), never passed through raw.
func Escape(w io.Writer) io.Writer { return escaper{w} }

type escaper struct{ w io.Writer }

func (e escaper) Write(p []byte) (int, error) {
	if clean(p) {
		return e.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = fmt.Appendf(out, `\x%02x`, p[i])
		case r == '\n' || r == '\t':
			out = append(out, byte(r))
		case r == '\r':
			out = append(out, `\r`...)
		case r < 0x20 || r == 0x7f:
			out = fmt.Appendf(out, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, p[i:i+size]...)
		}
		i += size
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// clean reports whether p needs no escaping: printable ASCII, newlines and tabs only, or
// valid UTF-8 without C1 controls.
func clean(p []byte) bool {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(p[i:])
		if (r == utf8.RuneError && size == 1) || (r >= 0x80 && r <= 0x9f) {
			return false
		}
		i += size
	}
	return true
}
