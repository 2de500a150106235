// Command pipeline runs the example event pipeline (package
// examples/pipeline): a tracking API that writes to Kafka, a worker that
// delivers signed webhooks, with fault injection. It is the system under test
// of orbital's demo, CI and docs.
//
//	go run ./examples/cmd/pipeline --write-key k --destination http://127.0.0.1:8080/webhook
//
// Without --kafka-brokers it starts an embedded Kafka-protocol broker
// in-process. Every flag can also be set through the environment as
// PIPELINE_<FLAG> (upper case, dashes as underscores; repeatable flags take a
// comma-separated list); a flag given on the command line wins. SIGINT or
// SIGTERM drain the pipeline and exit 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	stats "github.com/segmentio/stats/v4"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/metrics"
	"github.com/orbital-e2e/orbital/internal/netx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// listFlag is a repeatable flag; each value may also be a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// secretFlag is a string flag whose value is never printed.
type secretFlag string

func (s *secretFlag) String() string {
	if s == nil || *s == "" {
		return ""
	}
	return "<redacted>"
}
func (s *secretFlag) Set(v string) error { *s = secretFlag(v); return nil }

type options struct {
	addr, brokers, topic, dlqTopic, group, faults, logLevel string
	signature                                               string
	maxConns                                                int
	adminToken, destSecret                                  secretFlag
	writeKeys, destinations                                 listFlag
	partitions, replication, maxAttempts                    int
	backoffMin, backoffMax, shutdownTimeout                 time.Duration
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", ":8081", "listen address of the tracking API, /metrics and health endpoints")
	fs.Var(&o.writeKeys, "write-key", "accepted write key (HTTP Basic user name); repeatable, at least one required")
	fs.StringVar(&o.brokers, "kafka-brokers", "", "comma-separated Kafka brokers; empty starts an embedded in-process broker")
	fs.StringVar(&o.topic, "topic", "events", "Kafka topic for ingested events")
	fs.StringVar(&o.dlqTopic, "dead-letter-topic", "events-dead-letter", "Kafka topic for events whose delivery failed")
	fs.StringVar(&o.group, "group-id", "pipeline-worker", "the worker's Kafka consumer group")
	fs.IntVar(&o.partitions, "partitions", 3, "partitions of topics created at start")
	fs.IntVar(&o.replication, "replication-factor", 1, "replication factor of topics created at start")
	fs.Var(&o.destinations, "destination", "webhook URL every event is delivered to; repeatable")
	fs.Var(&o.destSecret, "destination-secret", `HMAC-SHA256 key of the deliveries' signature ("whsec_<base64>" is decoded under standard-webhooks)`)
	fs.StringVar(&o.signature, "signature", pipeline.SignatureStandardWebhooks, `how deliveries are signed: "standard-webhooks" (webhook-id, webhook-timestamp, webhook-signature) or "x-signature"`)
	fs.IntVar(&o.maxConns, "max-conns", 0, "connections the API listener (and an embedded broker) keep open at once; 0: an eighth of the fd limit, 64 to 4096")
	fs.StringVar(&o.faults, "faults", "", `faults to inject, e.g. "drop=0.1,dup=0.05,delay=200ms,corrupt=0.01,dest5xx=0.2,lose=0.1"`)
	fs.Var(&o.adminToken, "admin-token", "Bearer token for PUT /admin/faults; empty disables it")
	fs.IntVar(&o.maxAttempts, "max-attempts", 5, "delivery attempts per destination before dead-lettering")
	fs.DurationVar(&o.backoffMin, "backoff-min", 100*time.Millisecond, "first retry backoff")
	fs.DurationVar(&o.backoffMax, "backoff-max", 5*time.Second, "largest retry backoff")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long SIGTERM waits for the drain")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := "PIPELINE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" && !set[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	switch o.signature {
	case pipeline.SignatureStandardWebhooks, pipeline.SignatureXSignature:
	default:
		errs = append(errs, fmt.Errorf("--signature %q: want %q or %q", o.signature, pipeline.SignatureStandardWebhooks, pipeline.SignatureXSignature))
	}
	if len(o.writeKeys) == 0 {
		errs = append(errs, errors.New("at least one --write-key (or PIPELINE_WRITE_KEY) is required"))
	}
	return &o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	o, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "pipeline:", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintln(stderr, "pipeline: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	faults, err := pipeline.ParseFaults(o.faults)
	if err != nil {
		fmt.Fprintln(stderr, "pipeline: --faults:", err)
		return 2
	}
	if err := serve(ctx, o, faults, log); err != nil {
		log.Error("pipeline failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o *options, faults pipeline.Faults, log *slog.Logger) error {
	var brokers []string
	for _, b := range strings.Split(o.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		broker, err := embedkafka.Start(embedkafka.Config{
			Topics:     []string{o.topic, o.dlqTopic},
			Partitions: o.partitions,
			Logger:     log.With("component", "embedkafka"),
			Listener:   netx.Config{MaxConns: o.maxConns},
		})
		if err != nil {
			return err
		}
		defer broker.Close()
		brokers = broker.Brokers()
		log.Info("no --kafka-brokers given: started an embedded in-process Kafka-protocol broker (kfake); events live in memory only",
			"brokers", brokers)
	}
	if len(o.destinations) == 0 {
		log.Warn("no --destination given: events are consumed but delivered nowhere")
	}

	promHandler := metrics.NewHandler()
	engine := stats.NewEngine("pipeline", promHandler)
	defer engine.Flush()
	p, err := pipeline.New(pipeline.Config{
		Brokers:           brokers,
		Topic:             o.topic,
		DeadLetterTopic:   o.dlqTopic,
		GroupID:           o.group,
		Partitions:        o.partitions,
		ReplicationFactor: o.replication,
		WriteKeys:         o.writeKeys,
		Destinations:      o.destinations,
		DestinationSecret: []byte(o.destSecret),
		Signature:         o.signature,
		Faults:            faults,
		AdminToken:        string(o.adminToken),
		MaxAttempts:       o.maxAttempts,
		BackoffMin:        o.backoffMin,
		BackoffMax:        o.backoffMax,
		Stats:             engine,
		Logger:            log,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promHandler)
	mux.Handle("/", p.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// A bounded listener: a flood of idle connections up to the fd limit
	// neither exhausts the process nor stops it accepting.
	ln, err := netx.Listen("tcp", o.addr, netx.Config{MaxConns: o.maxConns, IdleTimeout: 2 * srv.IdleTimeout, Logger: log})
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "destinations", len(o.destinations), "faults", faults.String())

	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = p.Start(startCtx)
	cancel()
	serverDone := false
	if err == nil {
		select {
		case <-ctx.Done():
			log.Info("signal received; draining")
		case err = <-serveErr:
			serverDone = true
			err = fmt.Errorf("http server: %w", err)
		}
	}

	drainCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	errs := []error{err}
	if cerr := p.Close(drainCtx); cerr != nil {
		errs = append(errs, cerr)
	}
	if serr := srv.Shutdown(drainCtx); serr != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", serr))
	}
	if !serverDone {
		if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("http server: %w", serr))
		}
	}
	err = errors.Join(errs...)
	if err == nil {
		log.Info("drained; bye")
	}
	return err
}
