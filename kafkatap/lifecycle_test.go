package kafkatap_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/testsupport"
	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital/metrics"
)

// The tap reads beside the pipeline's consumer group without joining it or
// any group: the broker lists the pipeline's group alone, with its one
// member.
func TestNoConsumerGroup(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 2)
	w := newWriter(t, brokers, events)
	pipeline := kafka.NewReader(kafka.ReaderConfig{
		Brokers: brokers, Topic: events, GroupID: "pipeline-workers", StartOffset: kafka.FirstOffset,
		MaxWait: 100 * time.Millisecond, JoinGroupBackoff: 100 * time.Millisecond,
	})
	defer pipeline.Close()
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events}})
	watch(t, tap, "g-1")
	produce(t, w, kafka.Message{Key: []byte("g-1"), Value: []byte("{}")})
	syncTap(t, tap)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if m, err := pipeline.ReadMessage(ctx); err != nil || string(m.Key) != "g-1" {
		t.Fatalf("the pipeline's group read %q, %v", m.Key, err)
	}
	if len(tap.Sightings("g-1")) != 1 {
		t.Fatalf("tap: %+v", tap.Sightings("g-1"))
	}

	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second}
	groups, err := c.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil || groups.Error != nil {
		t.Fatalf("ListGroups: %v %v", err, groups.Error)
	}
	if len(groups.Groups) != 1 || groups.Groups[0].GroupID != "pipeline-workers" {
		t.Fatalf("groups %+v, want the pipeline's alone", groups.Groups)
	}
	desc, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{"pipeline-workers"}})
	if err != nil || len(desc.Groups) != 1 || len(desc.Groups[0].Members) != 1 {
		t.Fatalf("DescribeGroups: %+v, %v; want one member", desc, err)
	}
}

// Bad configurations are refused by New, naming the field.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  kafkatap.Config
		want string
	}{
		{kafkatap.Config{Topics: []string{"t"}}, "Brokers is empty"},
		{kafkatap.Config{Brokers: []string{""}, Topics: []string{"t"}}, "empty address"},
		{kafkatap.Config{Brokers: []string{"x:1"}}, "Topics is empty"},
		{kafkatap.Config{Brokers: []string{"x:1"}, Topics: []string{"t", "t"}}, "twice"},
		{kafkatap.Config{Brokers: []string{"x:1"}, Topics: []string{""}}, "empty topic"},
		{kafkatap.Config{Brokers: []string{"x:1"}, Topics: []string{"t"}, MaxKeys: -1}, "negative"},
		{kafkatap.Config{Brokers: []string{"x:1"}, Topics: []string{"t"}, MaxSightingsPerKey: -1}, "negative"},
		{kafkatap.Config{Brokers: []string{"x:1"}, Topics: []string{"t"}, MaxWait: -time.Second}, "negative"},
		{kafkatap.Config{Brokers: []string{"x:1"}, Topics: []string{"t"}, MinBytes: -1}, "negative"},
	} {
		if _, err := kafkatap.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error about %q", tc.cfg, err, tc.want)
		}
	}
}

// Start on a missing topic fails, naming it, when its context ends; Start
// is once; Close is idempotent, also before Start; nothing works after it
// but reading what was kept.
func TestStartAndClose(t *testing.T) {
	brokers := broker(t)
	missing, err := kafkatap.New(kafkatap.Config{Brokers: brokers, Topics: []string{"no-such-topic"}})
	if err != nil {
		t.Fatal(err)
	}
	defer missing.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if err := missing.Start(ctx); err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("Start on a missing topic = %v, want an error naming it", err)
	}
	if err := missing.Err(); err == nil || !strings.Contains(err.Error(), "not started") || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("Err after a failed Start = %v", err)
	}
	if err := missing.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}

	never, _ := kafkatap.New(kafkatap.Config{Brokers: brokers, Topics: []string{"t"}})
	if err := never.Close(); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	if err := never.Start(t.Context()); err == nil {
		t.Error("Start after Close succeeded")
	}

	events := newTopic(t, brokers, "events", "", 3)
	tap := start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events}})
	if err := tap.Err(); err != nil {
		t.Errorf("Err of a reading tap: %v", err)
	}
	watch(t, tap, "c-1")
	produce(t, newWriter(t, brokers, events), kafka.Message{Key: []byte("c-1"), Value: []byte("{}")})
	syncTap(t, tap)
	for i := range 2 {
		if err := tap.Close(); err != nil {
			t.Fatalf("Close %d: %v", i+1, err)
		}
	}
	if err := tap.Sync(t.Context()); err == nil {
		t.Error("Sync after Close succeeded")
	}
	if err := tap.Err(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Err after Close = %v", err)
	}
	if len(tap.Sightings("c-1")) != 1 {
		t.Errorf("sightings gone after Close: %+v", tap.Sightings("c-1"))
	}
}

// Every series exists at 0 from Start.
func TestMetricsAtZero(t *testing.T) {
	brokers := broker(t)
	events := newTopic(t, brokers, "events", "", 3)
	dlq := newTopic(t, brokers, "events", ".DLT", 1)
	prom := metrics.NewHandler()
	start(t, kafkatap.Config{Brokers: brokers, Topics: []string{events, dlq}, Stats: stats.NewEngine("orbital", prom)})
	got := scrape(t, prom)
	for _, tp := range []string{events, dlq} {
		for _, name := range []string{"records_total", "sightings_total", "errors_total"} {
			wantSample(t, got, `orbital_tap_`+name+`{topic="`+tp+`"}`, 0)
		}
	}
	wantSample(t, got, `orbital_tap_partitions{topic="`+events+`"}`, 3)
	wantSample(t, got, `orbital_tap_partitions{topic="`+dlq+`"}`, 1)
	for _, r := range []string{"per_key", "keys_full", "headers"} {
		wantSample(t, got, `orbital_tap_dropped_total{reason="`+r+`"}`, 0)
	}
	wantSample(t, got, `orbital_tap_pending_keys`, 0)
}

// When the broker goes away Err says so (and the error is counted); the
// tap does not stop: once a broker is back on the address, it reads again
// and Err clears.
func TestErrWhenBrokerGone(t *testing.T) {
	cfg := embedkafka.Config{Addr: freeAddr(t), Topics: []string{"events"}, Partitions: 1, DataDir: t.TempDir()}
	b, err := embedkafka.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { b.Close() }()
	var logs testsupport.SyncBuffer
	prom := metrics.NewHandler()
	tap := start(t, kafkatap.Config{Brokers: b.Brokers(), Topics: []string{"events"}, MaxWait: 50 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil)), Stats: stats.NewEngine("orbital", prom)})
	if err := tap.Err(); err != nil {
		t.Fatalf("Err before the broker went: %v", err)
	}
	b.Close()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(logs.String(), "reading failed") {
		select {
		case <-logs.Wrote():
		case <-deadline:
			t.Fatalf("no read failure logged after the broker closed; logs:\n%s", logs.String())
		}
	}
	if err := tap.Err(); err == nil || !strings.Contains(err.Error(), "events/0") {
		t.Errorf("Err with the broker gone = %v, want the partition's read error", err)
	}
	if v := scrape(t, prom)[`orbital_tap_errors_total{topic="events"}`]; v < 1 {
		t.Errorf("errors_total = %v", v)
	}

	if b, err = embedkafka.Start(cfg); err != nil {
		t.Fatal(err)
	}
	watch(t, tap, "back-1")
	produce(t, newWriter(t, b.Brokers(), "events"), kafka.Message{Key: []byte("back-1"), Value: []byte("{}")})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := tap.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(tap.Sightings("back-1")) != 1 {
		t.Errorf("after the broker came back: %+v", tap.Sightings("back-1"))
	}
	if err := tap.Err(); err != nil {
		t.Errorf("Err once reading again: %v", err)
	}
}

// freeAddr returns a loopback address free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
