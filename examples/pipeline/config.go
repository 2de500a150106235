package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	stats "github.com/segmentio/stats/v4"
)

// Config configures a Pipeline. Only Brokers is required; every other field
// works at its zero value and documents its default.
type Config struct {
	// Brokers is the Kafka bootstrap list (host:port). Required.
	Brokers []string

	// Topic receives ingested events. Default: "events".
	Topic string

	// DeadLetterTopic receives events whose delivery failed for good.
	// Default: "events-dead-letter".
	DeadLetterTopic string

	// OutputTopic, when set, is a Kafka destination: every processed event is
	// also written to it (key: its messageId, value: the event as delivered
	// to the webhooks, faults included), as a pipeline that feeds a
	// downstream consumer does. Default: none.
	OutputTopic string

	// GroupID is the worker's consumer group. Default: "pipeline-worker".
	GroupID string

	// Partitions and ReplicationFactor are used when Start creates a missing
	// topic. Defaults: 3 and 1.
	Partitions, ReplicationFactor int

	// WriteKeys are the accepted write keys: the user name of the HTTP Basic
	// Authorization header (the password is ignored, as in Segment's API).
	// Empty means every ingest request is rejected with 401.
	WriteKeys []string

	// Destinations are the webhook URLs every event is POSTed to. With none,
	// events are consumed and committed but delivered nowhere.
	Destinations []string

	// DestinationSecret is the HMAC-SHA256 key deliveries are signed with.
	// Under Standard Webhooks a "whsec_<base64>" secret is decoded first
	// (see SecretKey). Default: empty key (deliveries are still signed).
	DestinationSecret []byte

	// Signature is how deliveries are signed: SignatureStandardWebhooks
	// (webhook-id, webhook-timestamp, webhook-signature) or
	// SignatureXSignature (X-Signature: hex HMAC of the body). Default:
	// SignatureStandardWebhooks.
	Signature string

	// Faults are the faults injected from the start; see SetFaults.
	Faults Faults

	// AdminToken guards PUT /admin/faults (Authorization: Bearer <token>).
	// Empty disables changing faults at run time (PUT answers 404).
	AdminToken string

	// MaxAttempts is the number of delivery attempts per destination before
	// an event is dead-lettered. Default: 5.
	MaxAttempts int

	// BackoffMin and BackoffMax bound the exponential backoff between
	// attempts: attempt n waits BackoffMin*2^(n-1) capped at BackoffMax, with
	// jitter (between half and all of that). Defaults: 100ms and 5s.
	BackoffMin, BackoffMax time.Duration

	// RetryAfterMax caps a destination's Retry-After header; the wait before
	// the next attempt is the larger of the backoff and the capped
	// Retry-After. Default: 30s.
	RetryAfterMax time.Duration

	// DeliveryTimeout bounds one delivery attempt. Default: 10s.
	DeliveryTimeout time.Duration

	// DedupeWindow is how many messageIds the worker remembers to drop
	// duplicates (oldest forgotten first). Default: 100000.
	DedupeWindow int

	// MaxInFlight bounds concurrent event deliveries. Default: 256.
	MaxInFlight int

	// MaxUncommitted bounds events read from Kafka but not yet committed
	// (finished events behind a slow one); reading pauses at the bound.
	// Default: 10000.
	MaxUncommitted int

	// CommitInterval is how often finished offsets are committed.
	// Default: 100ms.
	CommitInterval time.Duration

	// ProduceTimeout bounds the wait for Kafka's acknowledgement of an
	// ingest request; past it the request gets 503. Default: 5s.
	ProduceTimeout time.Duration

	// WriterBatchTimeout is how long the Kafka writer waits to fill a batch
	// shared by concurrent requests. Default: 2ms.
	WriterBatchTimeout time.Duration

	// HTTPClient delivers to destinations. Default: a client with a
	// transport tuned for many concurrent deliveries to few hosts.
	HTTPClient *http.Client

	// Stats receives the metrics of docs/metrics.md, without prefix.
	// Default: discarded.
	Stats *stats.Engine

	// Logger receives the pipeline's logs. Default: discarded.
	Logger *slog.Logger
}

const (
	defaultTopic           = "events"
	defaultDeadLetterTopic = "events-dead-letter"
	defaultGroupID         = "pipeline-worker"
)

// withDefaults returns a copy of c with defaults applied, or an error
// describing the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if len(c.Brokers) == 0 {
		return c, errors.New("pipeline: Config.Brokers is required")
	}
	for _, d := range c.Destinations {
		u, err := url.Parse(d)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("pipeline: destination %q is not an http(s) URL", redactURL(d))
		}
	}
	switch c.Signature {
	case "":
		c.Signature = SignatureStandardWebhooks
	case SignatureStandardWebhooks, SignatureXSignature:
	default:
		return c, fmt.Errorf("pipeline: Signature %q is neither %q nor %q", c.Signature, SignatureStandardWebhooks, SignatureXSignature)
	}
	if err := c.Faults.validate(); err != nil {
		return c, fmt.Errorf("pipeline: %w", err)
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Topic, defaultTopic)
	def(&c.DeadLetterTopic, defaultDeadLetterTopic)
	def(&c.GroupID, defaultGroupID)
	if c.Topic == c.DeadLetterTopic {
		return c, fmt.Errorf("pipeline: Topic and DeadLetterTopic are both %q", c.Topic)
	}
	if c.OutputTopic != "" && (c.OutputTopic == c.Topic || c.OutputTopic == c.DeadLetterTopic) {
		return c, fmt.Errorf("pipeline: OutputTopic %q is also the ingest or dead-letter topic", c.OutputTopic)
	}
	defInt(&c.Partitions, 3)
	defInt(&c.ReplicationFactor, 1)
	defInt(&c.MaxAttempts, 5)
	defDur(&c.BackoffMin, 100*time.Millisecond)
	defDur(&c.BackoffMax, 5*time.Second)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	defDur(&c.RetryAfterMax, 30*time.Second)
	defDur(&c.DeliveryTimeout, 10*time.Second)
	defInt(&c.DedupeWindow, 100000)
	defInt(&c.MaxInFlight, 256)
	defInt(&c.MaxUncommitted, 10000)
	defDur(&c.CommitInterval, 100*time.Millisecond)
	defDur(&c.ProduceTimeout, 5*time.Second)
	defDur(&c.WriterBatchTimeout, 2*time.Millisecond)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}}
	}
	if c.Stats == nil {
		c.Stats = stats.NewEngine("", stats.Discard)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Brokers = append([]string(nil), c.Brokers...)
	c.WriteKeys = append([]string(nil), c.WriteKeys...)
	c.Destinations = append([]string(nil), c.Destinations...)
	c.DestinationSecret = append([]byte(nil), c.DestinationSecret...)
	return c, nil
}

// redactURL returns u with any password replaced, for logs and errors.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "<unparseable URL>"
	}
	return p.Redacted()
}
