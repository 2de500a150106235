// Package e2e is the e2e binary's server: the HTTP front (orbital/server), the pipeline under
// test (the embedded broker and example pipeline, or a remote one), the orbital Service with
// the suites of package tests registered, the status page and, in cluster mode, the cluster
// node — built in dependency order by New and stopped in the reverse order by Close. The
// commands of cmd/e2e (serve, gate, load, list) are small policies over a Server.
package e2e

import (
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/config"
	"github.com/orbital-e2e/orbital/internal/output"
	"github.com/orbital-e2e/orbital/internal/redact"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

// Config configures a Server. The zero value runs every suite on the embedded default,
// listening on 127.0.0.1:0 (set Addr for a fixed address).
type Config struct {
	// Addr is the listen address of /, /webhook, /metrics, /healthz and /readyz.
	// Default: "127.0.0.1:0".
	Addr string
	// API is the tracking API base URL of the pipeline under test. "" starts the embedded
	// default: an in-process Kafka broker and the example pipeline delivering to this
	// server's /webhook.
	API string
	// WriteKey is the tracking API's write key (secret). Embedded default: random.
	WriteKey string
	// Brokers are the Kafka brokers of the kafka suite and of cluster mode. Embedded
	// default: the embedded broker.
	Brokers []string
	// Topic is the pipeline's ingest topic. Default: "events".
	Topic string
	// OutputTopic is the pipeline's Kafka output topic: the kafka suite also waits for its
	// event there. Embedded default: "<Topic>-processed", which the embedded pipeline feeds.
	OutputTopic string
	// TapTopics are the pipeline's Kafka topics the tap reads (issue 17), so every run's trail
	// holds where its event was seen and a failed run says where it stopped. nil: the
	// default, on the embedded pipeline its ingest, dead-letter and output topics; with API
	// and Brokers, Topic and OutputTopic; without brokers no tap. Empty (not nil): no tap.
	TapTopics []string
	// TraceURL links runs to the user's tracing UI ("{trace_id}" becomes the run's W3C
	// trace-id): on the status page and in failure messages. Default: none.
	TraceURL string
	// WebhookURL is the public URL of this server's /webhook the pipeline delivers to.
	// Embedded default: this server's own address.
	WebhookURL string
	// WebhookSecret is the HMAC secret of the deliveries' signatures (secret). Embedded
	// default: random. Empty with API: deliveries are not verified (logged as a warning).
	WebhookSecret string
	// SignatureScheme is how deliveries are signed (issue 14): Standard Webhooks (the
	// default: webhook-id, webhook-timestamp, webhook-signature; stale timestamps refused,
	// replays and retries answered without a second delivery) or X-Signature. The embedded
	// pipeline signs the same way.
	SignatureScheme webhook.Scheme
	// Faults are injected into the embedded pipeline (not allowed with API).
	Faults pipeline.Faults
	// Run selects the cases by name. Default (nil): every case.
	Run *regexp.Regexp
	// Overrides change the suites' periods, timeouts and enablement.
	Overrides config.Overrides
	// Timeout is the per-run timeout of cases without one of their own. Default: 2m.
	Timeout time.Duration
	// ChromePath is the browser suite's Chromium binary. Default: looked up on PATH.
	ChromePath string
	// RequireChrome fails the browser suite when no Chromium is found instead of
	// skipping it.
	RequireChrome bool
	// CDNURL is where the browser suite's analytics.js fetches its source settings
	// (<CDNURL>/v1/projects/<write key>/settings). Default: API (the example pipeline
	// serves them); Segment itself: https://cdn.segment.com.
	CDNURL string
	// AdminToken is the bearer token of the status page's manual runs (secret). "": none.
	AdminToken string
	// History is how many runs the status page keeps per case. Default: 200.
	History int
	// Drain is the grace of runs in flight after Run's context ends. Default: 0, runs
	// are cancelled at once (cmd/e2e sets 30s).
	Drain time.Duration
	// Statsd also sends metrics to this Datadog/statsd agent (UDP host:port).
	Statsd string
	// Cluster turns on cluster mode over Brokers (the embedded broker without API).
	Cluster bool
	// ClusterTopic is the topic prefix of cluster mode. Default: "orbital".
	ClusterTopic string
	// DataDir makes the embedded broker persist its topics in this directory, and the
	// status history (kept on the results topic "<ClusterTopic>-results" of that broker)
	// survive a restart. Default "": memory only. Cluster mode always shares its results
	// through that topic on the cluster's Kafka.
	DataDir string
	// ReplicaID names this process on the status page's runs (and, in cluster mode, in the
	// cluster). Default: the host name and random hex digits.
	ReplicaID string
	// Version is shown on the status page.
	Version string
	// Logger is the process logger. Default: slog.Default().
	Logger *slog.Logger
	// Output receives each run's go test style output. Default: io.Discard.
	Output io.Writer
	// Reporters receive every result, besides the status page.
	Reporters []orbital.Reporter
	// Streams are the process's non-blocking stdout and stderr: their dropped bytes are
	// counted in orbital_output_dropped_bytes_total{stream}.
	Streams []*output.Writer
	// OnPipeline, when set, is called with the embedded pipeline once it started (tests
	// inject faults with its SetFaults, as --faults or PUT /admin/faults would).
	OnPipeline func(*pipeline.Pipeline)
}

// ConfigError is a usage or configuration error found while building a Server (e2e exits
// with status 2 for it).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(err error) error { return &ConfigError{err} }

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Topic == "" {
		c.Topic = "events"
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	if c.ClusterTopic == "" {
		c.ClusterTopic = "orbital"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Output == nil {
		c.Output = io.Discard
	}
	if c.Run == nil {
		c.Run = regexp.MustCompile("")
	}
	switch {
	case c.Timeout < 0:
		return c, configErr(errors.New("timeout must be positive"))
	case c.API != "" && !c.Faults.IsZero():
		return c, configErr(errors.New("--faults applies to the embedded pipeline only; it cannot be used with --api"))
	case c.API != "" && c.DataDir != "":
		return c, configErr(errors.New("--data-dir applies to the embedded broker only; it cannot be used with --api"))
	case c.API != "" && c.WriteKey == "":
		return c, configErr(errors.New("--write-key (ORBITAL_WRITE_KEY) is required with --api"))
	}
	return c, nil
}

// LogValue describes the configuration for a log line with every secret masked and URL
// credentials removed.
func (c Config) LogValue() slog.Value {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "<set>"
	}
	target := redact.URL(c.API)
	if target == "" {
		target = "embedded"
	}
	run := ""
	if c.Run != nil {
		run = c.Run.String()
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("target", target),
		slog.String("write_key", mask(c.WriteKey)),
		slog.String("webhook_secret", mask(c.WebhookSecret)),
		slog.String("admin_token", mask(c.AdminToken)),
		slog.String("kafka_brokers", strings.Join(c.Brokers, ",")),
		slog.String("kafka_topic", c.Topic),
		slog.String("webhook_url", redact.URL(c.WebhookURL)),
		slog.String("faults", c.Faults.String()),
		slog.String("run", run),
		slog.String("timeout", c.Timeout.String()),
		slog.String("case_period", c.Overrides.Period.String()),
		slog.String("case_timeout", c.Overrides.Timeout.String()),
		slog.String("statsd", c.Statsd),
		slog.String("data_dir", c.DataDir),
		slog.String("tap_topics", strings.Join(c.TapTopics, ",")),
		slog.String("trace_url", redact.URL(c.TraceURL)),
	)
}
