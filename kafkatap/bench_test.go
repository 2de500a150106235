package kafkatap_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/kafkasource"
	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital/metrics"
	"github.com/orbital-e2e/orbital/webhook"
)

// The load test's shape: 2,000 events/s on the pipeline's events topic
// (3 partitions), keyed and carrying a messageId, over 1,000 distinct ids
// nobody watches; one event in 400 (5/s) is for one of 5 watched ids.
const (
	benchRate     = 2000
	benchRecords  = 20_000 // per reader: 10 s at benchRate
	benchKeys     = 1000
	benchWatched  = 5
	benchWatchGap = 400
	childEnv      = "ORBITAL_KAFKATAP_BENCH_CHILD"
)

// BenchmarkTapCPU measures the CPU the tap spends per record read, by
// getrusage of this process, against a bare kafka-go Reader loop and a
// kafkasource.Source (recording into a Logger that only counts) reading
// the same stream in the same run, each reader in turn on a stream of its
// own; then the bare loop and the tap again with MinBytes 64 KiB (the
// broker batching up to MaxWait). Broker and producer run in a child
// process, so this process's CPU is the reading alone.
//
//	go test -run '^$' -bench TapCPU -benchtime 3x ./kafkatap/
func BenchmarkTapCPU(b *testing.B) {
	produce, brokers := startBenchChild(b)
	events, dlq := "events", "events-dead-letter"
	var bare, src, tap, bareBatched, batched []cost
	for b.Loop() {
		bare = append(bare, measure(b, produce, func() (func(context.Context) error, func()) { return bareReaders(b, brokers, 1, events, dlq) }))
		src = append(src, measure(b, produce, func() (func(context.Context) error, func()) { return sourceReader(b, brokers, events, dlq) }))
		tap = append(tap, measure(b, produce, func() (func(context.Context) error, func()) { return tapReader(b, brokers, 1, events, dlq) }))
		bareBatched = append(bareBatched, measure(b, produce, func() (func(context.Context) error, func()) {
			return bareReaders(b, brokers, 64<<10, events, dlq)
		}))
		batched = append(batched, measure(b, produce, func() (func(context.Context) error, func()) {
			return tapReader(b, brokers, 64<<10, events, dlq)
		}))
	}
	ratios := make([]cost, len(tap))
	srcRatios := make([]cost, len(tap))
	batchedRatios := make([]cost, len(tap))
	for i := range tap {
		ratios[i] = cost{tap[i].cpu / bare[i].cpu, 0}
		srcRatios[i] = cost{src[i].cpu / bare[i].cpu, 0}
		batchedRatios[i] = cost{batched[i].cpu / bareBatched[i].cpu, 0}
	}
	b.ReportMetric(median(bare).cpu, "bare-cpu-ns/record")
	b.ReportMetric(median(src).cpu, "kafkasource-cpu-ns/record")
	b.ReportMetric(median(tap).cpu, "tap-cpu-ns/record")
	b.ReportMetric(median(bare).allocs, "bare-allocs/record")
	b.ReportMetric(median(src).allocs, "kafkasource-allocs/record")
	b.ReportMetric(median(tap).allocs, "tap-allocs/record")
	b.ReportMetric(median(ratios).cpu, "tap/bare")
	b.ReportMetric(median(srcRatios).cpu, "kafkasource/bare")
	b.ReportMetric(median(tap).cpu*benchRate/1e9*100, "tap-%core@2000/s")
	b.ReportMetric(median(bareBatched).cpu, "bare-minbytes64k-cpu-ns/record")
	b.ReportMetric(median(batched).cpu, "tap-minbytes64k-cpu-ns/record")
	b.ReportMetric(median(batchedRatios).cpu, "tap/bare-minbytes64k")
	for i := range tap {
		b.Logf("round %d: CPU ns/record: bare %.0f, kafkasource %.0f, tap %.0f; MinBytes 64 KiB: bare %.0f, tap %.0f", i+1,
			bare[i].cpu, src[i].cpu, tap[i].cpu, bareBatched[i].cpu, batched[i].cpu)
		b.Logf("round %d: allocs/record: bare %.2f, kafkasource %.2f, tap %.2f; MinBytes 64 KiB: bare %.2f, tap %.2f", i+1,
			bare[i].allocs, src[i].allocs, tap[i].allocs, bareBatched[i].allocs, batched[i].allocs)
	}
}

// median returns the median of each field of cs (the lower middle one).
func median(cs []cost) cost {
	cpu, allocs := make([]float64, len(cs)), make([]float64, len(cs))
	for i, c := range cs {
		cpu[i], allocs[i] = c.cpu, c.allocs
	}
	slices.Sort(cpu)
	slices.Sort(allocs)
	return cost{cpu[(len(cs)-1)/2], allocs[(len(cs)-1)/2]}
}

type cost struct{ cpu, allocs float64 }

// measure sets a reader up, has the child produce benchRecords at
// benchRate, waits until the reader has read them all, and returns this
// process's CPU time and allocations per record over that.
func measure(b *testing.B, produce func(), setup func() (wait func(context.Context) error, stop func())) cost {
	wait, stop := setup()
	defer stop()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c0 := cpuTime()
	produce()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := wait(ctx); err != nil {
		b.Fatal(err)
	}
	c1 := cpuTime()
	runtime.ReadMemStats(&m1)
	return cost{float64(c1-c0) / benchRecords, float64(m1.Mallocs-m0.Mallocs) / benchRecords}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bareReaders is the baseline: one kafka-go Reader per partition, at its
// end, configured as the tap's, counting what it reads.
func bareReaders(b *testing.B, brokers []string, minBytes int, topics ...string) (func(context.Context) error, func()) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...)}
	md, err := c.Metadata(context.Background(), &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	var readers []*kafka.Reader
	for _, tp := range md.Topics {
		for _, p := range tp.Partitions {
			readers = append(readers, kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: tp.Name, Partition: p.ID, MinBytes: minBytes,
				MaxBytes: 4 << 20, MaxWait: kafkatap.DefaultMaxWait, QueueCapacity: 64}))
		}
	}
	for _, r := range readers {
		if err := r.SetOffset(kafka.LastOffset); err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				if _, err := r.ReadMessage(ctx); err != nil {
					return
				}
				if n.Add(1) == benchRecords {
					close(done)
				}
			}
		}()
	}
	// A reader at LastOffset fixes its offset on its first fetch: wait
	// for every one to be positioned (Lag answers once it is).
	for _, r := range readers {
		if _, err := r.ReadLag(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(ctx context.Context) error {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("bare readers: %d of %d read: %w", n.Load(), benchRecords, ctx.Err())
		}
	}
	return wait, func() {
		cancel()
		for _, r := range readers {
			r.Close()
		}
	}
}

// sourceReader is the alternative design: a kafkasource.Source recording
// every record as a webhook.Request into a Logger that only counts.
func sourceReader(b *testing.B, brokers []string, topics ...string) (func(context.Context) error, func()) {
	var n atomic.Int64
	done := make(chan struct{})
	src, err := kafkasource.New(kafkasource.Config{Brokers: brokers, Topics: topics, Grace: -1,
		Logger: loggerFunc(func(webhook.Request) {
			if n.Add(1) == benchRecords {
				close(done)
			}
		})})
	if err != nil {
		b.Fatal(err)
	}
	if err := src.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	wait := func(ctx context.Context) error {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("kafkasource: %d of %d read: %w", n.Load(), benchRecords, ctx.Err())
		}
	}
	return wait, func() { src.Close() }
}

type loggerFunc func(webhook.Request)

func (f loggerFunc) Record(r webhook.Request) { f(r) }

// tapReader is the tap with metrics and minBytes, watching the watched ids.
func tapReader(b *testing.B, brokers []string, minBytes int, topics ...string) (func(context.Context) error, func()) {
	tap, err := kafkatap.New(kafkatap.Config{Brokers: brokers, Topics: topics, MinBytes: minBytes,
		Stats: stats.NewEngine("orbital", metrics.NewHandler())})
	if err != nil {
		b.Fatal(err)
	}
	if err := tap.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	for i := range benchWatched {
		watch(b, tap, "watched-"+strconv.Itoa(i))
	}
	wait := func(ctx context.Context) error {
		if err := tap.Sync(ctx); err != nil { // the child's writes have all returned
			return err
		}
		want := min(benchRecords/benchWatchGap/benchWatched, kafkatap.DefaultMaxSightingsPerKey)
		if got := len(tap.Sightings("watched-0")); got != want {
			return fmt.Errorf("tap: %d sightings of watched-0, want %d", got, want)
		}
		return nil
	}
	return wait, func() { tap.Close() }
}

// startBenchChild starts this test binary as the broker and producer (see
// TestBenchChild) and returns a function that has it produce benchRecords
// and returns when they are all written.
func startBenchChild(b *testing.B) (func(), []string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	next := func() string {
		if !lines.Scan() {
			b.Fatalf("bench child: %v", lines.Err())
		}
		return lines.Text()
	}
	addr, ok := strings.CutPrefix(next(), "ADDR ")
	if !ok {
		b.Fatal("bench child printed no address")
	}
	return func() {
		fmt.Fprintln(in, "produce")
		if got := next(); got != "done" {
			b.Fatalf("bench child: %s", got)
		}
	}, []string{addr}
}

// TestBenchChild is BenchmarkTapCPU's broker and producer process; it does
// nothing unless started by it.
func TestBenchChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		return
	}
	b, err := embedkafka.Start(embedkafka.Config{Topics: []string{"events"}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &kafka.Client{Addr: kafka.TCP(b.Brokers()...)}
	if _, err := c.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: "events-dead-letter", NumPartitions: 1, ReplicationFactor: 1}}}); err != nil {
		t.Fatal(err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(b.Brokers()...), Topic: "events", Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000}
	defer w.Close()
	fmt.Println("ADDR " + b.Brokers()[0])
	cmds := bufio.NewScanner(os.Stdin)
	for cmds.Scan() {
		if err := produceAtRate(w); err != nil {
			fmt.Println("error " + err.Error())
			continue
		}
		fmt.Println("done")
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// produceAtRate writes benchRecords at benchRate, in a batch every 10ms.
func produceAtRate(w *kafka.Writer) error {
	const perTick = benchRate / 100
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	pad := strings.Repeat("x", 300)
	for i := 0; i < benchRecords; {
		<-tick.C
		batch := make([]kafka.Message, 0, perTick)
		for ; len(batch) < perTick && i < benchRecords; i++ {
			id := "load-" + strconv.Itoa(i%benchKeys)
			if i%benchWatchGap == 0 {
				id = "watched-" + strconv.Itoa(i/benchWatchGap%benchWatched)
			}
			batch = append(batch, kafka.Message{Key: []byte(id), Value: []byte(`{"type":"track","event":"Load Test",` +
				`"userId":"user-` + strconv.Itoa(i%97) + `","properties":{"pad":"` + pad + `"},"messageId":"` + id + `"}`)})
		}
		if err := w.WriteMessages(context.Background(), batch...); err != nil {
			return err
		}
	}
	return nil
}
