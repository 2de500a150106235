package tests

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/orbital-e2e/orbital/internal/redact"
	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

// Defaults of the Harness fields.
const (
	DefaultTopic        = "events"
	DefaultDedupeWindow = time.Second
	DefaultHTTPTimeout  = 10 * time.Second
	// DefaultDeliveryTimeout is how long a run without a deadline waits for a delivery.
	DefaultDeliveryTimeout = 20 * time.Second
)

// Default periods of the suites, as Cases registers them.
const (
	TrackPeriod       = 30 * time.Second
	BatchPeriod       = time.Minute
	AnalyticsGoPeriod = time.Minute
	KafkaPeriod       = 30 * time.Second
	BrowserPeriod     = 2 * time.Minute
	DedupePeriod      = time.Minute
	RejectPeriod      = time.Minute
)

// BatchSize is the number of events the batch suite sends in one request.
const BatchSize = 20

// ErrHarness is wrapped by the errors Register returns for a Harness that
// cannot work.
var ErrHarness = errors.New("tests: invalid harness")

// Harness holds everything the suites need to reach the pipeline under test.
// Every field but APIURL and Waiter works at its zero value.
//
// Which outcome a problem gives: anything the pipeline does wrong (an event
// not delivered, delivered twice, changed, badly signed; the API refusing a
// valid request) fails the run, and so does a Harness that cannot work (no
// APIURL, no Waiter, a required Chrome that is missing: see RequireChrome).
// Trouble on the prober's own side, which says nothing about the pipeline,
// makes the run [orbital.Inconclusive]: the browser crashing in the middle
// of a run of the browser suite, or a delivery that did not arrive while
// Health reports an error (the cluster relay is unreachable, so the
// delivery may have landed on another replica). A run cut short by the
// service stopping or a cancelled manual run is inconclusive too (package
// orbital decides that). A missing optional Chrome skips the browser suite.
//
// Cases reads the Harness once: changing it afterwards does not change the
// cases already made. The cases themselves are safe for concurrent use, so
// any number of runs of any suite may overlap.
type Harness struct {
	// APIURL is the tracking API's base URL, e.g. "http://127.0.0.1:8081"
	// (without /v1). Required.
	APIURL string
	// WriteKey is the tracking API's write key, sent as the HTTP Basic user
	// name. It is a secret: it never appears in logs or failure messages.
	WriteKey string
	// Brokers are the Kafka brokers of the kafka suite. Default: none, and
	// then the kafka case is not part of Cases.
	Brokers []string
	// Topic is the pipeline's ingest topic. Default: "events".
	Topic string
	// OutputTopic is the pipeline's Kafka output topic, if it has one: the
	// kafka suite then also waits for its event there (package kafkasource).
	// Default: none.
	OutputTopic string
	// Waiter receives the pipeline's deliveries, keyed by the JSON field
	// messageId ([MessageID]). Required.
	Waiter *webhook.RouteLogger
	// WebhookURL is the public URL of the webhook the pipeline delivers to.
	// It is only informational: failures mention it, without its user
	// info, query and fragment (they may hold a token). Default: none.
	WebhookURL string
	// WebhookSecret, when set, makes every suite re-verify the signature
	// of each delivery (webhook.VerifySignature: Standard Webhooks'
	// webhook-signature, or else X-Signature, the hex HMAC-SHA256 of the
	// body, optionally prefixed "sha256="). Default: none, signatures are
	// not checked. It is a secret.
	WebhookSecret []byte
	// ChromePath is the Chromium or Chrome binary of the browser suite.
	// Default: the first of chromium, chromium-browser, google-chrome and
	// google-chrome-stable found on PATH.
	ChromePath string
	// BrowserURL is where this process serves NewBrowserPage(AnalyticsJSDir),
	// the page the browser suite loads (e2e mounts it at BrowserPagePath).
	// Default: each browser run serves that page on a loopback port of its own.
	BrowserURL string
	// AnalyticsJSDir is where the installed @segment/analytics-next is: its
	// package directory or a node_modules directory. Default: what
	// FindAnalyticsJS finds (tests/node_modules or node_modules of the
	// working directory or a parent). Without it the browser suite falls
	// back to the example pipeline's snippet and says so.
	AnalyticsJSDir string
	// CDNURL is where analytics.js fetches its source settings
	// (GET <CDNURL>/v1/projects/<writeKey>/settings), which name the API it
	// sends to. Default: APIURL (the example pipeline serves them); for
	// Segment itself, https://cdn.segment.com.
	CDNURL string
	// RequireChrome makes a missing browser binary fail the browser suite
	// instead of skipping it (ORBITAL_REQUIRE_CHROME=1 in CI). A browser
	// that starts and then crashes mid-run makes the run inconclusive
	// either way.
	RequireChrome bool
	// DedupeWindow is how long the suites watch for a second delivery of an
	// event (and for any delivery of a rejected one) after the first.
	// Default: 1s. It is shortened when a run's deadline leaves less time.
	DedupeWindow time.Duration
	// DeliveryTimeout is how long a run waits for each delivery before it fails with
	// "messageId X not delivered within D". Default: what the run's deadline leaves, minus a
	// tenth of it (100ms to 5s) kept for the reporting after it, so a lost event is reported
	// as a failure, never as a run timeout.
	DeliveryTimeout time.Duration
	// HTTPClient sends the requests to the tracking API. Default: a client
	// with a 10s timeout.
	HTTPClient *http.Client
	// Logger receives a line for each failed run, with the case, the
	// messageIds and the webhook URL. Default: slog.Default().
	Logger *slog.Logger
	// Tap, when set, reads the pipeline's Kafka topics (its ingest topic,
	// its dead-letter topic...) so that every run's Trail holds where its
	// event was seen, and a failed run says where it stopped: "the API
	// answered 200 but the event never reached Kafka", "dead-lettered after
	// 5 attempts". The caller starts and closes it. Default: none; a Trail
	// then holds what the HTTP side saw.
	Tap *kafkatap.Tap
	// TraceURL links failed runs to the user's tracing UI: every
	// "{trace_id}" becomes the run's W3C trace-id (orbital.W3CTraceID, the
	// trace id of the traceparent every request and message carries), e.g.
	// "https://tracing.example/trace/{trace_id}". Default: none.
	TraceURL string
	// Health, when set, is asked why deliveries may not arrive when a run
	// gives up waiting for one; a non-nil answer (in cluster mode: the relay's
	// Kafka is unreachable, so deliveries that land on another replica
	// cannot be routed here) makes the run inconclusive rather than failed,
	// with the answer in its Result.Error. Default: none.
	Health func() error
}

// suites is a Harness with its defaults resolved; its methods are the
// suites. It is never modified after Cases made it.
type suites struct {
	api, writeKey, topic, webhookURL string
	outputTopic                      string
	cdn, browserURL                  string
	page                             *BrowserPage
	brokers                          []string
	waiter                           *webhook.RouteLogger
	secret                           []byte
	chromePath                       string
	requireChrome                    bool
	window, deliveryTimeout          time.Duration
	client                           *http.Client
	log                              *slog.Logger
	health                           func() error
	tap                              *kafkatap.Tap
	traceURL                         string
	secrets                          *redact.Secrets // the write key, for messages
}

func (h *Harness) resolve() *suites {
	s := &suites{
		api:             strings.TrimRight(h.APIURL, "/"),
		writeKey:        h.WriteKey,
		topic:           h.Topic,
		outputTopic:     h.OutputTopic,
		cdn:             strings.TrimRight(h.CDNURL, "/"),
		browserURL:      h.BrowserURL,
		webhookURL:      redact.URL(h.WebhookURL),
		secrets:         redact.NewSecrets(map[string]string{"write-key": h.WriteKey}),
		brokers:         append([]string(nil), h.Brokers...),
		waiter:          h.Waiter,
		secret:          append([]byte(nil), h.WebhookSecret...),
		chromePath:      h.ChromePath,
		requireChrome:   h.RequireChrome,
		window:          h.DedupeWindow,
		deliveryTimeout: h.DeliveryTimeout,
		client:          h.HTTPClient,
		log:             h.Logger,
		health:          h.Health,
		tap:             h.Tap,
		traceURL:        h.TraceURL,
	}
	if s.cdn == "" {
		s.cdn = s.api
	}
	if s.browserURL == "" {
		s.page = NewBrowserPage(h.AnalyticsJSDir)
	}
	if s.topic == "" {
		s.topic = DefaultTopic
	}
	if s.window <= 0 {
		s.window = DefaultDedupeWindow
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Cases returns every suite as an orbital.TestCase with its default period:
// track 30s, batch 1m, analytics-go 1m, kafka 30s (only when Brokers is set), browser 2m,
// dedupe 1m, reject 1m. Their Timeout is 0, the service default. A Harness
// without APIURL or Waiter gives cases whose runs fail saying so; Register
// refuses it.
func (h *Harness) Cases() []orbital.TestCase {
	s := h.resolve()
	cases := []orbital.TestCase{
		{Name: "track", Period: TrackPeriod, Func: s.track},
		{Name: "batch", Period: BatchPeriod, Func: s.batch},
		{Name: "analytics-go", Period: AnalyticsGoPeriod, Func: s.analyticsGo},
	}
	if len(s.brokers) > 0 {
		cases = append(cases, orbital.TestCase{Name: "kafka", Period: KafkaPeriod, Func: s.kafka})
	}
	return append(cases,
		orbital.TestCase{Name: "browser", Period: BrowserPeriod, Func: s.browser},
		orbital.TestCase{Name: "dedupe", Period: DedupePeriod, Func: s.dedupe},
		orbital.TestCase{Name: "reject", Period: RejectPeriod, Func: s.reject},
	)
}

// Register registers every case of h.Cases on svc. It returns an error
// wrapping ErrHarness when h has no APIURL or no Waiter, and the error of
// svc.Register (wrapping orbital.ErrInvalidCase) when a case is refused, for
// example because one of that name is already registered.
func Register(svc *orbital.Service, h *Harness) error {
	if h == nil {
		return fmt.Errorf("%w: nil Harness", ErrHarness)
	}
	if err := h.check(); err != nil {
		return err
	}
	for _, tc := range h.Cases() {
		if err := svc.Register(tc); err != nil {
			return fmt.Errorf("tests: register %s: %w", tc.Name, err)
		}
	}
	return nil
}

func (h *Harness) check() error {
	if strings.TrimSpace(h.APIURL) == "" {
		return fmt.Errorf("%w: APIURL is required", ErrHarness)
	}
	if !strings.HasPrefix(h.APIURL, "http://") && !strings.HasPrefix(h.APIURL, "https://") {
		return fmt.Errorf("%w: APIURL %q is not an http(s) URL", ErrHarness, h.APIURL)
	}
	if h.Waiter == nil {
		return fmt.Errorf("%w: Waiter is required", ErrHarness)
	}
	return nil
}

// ready fails the run at once when the Harness cannot work.
func (s *suites) ready(o *orbital.O) {
	o.Helper()
	if s.api == "" {
		o.Fatal("harness has no APIURL")
	}
	if s.waiter == nil {
		o.Fatal("harness has no Waiter")
	}
}
