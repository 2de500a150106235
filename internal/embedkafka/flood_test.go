package embedkafka_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/netx"
	"github.com/orbital-e2e/orbital/internal/testsupport/child"
)

// childFDLimit is the RLIMIT_NOFILE of the broker process in the flood tests.
const childFDLimit = 128

// TestBrokerFloodChild is the subprocess side of TestBrokerSurvivesConnectionFlood:
// with ORBITAL_EMBEDKAFKA_CHILD set to a connection cap (0: the default), it
// lowers RLIMIT_NOFILE to childFDLimit, starts a broker with topic "t",
// prints its address and serves until stdin closes.
func TestBrokerFloodChild(t *testing.T) {
	capStr, ok := os.LookupEnv("ORBITAL_EMBEDKAFKA_CHILD")
	if !ok {
		return // only meaningful as the child of TestBrokerSurvivesConnectionFlood
	}
	maxConns, _ := strconv.Atoi(capStr)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = childFDLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	b, err := embedkafka.Start(embedkafka.Config{Topics: []string{"t"}, Partitions: 1,
		Listener: netx.Config{MaxConns: maxConns}})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR", b.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := b.Err(); err != nil {
		t.Errorf("broker after the flood: %v", err)
	}
	s := b.ListenerStats()
	fmt.Fprintf(os.Stderr, "broker listener: %+v\n", s)
	b.Close()
}

// startBrokerChild runs TestBrokerFloodChild in a subprocess and returns the
// broker's address.
func startBrokerChild(t *testing.T, maxConns int) string {
	t.Helper()
	addr, _ := child.Start(t, "TestBrokerFloodChild", "ORBITAL_EMBEDKAFKA_CHILD="+strconv.Itoa(maxConns))
	return addr
}

// apiVersionsV0 is a Kafka ApiVersions v0 request frame: a flood connection
// sends it once and then stays silent.
func apiVersionsV0() []byte {
	const client = "flood"
	b := binary.BigEndian.AppendUint32(nil, uint32(2+2+4+2+len(client)))
	b = binary.BigEndian.AppendUint16(b, 18) // ApiVersions
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(client)))
	return append(b, client...)
}

// floodKafka opens n connections that each send one request and go silent.
func floodKafka(addr string, n int) []net.Conn {
	req := apiVersionsV0()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			break
		}
		_, _ = c.Write(req)
		conns = append(conns, c)
	}
	return conns
}

// roundTrip produces one record to topic "t" and reads it back, as a run's
// event would travel through the broker.
func roundTrip(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", addr, "t", 0)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	val := strconv.FormatInt(time.Now().UnixNano(), 10)
	if _, err := conn.WriteMessages(kafka.Message{Value: []byte(val)}); err != nil {
		return err
	}
	last, err := conn.ReadLastOffset()
	if err != nil {
		return err
	}
	if _, err := conn.Seek(last-1, kafka.SeekAbsolute); err != nil {
		return err
	}
	m, err := conn.ReadMessage(1 << 20)
	if err != nil {
		return err
	}
	if string(m.Value) != val {
		return errors.New("read back a different record")
	}
	return nil
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBrokerSurvivesConnectionFlood reproduces break 1 of issue 14: idle
// connections (one request, then silence) up to the broker process's fd
// limit. kfake's own accept loop returns on "accept: too many open files"
// and the broker never listens again; with the netx listener in front the
// broker keeps listening (cap above the limit: it serves again as soon as
// the flood ends) and, with its default cap, keeps serving during it.
func TestBrokerSurvivesConnectionFlood(t *testing.T) {
	t.Run("cap above the fd limit: serves again after the flood", func(t *testing.T) {
		addr := startBrokerChild(t, 10*childFDLimit)
		if err := roundTrip(addr); err != nil {
			t.Fatalf("before the flood: %v", err)
		}
		flood := floodKafka(addr, 3*childFDLimit)
		waitFor(t, 30*time.Second, "the flood to exhaust the broker's descriptors", func() bool { return roundTrip(addr) != nil })
		for _, c := range flood {
			c.Close()
		}
		ended := time.Now()
		defer func() {
			t.Logf("%d flood connections; served again %v after the flood ended", len(flood), time.Since(ended).Round(time.Millisecond))
		}()
		waitFor(t, 30*time.Second, "the broker to serve again after the flood", func() bool { return roundTrip(addr) == nil })
	})
	t.Run("default cap: serves during the flood", func(t *testing.T) {
		addr := startBrokerChild(t, 0)
		flood := floodKafka(addr, 3*childFDLimit)
		defer func() {
			for _, c := range flood {
				c.Close()
			}
		}()
		started := time.Now()
		defer func() {
			t.Logf("%d flood connections open; served %v into the flood", len(flood), time.Since(started).Round(time.Millisecond))
		}()
		waitFor(t, 30*time.Second, "a produce and fetch to succeed during the flood", func() bool { return roundTrip(addr) == nil })
	})
}

func TestErrAndHealthy(t *testing.T) {
	b := start(t, embedkafka.Config{})
	if err := b.Err(); err != nil {
		t.Fatalf("Err on a running broker: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Healthy(ctx); err != nil {
		t.Fatalf("Healthy on a running broker: %v", err)
	}
	b.Close()
	if err := b.Err(); !errors.Is(err, embedkafka.ErrClosed) {
		t.Errorf("Err after Close = %v, want ErrClosed", err)
	}
	if err := b.Healthy(ctx); err == nil {
		t.Error("Healthy after Close = nil")
	}
}
