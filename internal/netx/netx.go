// Package netx provides a bounded net.Listener for every listener of the
// process: the e2e HTTP server, the example pipeline's API and the embedded
// Kafka broker.
//
// A [Listener] caps the connections open at once, closes connections that
// stay idle (no bytes read or written) for too long, and never gives up on
// accept errors: where net.Listener's Accept returns "accept: too many open
// files" and a typical accept loop (http.Server's backs off, kfake's returns
// for good) may never listen again, a Listener logs the error, backs off
// (5ms doubling to 1s) and tries again until it is closed. Its Accept returns
// an error only once the Listener is closed.
//
// At the cap, a new connection evicts the connection that has been idle the
// longest if that one has been idle for at least Config.EvictIdle; otherwise
// the new connection is closed at once (shed). Either way the listener keeps
// accepting, so the kernel's backlog never fills with connections nobody
// will serve, and a flood of idle connections cannot lock out active
// clients: the flood's connections are the idlest and go first.
//
// For HTTP, pair it with an http.Server whose ReadHeaderTimeout, ReadTimeout,
// WriteTimeout and IdleTimeout are set; the Listener's own idle timeout is
// the backstop for protocols without one (Kafka).
package netx

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultIdleTimeout = 10 * time.Minute // Kafka's connections.max.idle.ms
	DefaultEvictIdle   = time.Second
	minMaxConns        = 64
	maxMaxConns        = 4096
	backoffMin         = 5 * time.Millisecond
	backoffMax         = time.Second
)

// Config configures a Listener. The zero value works.
type Config struct {
	// MaxConns caps the connections open at once. Default (zero or
	// negative): DefaultMaxConns(), an eighth of the process's file
	// descriptor limit between 64 and 4096, so that a few capped listeners
	// in one process stay below the limit together.
	MaxConns int
	// IdleTimeout closes a connection that has neither read nor written a
	// byte for this long. Default (zero): DefaultIdleTimeout (10 minutes).
	// Negative: never.
	IdleTimeout time.Duration
	// EvictIdle is how long a connection must have been idle before a new
	// connection may evict it at the cap. Default (zero): 1s.
	EvictIdle time.Duration
	// Logger receives accept errors (the first of a run of errors, then one
	// line per second at most) and sheds. Default: discard.
	Logger *slog.Logger
}

// DefaultMaxConns returns the default of Config.MaxConns: the soft
// RLIMIT_NOFILE divided by 8, between 64 and 4096.
func DefaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(max(rl.Cur/8, minMaxConns), maxMaxConns))
}

// Listener is a bounded net.Listener. It is safe for concurrent use.
type Listener struct {
	inner     net.Listener
	max       int
	idle      time.Duration
	evictIdle time.Duration
	log       *slog.Logger
	epoch     time.Time

	mu    sync.Mutex
	conns map[*conn]struct{}

	closeOnce sync.Once
	closed    chan struct{}
	swept     chan struct{} // closed when the idle sweep has returned

	acceptErrors atomic.Int64
	evicted      atomic.Int64
	shed         atomic.Int64
	idleClosed   atomic.Int64
}

// Listen announces on the local network address and wraps the listener.
func Listen(network, addr string, cfg Config) (*Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return Wrap(ln, cfg), nil
}

// Wrap bounds ln. Closing the Listener closes ln and every connection it
// accepted that is still open.
func Wrap(ln net.Listener, cfg Config) *Listener {
	l := &Listener{
		inner:     ln,
		max:       cfg.MaxConns,
		idle:      cfg.IdleTimeout,
		evictIdle: cfg.EvictIdle,
		log:       cfg.Logger,
		epoch:     time.Now(),
		conns:     make(map[*conn]struct{}),
		closed:    make(chan struct{}),
		swept:     make(chan struct{}),
	}
	if l.max <= 0 {
		l.max = DefaultMaxConns()
	}
	if l.idle == 0 {
		l.idle = DefaultIdleTimeout
	}
	if l.evictIdle <= 0 {
		l.evictIdle = DefaultEvictIdle
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.idle > 0 {
		go l.sweep()
	} else {
		close(l.swept)
	}
	return l
}

// Stats are a Listener's counters since it was created.
type Stats struct {
	Open         int   // connections open now
	AcceptErrors int64 // failed accepts (each retried after a backoff)
	Evicted      int64 // idle connections closed to make room at the cap
	Shed         int64 // new connections closed at once at the cap
	IdleClosed   int64 // connections closed by the idle timeout
}

// Stats returns the Listener's counters.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	n := len(l.conns)
	l.mu.Unlock()
	return Stats{Open: n, AcceptErrors: l.acceptErrors.Load(), Evicted: l.evicted.Load(),
		Shed: l.shed.Load(), IdleClosed: l.idleClosed.Load()}
}

// Addr returns the listener's network address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Close closes the listener and every open connection it accepted. Accept
// then returns net.ErrClosed. It is idempotent.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.closed)
		err = l.inner.Close()
		<-l.swept
		l.mu.Lock()
		conns := make([]*conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return err
}

// Closed reports whether Close was called (by anyone, including a server
// whose accept loop ended).
func (l *Listener) Closed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Accept waits for and returns the next connection. It retries failed
// accepts with a backoff and returns an error (wrapping net.ErrClosed) only
// once the Listener is closed.
func (l *Listener) Accept() (net.Conn, error) {
	wait := time.Duration(0)
	var lastLog time.Time
	for {
		nc, err := l.inner.Accept()
		if err != nil {
			if l.Closed() || errors.Is(err, net.ErrClosed) {
				return nil, &net.OpError{Op: "accept", Net: l.inner.Addr().Network(), Addr: l.inner.Addr(), Err: net.ErrClosed}
			}
			l.acceptErrors.Add(1)
			wait = min(max(2*wait, backoffMin), backoffMax)
			if now := time.Now(); now.Sub(lastLog) >= time.Second {
				lastLog = now
				l.log.Warn("accept failed; retrying", "addr", l.inner.Addr().String(), "err", err, "wait", wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-l.closed:
				t.Stop()
			case <-t.C:
			}
			continue
		}
		wait = 0
		if c := l.admit(nc); c != nil {
			return c, nil
		}
	}
}

// admit tracks nc, evicting the idlest connection at the cap; nil means nc
// was shed.
func (l *Listener) admit(nc net.Conn) net.Conn {
	c := &conn{Conn: nc, l: l}
	c.touch()
	var victim *conn
	l.mu.Lock()
	if l.Closed() {
		l.mu.Unlock()
		_ = nc.Close()
		return nil
	}
	if len(l.conns) >= l.max {
		now := l.now()
		oldest := int64(-1)
		for o := range l.conns {
			if a := o.last.Load(); oldest < 0 || a < oldest {
				oldest, victim = a, o
			}
		}
		if victim == nil || time.Duration(now-oldest) < l.evictIdle {
			l.mu.Unlock()
			l.shed.Add(1)
			_ = nc.Close()
			return nil
		}
		delete(l.conns, victim)
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	if victim != nil {
		l.evicted.Add(1)
		_ = victim.Conn.Close()
	}
	return c
}

func (l *Listener) now() int64 { return int64(time.Since(l.epoch)) }

// sweep closes idle connections every IdleTimeout/4 (at least 10ms, at
// most 10s) until Close.
func (l *Listener) sweep() {
	defer close(l.swept)
	t := time.NewTicker(min(max(l.idle/4, 10*time.Millisecond), 10*time.Second))
	defer t.Stop()
	for {
		select {
		case <-l.closed:
			return
		case <-t.C:
		}
		now := l.now()
		var idle []*conn
		l.mu.Lock()
		for c := range l.conns {
			if time.Duration(now-c.last.Load()) >= l.idle {
				idle = append(idle, c)
				delete(l.conns, c)
			}
		}
		l.mu.Unlock()
		for _, c := range idle {
			l.idleClosed.Add(1)
			_ = c.Conn.Close()
		}
	}
}

func (l *Listener) forget(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// conn records its last activity for the idle timeout and eviction.
type conn struct {
	net.Conn
	l    *Listener
	last atomic.Int64 // l.now() at the last byte read or written
	once sync.Once
}

func (c *conn) touch() { c.last.Store(c.l.now()) }

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.forget(c) })
	return c.Conn.Close()
}
