package netx_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/netx"
	"github.com/orbital-e2e/orbital/internal/testsupport/child"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flakyListener fails its first n accepts with EMFILE.
type flakyListener struct {
	net.Listener
	mu sync.Mutex
	n  int
}

func (f *flakyListener) Accept() (net.Conn, error) {
	f.mu.Lock()
	if f.n > 0 {
		f.n--
		f.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

// echo serves every connection of ln by echoing lines until EOF.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// ping writes a byte on c and reads it back within d.
func ping(c net.Conn, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err
}

func TestAcceptRetriesErrorsInsteadOfReturning(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := netx.Wrap(&flakyListener{Listener: inner, n: 5}, netx.Config{})
	defer ln.Close()
	go echo(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := ping(c, 10*time.Second); err != nil {
		t.Fatalf("after 5 accept errors the listener does not serve: %v", err)
	}
	if got := ln.Stats().AcceptErrors; got != 5 {
		t.Errorf("AcceptErrors = %d, want 5", got)
	}
}

func TestAcceptReturnsErrClosedAfterClose(t *testing.T) {
	ln, err := netx.Listen("tcp", "127.0.0.1:0", netx.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
	// Close also closes the connections it accepted.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("a connection accepted before Close is still open")
	}
	_ = sc.Close()
	if err := ln.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestCapEvictsTheIdlestConnection(t *testing.T) {
	const maxConns = 4
	ln, err := netx.Listen("tcp", "127.0.0.1:0", netx.Config{MaxConns: maxConns, EvictIdle: 20 * time.Millisecond, IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go echo(ln)
	addr := ln.Addr().String()

	// A flood of idle connections fills the cap.
	flood := make([]net.Conn, 0, 20)
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range maxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, c)
		if err := ping(c, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// An active client keeps getting in: the idlest flood connection is
	// evicted for it (or it is shed while the flood is fresher than
	// EvictIdle, and it dials again).
	var active net.Conn
	waitFor(t, 10*time.Second, "an active client to get a connection at the cap", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		if ping(c, 2*time.Second) != nil {
			c.Close()
			return false
		}
		active = c
		return true
	})
	defer active.Close()
	if s := ln.Stats(); s.Open > maxConns || s.Evicted < 1 {
		t.Errorf("stats %+v: want Open <= %d and at least one eviction", s, maxConns)
	}
	// The evicted one is the first (idlest) flood connection.
	_ = flood[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := flood[0].Read(make([]byte, 1)); err == nil {
		t.Error("the idlest flood connection was not the one evicted")
	}
	if err := ping(active, 5*time.Second); err != nil {
		t.Errorf("the admitted client lost its connection: %v", err)
	}
}

func TestIdleTimeoutClosesSilentConnections(t *testing.T) {
	ln, err := netx.Listen("tcp", "127.0.0.1:0", netx.Config{IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go echo(ln)
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if err := ping(silent, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("a silent connection read %v, want EOF from the idle timeout", err)
	}
	waitFor(t, 10*time.Second, "IdleClosed to count it", func() bool { return ln.Stats().IdleClosed >= 1 })
}

// The subprocess side of the fd-limit tests: with ORBITAL_NETX_CHILD set, this
// test lowers RLIMIT_NOFILE, serves HTTP on a netx.Listener with the cap
// given in the variable, prints the address and serves until stdin closes.
func TestFloodChild(t *testing.T) {
	capStr := os.Getenv("ORBITAL_NETX_CHILD")
	if capStr == "" {
		return // only meaningful as the child of TestHTTPSurvivesFDExhaustion
	}
	maxConns, _ := strconv.Atoi(capStr)
	lowerFDLimit(t, childFDLimit)
	ln, err := netx.Listen("tcp", "127.0.0.1:0", netx.Config{MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println("ADDR", ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
}

const childFDLimit = 128

func lowerFDLimit(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
}

// startChild starts TestFloodChild in a subprocess with the given cap and
// returns its address.
func startChild(t *testing.T, maxConns int) string {
	t.Helper()
	addr, _ := child.Start(t, "TestFloodChild", "ORBITAL_NETX_CHILD="+strconv.Itoa(maxConns))
	return addr
}

// floodHTTP opens n keep-alive connections to addr, each sending one request
// and then staying silent, and returns them.
func floodHTTP(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break
		}
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
	}
	return conns
}

func get(addr string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// TestHTTPSurvivesFDExhaustion floods a server whose process has a limit of
// 128 file descriptors with 3x as many idle keep-alive connections. With a
// cap above the limit the process runs out of descriptors (accept: too many
// open files); the listener keeps retrying and serves again as soon as the
// flood ends. With the default cap the server keeps serving during the
// flood.
func TestHTTPSurvivesFDExhaustion(t *testing.T) {
	t.Run("cap above the fd limit: serves again after the flood", func(t *testing.T) {
		addr := startChild(t, 10*childFDLimit)
		flood := floodHTTP(t, addr, 3*childFDLimit)
		// The flood exhausted the child's descriptors: a request fails.
		waitFor(t, 20*time.Second, "the flood to exhaust the child's descriptors", func() bool { return get(addr) != nil })
		for _, c := range flood {
			c.Close()
		}
		ended := time.Now()
		defer func() {
			t.Logf("%d flood connections; served again %v after the flood ended", len(flood), time.Since(ended).Round(time.Millisecond))
		}()
		waitFor(t, 20*time.Second, "the server to serve again after the flood", func() bool { return get(addr) == nil })
	})
	t.Run("default cap: serves during the flood", func(t *testing.T) {
		addr := startChild(t, 0)
		flood := floodHTTP(t, addr, 3*childFDLimit)
		defer func() {
			for _, c := range flood {
				c.Close()
			}
		}()
		started := time.Now()
		defer func() {
			t.Logf("%d flood connections open; served %v into the flood", len(flood), time.Since(started).Round(time.Millisecond))
		}()
		waitFor(t, 20*time.Second, "a request to succeed during the flood", func() bool { return get(addr) == nil })
	})
}
