package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/embedkafka"
	"github.com/orbital-e2e/orbital/internal/logging"
	"github.com/orbital-e2e/orbital/internal/netx"
	stats "github.com/segmentio/stats/v4"
)

// Settings of the embedded pipeline: retries quick enough that dest5xx=0.3 is absorbed well
// within a case timeout (10 attempts: all fail with probability 0.3^10 ≈ 6e-6), and a
// backoff long enough that a retried delivery visibly adds latency.
const (
	embeddedMaxAttempts = 10
	EmbeddedBackoffMin  = 100 * time.Millisecond
	embeddedBackoffMax  = time.Second
	embeddedStartup     = time.Minute     // bound on starting the broker and pipeline
	embeddedSpread      = 2 * time.Second // start spread of the cases on the embedded default
	shutdownGrace       = 5 * time.Second // bound on closing the pipeline's server
	pipelineCloseGrace  = 2 * time.Second // in-flight deliveries of the embedded pipeline
)

// target is the pipeline under test: either the embedded one this process started, or the
// external one of Config.API.
type target struct {
	apiURL     string
	writeKey   string
	secret     []byte
	brokers    []string
	webhookURL string
	embedded   bool
	// outputTopic is the pipeline's Kafka output topic ("" for none).
	outputTopic string
	// deadLetterTopic is the embedded pipeline's dead-letter topic ("" for an external one).
	deadLetterTopic string

	broker   *embedkafka.Broker
	pipeline *pipeline.Pipeline
	srv      *http.Server
	srvDone  chan struct{}
}

// name is the target as the status page shows it.
func (t *target) name() string {
	if t.embedded {
		return "embedded"
	}
	return t.apiURL
}

// randomSecret returns 16 random bytes, hex-encoded.
func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// describeTarget is the target of c without starting anything: what an external pipeline
// is, or placeholders for the embedded one.
func describeTarget(c Config) *target {
	t := &target{
		apiURL:      strings.TrimRight(c.API, "/"),
		writeKey:    c.WriteKey,
		secret:      []byte(c.WebhookSecret),
		brokers:     c.Brokers,
		webhookURL:  c.WebhookURL,
		embedded:    c.API == "",
		outputTopic: c.OutputTopic,
	}
	if t.embedded && t.outputTopic == "" {
		t.outputTopic = c.Topic + "-processed" // the embedded pipeline feeds one
	}
	if t.embedded {
		t.deadLetterTopic = c.Topic + "-dead-letter"
	}
	return t
}

// startTarget describes the pipeline under test; without Config.API it starts the embedded
// broker and pipeline, delivering to ownWebhook. The embedded pipeline's metrics go to h
// with the prefix "pipeline". Close the target when done.
func startTarget(ctx context.Context, c Config, ownWebhook string, h stats.Handler) (*target, error) {
	logger := c.Logger
	t := describeTarget(c)
	if !t.embedded {
		if len(t.secret) == 0 {
			logger.Warn("no --webhook-secret: deliveries are accepted without verifying their signature")
		}
		return t, nil
	}
	if t.writeKey == "" {
		t.writeKey = randomSecret()
	}
	if len(t.secret) == 0 {
		t.secret = []byte(randomSecret())
	}
	if t.webhookURL == "" {
		t.webhookURL = ownWebhook
	}
	ctx, cancel := context.WithTimeout(ctx, embeddedStartup)
	defer cancel()
	// The embedded pipeline and broker are plumbing: only their warnings and errors are
	// logged, unless the log level is debug.
	quiet := slog.New(logging.AtLeast(logger.Handler(), slog.LevelWarn))
	plog := quiet.With("component", "pipeline")
	broker, err := embedkafka.Start(embedkafka.Config{Topics: []string{c.Topic}, DataDir: c.DataDir, Logger: quiet.With("component", "kafka")})
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	t.broker = broker
	t.brokers = broker.Brokers()
	p, err := pipeline.New(pipeline.Config{
		Brokers:           broker.Brokers(),
		Topic:             c.Topic,
		OutputTopic:       t.outputTopic,
		DeadLetterTopic:   t.deadLetterTopic,
		WriteKeys:         []string{t.writeKey},
		Destinations:      []string{t.webhookURL},
		DestinationSecret: t.secret,
		Signature:         c.SignatureScheme.String(), // issue 14: the same scheme as our webhook
		Faults:            c.Faults,
		MaxAttempts:       embeddedMaxAttempts,
		BackoffMin:        EmbeddedBackoffMin,
		BackoffMax:        embeddedBackoffMax,
		Stats:             stats.NewEngine("pipeline", h),
		Logger:            plog,
	})
	if err != nil {
		broker.Close()
		return nil, fmt.Errorf("embedded pipeline: %w", err)
	}
	t.pipeline = p
	ln, err := netx.Listen("tcp", "127.0.0.1:0", netx.Config{Logger: plog}) // issue 14: bounded conns and idle time, accept errors retried
	if err != nil {
		t.Close(context.Background(), logger) // the pipeline and the broker
		return nil, fmt.Errorf("embedded pipeline: %w", err)
	}
	t.apiURL = "http://" + ln.Addr().String()
	t.srv = &http.Server{
		Handler:           p.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(plog.Handler(), slog.LevelWarn),
	}
	t.srvDone = make(chan struct{})
	go func() {
		defer close(t.srvDone)
		if err := t.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			plog.Error("embedded pipeline server failed", "err", err)
		}
	}()
	if err := p.Start(ctx); err != nil {
		t.Close(context.Background(), logger)
		return nil, fmt.Errorf("embedded pipeline: start: %w", err)
	}
	logger.Info("embedded pipeline started", "api", t.apiURL, "kafka", broker.Addr(), "destination", t.webhookURL, "faults", c.Faults.String())
	return t, nil
}

// Close stops the embedded pipeline, its server and broker (nothing for an external target).
// In-flight deliveries get pipelineCloseGrace to finish.
func (t *target) Close(ctx context.Context, logger *slog.Logger) {
	if t.pipeline != nil {
		cctx, cancel := context.WithTimeout(ctx, pipelineCloseGrace)
		if err := t.pipeline.Close(cctx); err != nil {
			logger.Debug("embedded pipeline closed with deliveries abandoned", "err", err)
		}
		cancel()
	}
	if t.srv != nil {
		cctx, cancel := context.WithTimeout(ctx, shutdownGrace)
		if err := t.srv.Shutdown(cctx); err != nil {
			_ = t.srv.Close()
		}
		cancel()
		<-t.srvDone
	}
	if t.broker != nil {
		t.broker.Close()
	}
}
