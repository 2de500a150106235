package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/config"
	"github.com/orbital-e2e/orbital/internal/e2e"
	"github.com/orbital-e2e/orbital/internal/logging"
	"github.com/orbital-e2e/orbital/internal/redact"
	"github.com/orbital-e2e/orbital/orbital/status"
	"github.com/orbital-e2e/orbital/webhook"
	"github.com/peterbourgon/ff/v3"
)

// envPrefix is the prefix of every flag's environment variable.
const envPrefix = "ORBITAL"

var errHelp = flag.ErrHelp

// options are the parsed flags of one command: the server's configuration, and what only
// one command uses. Secrets (write key, webhook secret, admin token) are never logged or
// printed (see LogValue).
type options struct {
	cfg e2e.Config

	// raw flag values, turned into cfg by validate
	kafkaBrokers string
	tapTopics    string // --tap-topics (issue 17); "default" until set
	faults       string
	signature    string // --signature-scheme (issue 14)
	run          string
	configPath   string
	casePeriod   config.DurationMap
	caseTimeout  config.DurationMap
	disable      config.NameList
	enable       config.NameList
	logFormat    string
	logLevel     string

	// load only (serve with a load generator)
	loadRate            float64
	loadDuration        time.Duration
	loadDeliveryTimeout time.Duration
	loadConcurrency     int

	// broker only
	brokerAddr string

	// gate only
	count    int
	junit    string
	jsonOut  bool
	jsonFile string
	server   string        // --server: run on (or read the history of) this running service
	since    time.Duration // --since: read the history of the last D instead of running
}

// LogValue describes the options for a log line with every secret masked.
func (o *options) LogValue() slog.Value { return o.cfg.LogValue() }

// command is a subcommand: its flags, help text and behaviour.
type command struct {
	name, short, long string
	flags             func(fs *flag.FlagSet, o *options)
	exec              func(ctx context.Context, a *app, o *options) error
}

func commands() []*command {
	return []*command{serveCommand(), gateCommand(), loadCommand(), listCommand(), brokerCommand(), versionCommand()}
}

func serveCommand() *command {
	return &command{
		name:  "serve",
		short: "run every case on its period until SIGTERM/SIGINT, then drain (the default command)",
		long: `Runs every registered case on its period until SIGTERM or SIGINT, then stops scheduling,
waits up to --drain for runs in flight and shuts down. Serves on --addr:
  /          status page and JSON API (/api/...)
  /webhook   the pipeline's deliveries (signature verified with --webhook-secret)
  /metrics   Prometheus text format
  /healthz   200 while the process serves
  /readyz    200 once cases are registered and the webhook serves; 503 while draining
With no --api, starts an in-process Kafka broker and the example pipeline (the embedded default).`,
		flags: func(fs *flag.FlagSet, o *options) {
			commonFlags(fs, o, ":8080")
			fs.StringVar(&o.cfg.AdminToken, "admin-token", "", "bearer token for POST /api/cases/{name}/run and PUT /api/faults; empty disables them (secret)")
			fs.IntVar(&o.cfg.History, "history", 200, "runs kept per case for the status page")
			fs.DurationVar(&o.cfg.Drain, "drain", 30*time.Second, "grace for runs in flight after SIGTERM before they are cancelled")
			fs.StringVar(&o.cfg.Statsd, "statsd", "", "also send metrics to this Datadog/statsd agent (UDP host:port)")
			fs.BoolVar(&o.cfg.Cluster, "cluster", false, "cluster mode: replicas sharing --kafka-brokers (the embedded broker when no --api) relay deliveries to the waiting replica and run each case once per period cluster-wide")
			fs.StringVar(&o.cfg.ClusterTopic, "cluster-topic", "orbital", "topic prefix of cluster mode")
			fs.StringVar(&o.cfg.DataDir, "data-dir", "", "the embedded broker persists in this directory, so the status history (topic <cluster-topic>-results) survives a restart; empty: memory only")
			fs.StringVar(&o.cfg.ReplicaID, "replica", "", "name of this replica on the status page's runs and in the cluster (default: host name and random hex)")
		},
		exec: runServe,
	}
}

func gateCommand() *command {
	return &command{
		name:  "gate",
		short: "run the selected cases once, concurrently; exit 0 all passed, 1 any failed, 3 inconclusive, 2 usage error",
		long: `Runs every case selected by --run once (--count times), all concurrently, prints go test
style output and a final line "N passed, N failed" (", N skipped", ", N inconclusive" when
any), and writes --junit and --json reports. Exit status: 0 when every case passed (skips
allowed), 1 when any failed, 3 when none failed but some were inconclusive (the run could not
reach a verdict through no fault of the pipeline: interrupted by SIGTERM, the browser crashed,
the cluster relay was unreachable), 2 on a usage or configuration error. On a terminal, shows live progress and a summary
table. With no --api, runs against the embedded default; --faults injects faults into it.

With --server URL the cases run on the running service at URL instead (POST
/api/cases/{name}/run with --admin-token), all concurrently; a case busy with a scheduled run
is waited for (up to its timeout, or --timeout when longer) and then run. Nothing is started
locally and the pipeline needs no route to this machine. With --server URL --since D nothing
runs: the gate passes when every selected case has at least one passing run and no failing
run in the last D of the service's history (GET /api/runs?since=D), each run reported as a
test case. The reports and exit codes are the same; a service that cannot be reached or
refuses the token is exit 2.`,
		flags: func(fs *flag.FlagSet, o *options) {
			commonFlags(fs, o, "127.0.0.1:0")
			fs.IntVar(&o.count, "count", 1, "run each selected case this many times (rounds run one after another)")
			fs.StringVar(&o.junit, "junit", "", "write a JUnit XML report to this file")
			fs.BoolVar(&o.jsonOut, "json", false, "write go test -json style events to stdout (or to --json-file)")
			fs.StringVar(&o.jsonFile, "json-file", "", "write go test -json style events to this file")
			fs.StringVar(&o.server, "server", "", "base URL of a running e2e serve: run the cases there (or read its history with --since) instead of locally")
			fs.StringVar(&o.cfg.AdminToken, "admin-token", "", "with --server: the service's bearer token for POST /api/cases/{name}/run (secret)")
			fs.DurationVar(&o.since, "since", 0, "with --server: run nothing, pass when every selected case has a passing run and no failing run in the last D of the service's history")
		},
		exec: func(ctx context.Context, a *app, o *options) error {
			if o.server != "" {
				return runRemoteGate(ctx, a, o)
			}
			return runGate(ctx, a, o)
		},
	}
}

func loadCommand() *command {
	return &command{
		name:  "load",
		short: "serve under load: traced events at --rate for --duration, every one accounted for",
		long: `Runs the service as serve does (cases on their periods, status page, /metrics, /webhook)
and also sends traced track events into the tracking API at --rate per second for --duration.
Every event is declared on the webhook, sent, and waited for; the report adds up:
sent = matched + lost, with a reason for each lost event, plus throughput and send-to-delivery
p50/p99. SIGTERM/SIGINT or the end of --duration stop sending; events in flight keep their
deadline and runs in flight drain (--drain), so nothing is dropped or failed by the shutdown.
Exit status: 0 when no event was lost and no run failed, 1 otherwise, 2 on a usage error.`,
		flags: func(fs *flag.FlagSet, o *options) {
			commonFlags(fs, o, "127.0.0.1:0")
			fs.StringVar(&o.cfg.AdminToken, "admin-token", "", "bearer token for POST /api/cases/{name}/run and PUT /api/faults; empty disables them (secret)")
			fs.IntVar(&o.cfg.History, "history", 200, "runs kept per case for the status page")
			fs.DurationVar(&o.cfg.Drain, "drain", 30*time.Second, "grace for runs in flight after the load ends or SIGTERM")
			fs.Float64Var(&o.loadRate, "rate", 2000, "events sent per second")
			fs.DurationVar(&o.loadDuration, "duration", time.Minute, "how long events are sent")
			fs.DurationVar(&o.loadDeliveryTimeout, "delivery-timeout", 10*time.Second, "an event not delivered this long after its send is lost")
			fs.IntVar(&o.loadConcurrency, "concurrency", 1024, "bound on events in flight")
		},
		exec: runLoad,
	}
}

func listCommand() *command {
	return &command{
		name:  "list",
		short: "print the registered cases with their period and timeout (after overrides)",
		long:  `Prints every case the same flags would register, with its period and timeout after overrides.`,
		flags: func(fs *flag.FlagSet, o *options) {
			commonFlags(fs, o, ":8080")
		},
		exec: runList,
	}
}

func brokerCommand() *command {
	return &command{
		name:  "broker",
		short: "run the embedded Kafka-protocol broker on its own, for replicas in separate processes",
		long: `Runs the in-process Kafka-protocol broker of the embedded default on --addr until SIGTERM or
SIGINT, so that several "e2e serve --cluster --kafka-brokers ADDR" processes (and the example
pipeline) can share it. --data-dir persists its topics there; topics keep their own retention
(10 minutes by default, 24 hours for the results topic). Not a production Kafka.`,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.StringVar(&o.brokerAddr, "addr", "127.0.0.1:9092", "host:port the broker listens on and advertises (clients must be able to dial it)")
			fs.StringVar(&o.cfg.DataDir, "data-dir", "", "persist topics, records and offsets in this directory; empty: memory only")
			fs.StringVar(&o.logFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
			fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
		},
		exec: runBroker,
	}
}

func versionCommand() *command {
	return &command{
		name:  "version",
		short: "print the version",
		long:  `Prints the build version, the Go version and the platform.`,
		flags: func(fs *flag.FlagSet, o *options) {},
		exec:  runVersion,
	}
}

func commandByName(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

func commonFlags(fs *flag.FlagSet, o *options, addr string) {
	fs.StringVar(&o.cfg.Addr, "addr", addr, "listen address of /, /webhook, /metrics, /healthz and /readyz")
	fs.StringVar(&o.cfg.API, "api", "", "tracking API base URL of the pipeline under test; empty: the embedded default (in-process Kafka and example pipeline)")
	fs.StringVar(&o.cfg.WriteKey, "write-key", "", "write key of the tracking API; embedded default: random (secret)")
	fs.StringVar(&o.kafkaBrokers, "kafka-brokers", "", "comma-separated Kafka brokers of the kafka suite; none: no kafka case (embedded: the embedded broker)")
	fs.StringVar(&o.cfg.Topic, "kafka-topic", "events", "the pipeline's ingest topic")
	fs.StringVar(&o.cfg.OutputTopic, "kafka-output-topic", "", "the pipeline's Kafka output topic, if it has one: the kafka suite also waits for its event there (embedded default: <kafka-topic>-processed)")
	fs.StringVar(&o.tapTopics, "tap-topics", tapDefault, `comma-separated Kafka topics of the pipeline the tap reads (with --kafka-brokers), so a failed run says where its event stopped, e.g. "events,events-dead-letter"; "none": no tap (default: embedded: <kafka-topic>, events-dead-letter and the output topic; with --kafka-brokers: <kafka-topic> and --kafka-output-topic)`) // issue 17
	fs.StringVar(&o.cfg.TraceURL, "trace-url", "", `link of a run in your tracing UI, "{trace_id}" replaced by the run's W3C trace-id, e.g. "https://tracing.example/trace/{trace_id}": on the status page and in failure messages`)                                                                                                                                                    // issue 17
	fs.StringVar(&o.cfg.WebhookURL, "webhook-url", "", "public URL of this service's /webhook (embedded default: set automatically)")
	fs.StringVar(&o.cfg.WebhookSecret, "webhook-secret", "", "HMAC-SHA256 secret of the deliveries' signature; embedded default: random (secret)")
	fs.StringVar(&o.signature, "signature-scheme", webhook.SchemeNameStandardWebhooks, `how deliveries are signed: "standard-webhooks" (webhook-id, webhook-timestamp, webhook-signature; replays refused) or "x-signature" (hex HMAC of the body)`) // issue 14
	fs.StringVar(&o.faults, "faults", "", `faults injected into the embedded pipeline, e.g. "drop=0.1,dup=0.05,delay=200ms,corrupt=0.01,dest5xx=0.2,lose=0.1"`)
	fs.StringVar(&o.run, "run", "", "regular expression selecting the cases by name (default: all)")
	fs.DurationVar(&o.cfg.Timeout, "timeout", 2*time.Minute, "per-run timeout of cases without one of their own")
	fs.StringVar(&o.configPath, "config", "", `JSON (or .yaml) file of per-case overrides: {"cases": {"track": {"period": "30s", "timeout": "20s", "enabled": true}}}`)
	o.casePeriod, o.caseTimeout = config.DurationMap{}, config.DurationMap{}
	fs.Var(o.casePeriod, "case-period", "override a case's period: name=duration, repeatable or comma-separated (track=10s,batch=1m)")
	fs.Var(o.caseTimeout, "case-timeout", "override a case's timeout: name=duration, repeatable or comma-separated")
	fs.Var(&o.disable, "disable", "disable cases by name, repeatable or comma-separated (browser,kafka)")
	fs.Var(&o.enable, "enable", "enable cases the config file disables, repeatable or comma-separated")
	fs.StringVar(&o.cfg.ChromePath, "chrome-path", "", "Chromium binary of the browser suite (default: chromium, chromium-browser or google-chrome on PATH)")
	fs.BoolVar(&o.cfg.RequireChrome, "require-chrome", false, "fail the browser suite when no Chromium is found instead of skipping it")
	fs.StringVar(&o.cfg.CDNURL, "cdn-url", "", "where the browser suite's analytics.js fetches its source settings, <url>/v1/projects/<write key>/settings (default: --api; Segment itself: https://cdn.segment.com)") // orbital#18
	fs.StringVar(&o.logFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// parse parses args and the environment into options and validates them. A usage or
// configuration problem is returned as an error (exit 2); --help as errHelp.
func (a *app) parse(cmd *command, args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("e2e "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cmd.flags(fs, o)
	err := ff.Parse(fs, args, ff.WithEnvVarPrefix(envPrefix))
	if errors.Is(err, flag.ErrHelp) {
		return nil, errHelp
	}
	if err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	switch cmd.name {
	case "version":
		return o, nil
	case "broker":
		return o, o.validateBroker()
	}
	if err := o.validate(cmd.name); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *options) validate(cmd string) error {
	c := &o.cfg
	if err := logging.CheckFormat(o.logFormat); err != nil {
		return err
	}
	if _, err := logging.ParseLevel(o.logLevel); err != nil {
		return err
	}
	re, err := regexp.Compile(o.run)
	if err != nil {
		return fmt.Errorf("invalid --run regexp: %w", err)
	}
	c.Run = re
	if c.SignatureScheme, err = webhook.ParseScheme(o.signature); err != nil { // issue 14
		return fmt.Errorf("invalid --signature-scheme %q: want %q or %q", o.signature, webhook.SchemeNameStandardWebhooks, webhook.SchemeNameXSignature)
	}
	if c.Faults, err = pipeline.ParseFaults(o.faults); err != nil {
		return fmt.Errorf("invalid --faults: %w", err)
	}
	if c.API != "" && !c.Faults.IsZero() {
		return errors.New("--faults applies to the embedded pipeline only; it cannot be used with --api")
	}
	if c.API != "" {
		if err := checkBaseURL(c.API); err != nil {
			return fmt.Errorf("invalid --api %q: %w", redact.URL(c.API), err)
		}
		if c.WriteKey == "" {
			return errors.New("--write-key (ORBITAL_WRITE_KEY) is required with --api")
		}
	}
	if c.CDNURL != "" { // orbital#18
		if err := checkBaseURL(c.CDNURL); err != nil {
			return fmt.Errorf("invalid --cdn-url %q: %w", redact.URL(c.CDNURL), err)
		}
	}
	if c.Timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	if c.Topic == "" {
		return errors.New("--kafka-topic must not be empty")
	}
	if err := o.kafkaFlags(); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("invalid --addr %q: want host:port", c.Addr)
	}
	if c.Overrides, err = o.overrides(); err != nil {
		return err
	}
	return o.validateCommand(cmd)
}

// checkBaseURL accepts a plain http(s) base URL: a host, no user info (the write key goes in
// --write-key), no query and no fragment (the suites append /v1/... paths to it).
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("user info is not allowed (give the write key with --write-key)")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("a query is not allowed: want a base URL the suites append /v1/... to")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("a fragment is not allowed")
	}
	if _, err := url.Parse(u.Scheme + "://" + u.Host); err != nil {
		return errors.New("invalid host")
	}
	return nil
}

// overrides merges the per-case flags with the --config file.
func (o *options) overrides() (config.Overrides, error) {
	flagOverrides := config.Overrides{Period: o.casePeriod, Timeout: o.caseTimeout, Enabled: map[string]bool{}}
	for _, n := range o.enable {
		flagOverrides.Enabled[n] = true
	}
	for _, n := range o.disable {
		if flagOverrides.Enabled[n] {
			return config.Overrides{}, fmt.Errorf("case %s is both enabled and disabled", n)
		}
		flagOverrides.Enabled[n] = false
	}
	var file config.File
	if o.configPath != "" {
		var err error
		if file, err = config.Load(o.configPath); err != nil {
			return config.Overrides{}, err
		}
	}
	return flagOverrides.Merge(file), nil
}

// validateCommand checks the flags only some commands have.
func (o *options) validateCommand(cmd string) error {
	c := &o.cfg
	switch cmd {
	case "load":
		switch {
		case o.loadRate <= 0:
			return errors.New("--rate must be positive")
		case o.loadDuration <= 0:
			return errors.New("--duration must be positive")
		case o.loadDeliveryTimeout <= 0:
			return errors.New("--delivery-timeout must be positive")
		case o.loadConcurrency <= 0:
			return errors.New("--concurrency must be positive")
		}
		fallthrough
	case "serve":
		switch {
		case c.History <= 0:
			return errors.New("--history must be positive")
		case c.Drain < 0:
			return errors.New("--drain must not be negative")
		case c.Cluster && c.ClusterTopic == "":
			return errors.New("--cluster-topic must not be empty")
		}
		if c.Statsd != "" {
			if _, err := net.ResolveUDPAddr("udp", c.Statsd); err != nil {
				return fmt.Errorf("invalid --statsd %q: %w", c.Statsd, err)
			}
		}
	case "gate":
		if o.count < 1 {
			return errors.New("--count must be at least 1")
		}
		if o.jsonOut && o.jsonFile != "" {
			return errors.New("use either --json (events on stdout) or --json-file, not both")
		}
		return o.validateServer()
	}
	return nil
}

// validateServer checks the flags of `e2e gate --server`.
func (o *options) validateServer() error {
	switch {
	case o.server == "" && o.since != 0:
		return errors.New("--since reads a running service's history: it needs --server")
	case o.server == "":
		return nil
	case o.since < 0 || o.since > status.MaxSince:
		return fmt.Errorf("--since must be positive and at most %s", status.MaxSince)
	case o.faults != "" || o.cfg.API != "":
		return errors.New("--faults and --api configure a local gate's pipeline; with --server the service runs against its own")
	case o.since == 0 && o.cfg.AdminToken == "":
		return errors.New("--admin-token (ORBITAL_ADMIN_TOKEN) is required with --server: the service's token for POST /api/cases/{name}/run")
	}
	if err := checkBaseURL(o.server); err != nil {
		return fmt.Errorf("invalid --server %q: %w", redact.URL(o.server), err)
	}
	return nil
}

// printHelp writes the overview of every command and its flags.
func (a *app) printHelp(w io.Writer, args []string) {
	if len(args) > 0 {
		if c := commandByName(args[0]); c != nil {
			printCommandUsage(w, c)
			return
		}
	}
	fmt.Fprint(w, `e2e — orbital's perpetual end-to-end tests for event pipelines, and a CI release gate.

Usage:
  e2e [serve] [flags]   run every case on its period until SIGTERM (the default command)
  e2e gate [flags]      run the selected cases once; exit 0 all passed, 1 any failed, 3 inconclusive, 2 usage error
  e2e list [flags]      print the cases with period and timeout
  e2e version           print the version
  e2e help [command]    this help, or a command's

Every flag also reads the environment variable ORBITAL_<FLAG>: upper case, '-' becomes '_'
(--webhook-secret → ORBITAL_WEBHOOK_SECRET). A flag on the command line wins over the
environment. Repeatable flags take comma-separated lists in the environment.

`)
	for _, c := range commands() {
		printCommandUsage(w, c)
		fmt.Fprintln(w)
	}
}

// printCommandUsage writes a command's description and every flag with its environment
// variable and default.
func printCommandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "e2e %s: %s\n\n%s\n\nFlags:\n", c.name, c.short, c.long)
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs, &options{})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		if typ != "" {
			typ = " " + typ
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			def = fmt.Sprintf(" (default %q)", f.DefValue)
		}
		env := envPrefix + "_" + strings.NewReplacer("-", "_").Replace(strings.ToUpper(f.Name))
		fmt.Fprintf(tw, "  --%s%s\t$%s\t%s%s\n", f.Name, typ, env, usage, def)
	})
	if c.name != "version" {
		fmt.Fprintf(tw, "  --help\t\tprint this help\n")
	}
	tw.Flush()
}

// kafkaTopicName is what Kafka accepts as a topic name.
var kafkaTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// tapDefault is --tap-topics when not given: the tap reads the topics e2e.Config defaults to.
const tapDefault = "default"

// kafkaFlags parses --kafka-brokers, --tap-topics and --trace-url (issue 17).
func (o *options) kafkaFlags() error {
	c := &o.cfg
	for _, b := range strings.Split(o.kafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			if _, _, err := net.SplitHostPort(b); err != nil {
				return fmt.Errorf("invalid --kafka-brokers entry %q: want host:port", b)
			}
			c.Brokers = append(c.Brokers, b)
		}
	}
	switch t := strings.TrimSpace(o.tapTopics); t {
	case tapDefault:
	case "", "none":
		c.TapTopics = []string{}
	default:
		if c.API != "" && len(c.Brokers) == 0 {
			return errors.New("--tap-topics needs --kafka-brokers (the Kafka cluster of the pipeline under test)")
		}
		c.TapTopics = []string{}
		for _, topic := range strings.Split(t, ",") {
			if topic = strings.TrimSpace(topic); !kafkaTopicName.MatchString(topic) || slices.Contains(c.TapTopics, topic) {
				return fmt.Errorf("invalid --tap-topics %q: %q is given twice or is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)", t, topic)
			}
			c.TapTopics = append(c.TapTopics, topic)
		}
	}
	if c.TraceURL != "" {
		if err := status.CheckTraceURL(c.TraceURL); err != nil {
			return fmt.Errorf("invalid --trace-url: %w", err)
		}
	}
	return nil
}
