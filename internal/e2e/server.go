package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/internal/faultsapi"
	"github.com/orbital-e2e/orbital/internal/netx"
	"github.com/orbital-e2e/orbital/kafkatap"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/server"
	"github.com/orbital-e2e/orbital/orbital/status"
	"github.com/orbital-e2e/orbital/tests"
	"github.com/orbital-e2e/orbital/webhook"
	stats "github.com/segmentio/stats/v4"
)

// clusterStartup bounds creating the cluster topics and joining the group.
const clusterStartup = time.Minute

// Server is the e2e service: see the package documentation. New builds it, Start serves
// its front, Run runs the scheduler, Close stops everything in order. It is safe for
// concurrent use.
type Server struct {
	cfg     Config
	sink    *metricsSink
	eng     *stats.Engine
	rl      *webhook.RouteLogger
	target  *target
	tap     *kafkatap.Tap // issue 17: where each run's event was seen; nil without one
	stopTap func()        // ends the tap's start-up retries
	node    *cluster.Node
	results *cluster.Results // the shared, durable status history (cluster mode, DataDir)
	replica string
	svc     *orbital.Service
	front   *server.Server
	cases   []orbital.TestCase

	closeOnce sync.Once
}

// New builds the Server of cfg in dependency order: the listener (so the embedded pipeline
// knows where to deliver), the metrics, the RouteLogger, the pipeline under test, the cases,
// the cluster node, the Service with the cases registered, the front (webhook, /metrics,
// health, status page) and, in cluster mode, the node's join. Nothing is served until Start
// or Run. ctx bounds the start-up only. It returns a *ConfigError for a usage or
// configuration problem, and ctx's error when ctx ended during start-up.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// A selection that is a usage error is one before anything starts.
	if _, err := Cases(cfg); err != nil {
		return nil, err
	}
	// issue 14: a bounded listener (connection cap, accept errors retried, not fatal). Idle
	// time is bounded by the front's http.Server timeouts (a manual run's POST may stay quiet
	// for its whole run timeout), not by netx.
	ln, err := netx.Listen("tcp", cfg.Addr, netx.Config{IdleTimeout: -1, Logger: cfg.Logger})
	if err != nil {
		return nil, configErr(fmt.Errorf("cannot listen on --addr: %w", err))
	}
	s := &Server{cfg: cfg, sink: newMetricsSink(cfg.Statsd)}
	if err := s.build(ctx, ln); err != nil {
		_ = ln.Close()
		s.Close()
		return nil, err
	}
	return s, nil
}

// build is New after the listener: everything that must be undone when a step fails.
func (s *Server) build(ctx context.Context, ln net.Listener) (err error) {
	cfg := s.cfg
	s.eng = stats.NewEngine("orbital", s.sink.handler)
	for _, w := range cfg.Streams {
		w.SetStats(s.eng)
	}
	s.rl = webhook.NewRouteLogger(tests.MessageID, webhook.WithStats(s.eng))
	if s.target, err = startTarget(ctx, cfg, listenURL(ln, "/webhook"), s.sink.handler); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while starting: %w", ctx.Err())
		}
		return err
	}
	if cfg.OnPipeline != nil && s.target.pipeline != nil {
		cfg.OnPipeline(s.target.pipeline)
	}
	if err := s.startTap(ctx); err != nil {
		return err
	}
	h := s.target.harness(cfg, s.rl, cfg.Logger)
	h.Tap, h.TraceURL = s.tap, cfg.TraceURL
	// The browser suite's page (and the installed analytics.js) is served by the front
	// (frontConfig) on this listener: Chromium loads it from here.
	h.BrowserURL = listenURL(ln, tests.BrowserPagePath)
	s.replica = cfg.ReplicaID
	if s.replica == "" {
		s.replica = cluster.DefaultReplicaID()
	}
	var hookLogger webhook.Logger = s.rl
	if cfg.Cluster {
		if s.node, err = s.newClusterNode(); err != nil {
			return err
		}
		hookLogger = s.node
		h.Health = s.node.Err // a run that gives up waiting is inconclusive while the relay's Kafka is down
	}
	if s.cases, err = selectCases(cfg, h); err != nil {
		return err
	}
	s.svc = orbital.New(s.serviceOptions()...)
	for _, tc := range s.cases {
		if err := s.svc.Register(tc); err != nil {
			return configErr(fmt.Errorf("register %s: %w", tc.Name, err))
		}
	}
	if s.front, err = server.New(s.frontConfig(ln, hookLogger)); err != nil {
		return err
	}
	if s.sharedResults() {
		if err := s.startResults(ctx); err != nil {
			return err
		}
	}
	if s.node != nil {
		if err := s.startNode(ctx); err != nil {
			return err
		}
	}
	return nil
}

// sharedResults reports whether the status history comes from the results topic: in
// cluster mode (every replica's runs) and with a data dir (a durable history).
func (s *Server) sharedResults() bool {
	return s.cfg.Cluster || (s.cfg.DataDir != "" && s.target.embedded)
}

// startResults replays the results topic into the status page (the last 24 h, before
// anything is served) and publishes this replica's results to it from now on.
func (s *Server) startResults(ctx context.Context) error {
	page := s.front.Status()
	if page == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, clusterStartup)
	defer cancel()
	r, err := cluster.StartResults(sctx, cluster.ResultsConfig{
		Brokers: s.target.brokers,
		Topic:   s.cfg.ClusterTopic + "-results",
		Replica: s.replica,
		Feed:    page.Feed,
		Stats:   s.eng,
		Logger:  s.cfg.Logger.With("component", "results"),
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while starting: %w", ctx.Err())
		}
		return fmt.Errorf("results topic: %w", err)
	}
	s.results = r
	s.svc.AddReporter(r)
	return nil
}

func (s *Server) serviceOptions() []orbital.Option {
	cfg := s.cfg
	opts := []orbital.Option{
		orbital.WithStats(s.eng),
		orbital.WithLogger(cfg.Logger),
		orbital.WithPassLogLevel(slog.LevelInfo), // e2e logs every run's end at Info (README, "Output and logs")
		orbital.WithOutput(cfg.Output),
		orbital.WithTimeout(cfg.Timeout),
		orbital.WithDrainGrace(cfg.Drain),
	}
	if s.target.embedded {
		opts = append(opts, orbital.WithStartSpread(embeddedSpread))
	}
	if s.node != nil {
		// Each run is named with one of this replica's receipt slots, so its deliveries that land
		// on another replica are routed here (only here).
		opts = append(opts, orbital.WithAssignment(s.node.Owns), orbital.WithTraceIDs(s.node.TraceID),
			// A case gained in a clean rebalance waits for its period after its last run on
			// any replica (the shared results, started before the node) instead of running
			// twice in it.
			orbital.WithLastStart(func(name string) (time.Time, bool) {
				if s.results == nil {
					return time.Time{}, false
				}
				return s.results.LastStart(name)
			}))
	}
	for _, r := range cfg.Reporters {
		opts = append(opts, orbital.WithReporter(r))
	}
	return opts
}

func (s *Server) frontConfig(ln net.Listener, hookLogger webhook.Logger) server.Config {
	fc := server.Config{
		Service: s.svc,
		Webhook: webhook.Config{Logger: hookLogger, Secret: s.target.secret, Scheme: s.cfg.SignatureScheme, // issue 14: Scheme
			MaxDeliveryIDs: s.cfg.MaxDeliveryIDs},
		Stats:    s.eng,
		Metrics:  s.sink.prom,
		Listener: ln,
		Status: status.Config{
			History:    s.cfg.History,
			AdminToken: s.cfg.AdminToken,
			Version:    s.cfg.Version,
			Target:     s.target.name(),
			Replica:    s.replica,
			TraceURL:   s.cfg.TraceURL,
			// With a results topic the page records what it reads back from it (its own
			// runs included), not the Service's results directly.
			Fed: s.sharedResults(),
		},
		// A response is bounded by the longest run it may wait for (a manual run's POST
		// extends its own deadline further when its case has a longer timeout).
		WriteTimeout: s.cfg.Timeout + 30*time.Second,
		Logger:       s.cfg.Logger,
		// The browser suite's page and the installed analytics.js (see build).
		Handlers: map[string]http.Handler{"GET " + tests.BrowserPagePath: tests.NewBrowserPage("")},
	}
	// issue 13: GET/PUT /api/faults read and change the embedded pipeline's faults at run
	// time (PUT needs AdminToken); 404 when testing an external pipeline.
	faults := faultsapi.Config{Token: s.cfg.AdminToken, Logger: s.cfg.Logger}
	if p := s.target.pipeline; p != nil {
		faults.Get, faults.Set = p.Faults, p.SetFaults
	}
	fc.Handlers[faultsapi.Path] = faultsapi.New(faults)
	// end issue 13
	if b := s.target.broker; b != nil { // issue 14: the embedded broker gone is fatal; unreachable, not ready
		fc.Live = append(fc.Live, func(context.Context) error { return b.Err() })
		fc.Ready = append(fc.Ready, b.Healthy)
	}
	if s.node != nil {
		// Without the relay's Kafka, deliveries that land here for another replica are
		// answered 503: this replica should get no traffic until it is back.
		fc.Ready = append(fc.Ready, func(context.Context) error { return s.node.Err() })
	}
	return fc
}

// newClusterNode builds the cluster node on the target's brokers (Config.Brokers, or the
// embedded broker).
func (s *Server) newClusterNode() (*cluster.Node, error) {
	if len(s.target.brokers) == 0 {
		return nil, configErr(errors.New("--cluster needs --kafka-brokers (the Kafka cluster the replicas share)"))
	}
	node, err := cluster.New(cluster.Config{
		Brokers:   s.target.brokers,
		Topic:     s.cfg.ClusterTopic,
		ReplicaID: s.replica,
		Local:     s.rl,
		Stats:     s.eng,
		Logger:    s.cfg.Logger.With("component", "cluster"),
	})
	if err != nil {
		return nil, configErr(fmt.Errorf("--cluster: %w", err))
	}
	return node, nil
}

// startNode joins the cluster with the registered cases; a case taken over from a replica
// that left or died runs at once (Service.Reassigned), not a period later.
func (s *Server) startNode(ctx context.Context) error {
	names := make([]string, len(s.cases))
	for i, tc := range s.cases {
		names[i] = tc.Name
	}
	sctx, cancel := context.WithTimeout(ctx, clusterStartup)
	err := s.node.Start(sctx, names, s.svc.Reassigned)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped while starting: %w", ctx.Err())
		}
		return fmt.Errorf("cluster: %w", err)
	}
	s.cfg.Logger.Info("cluster mode", "replica", s.node.ReplicaID(), "brokers", len(s.target.brokers), "topic", s.cfg.ClusterTopic)
	return nil
}

// listenURL is the URL under which this process reaches its own listener ln at path.
func listenURL(ln net.Listener, path string) string {
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// Addr is the address the front listens on.
func (s *Server) Addr() string { return s.front.Addr().String() }

// Service is the orbital Service with the selected cases registered.
func (s *Server) Service() *orbital.Service { return s.svc }

// Cases are the registered cases, after overrides and selection.
func (s *Server) Cases() []orbital.TestCase { return s.cases }

// Waiter is the RouteLogger the suites wait on.
func (s *Server) Waiter() *webhook.RouteLogger { return s.rl }

// APIURL and WriteKey are the tracking API of the pipeline under test (the embedded one's
// random key on the embedded default).
func (s *Server) APIURL() string   { return s.target.apiURL }
func (s *Server) WriteKey() string { return s.target.writeKey }

// Target is the pipeline under test as the status page names it: "embedded" or its URL.
func (s *Server) Target() string { return s.target.name() }

// Start serves the front; a caller that runs cases itself (the gate) uses it instead of Run.
func (s *Server) Start() { s.front.Start() }

// Run serves the front and runs every case on its period until ctx is done or the HTTP
// server fails, then drains (Config.Drain). It returns with the front and the pipeline
// still up, so whatever still waits for deliveries (e2e load's events) can finish; Close
// stops them.
func (s *Server) Run(ctx context.Context) error {
	s.cfg.Logger.Info("serving", "config", s.cfg, "cases", len(s.cases))
	stop := context.AfterFunc(ctx, func() { s.cfg.Logger.Info("draining", "grace", s.cfg.Drain) })
	defer stop()
	return s.front.Run(ctx)
}

// Abort cuts the runs in flight short at once (a second SIGTERM during the drain): they are
// reported as cut short and Run returns.
func (s *Server) Abort() { s.svc.Abort() }

// SetDraining makes /readyz answer 503 from now on.
func (s *Server) SetDraining() { s.front.SetDraining() }

// Close stops what New started, in the order that loses nothing: the results topic (the
// drained Service's last results are published), the embedded pipeline
// first (its last deliveries still reach the webhook), then the front, then the cluster node
// (a delivery that reached a closed node could not be relayed), then the metrics. It is safe
// to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		logger := s.cfg.Logger
		// The results queued by the drained Service go out while the (embedded) broker is up.
		if s.results != nil {
			if err := s.results.Close(); err != nil {
				logger.Warn("results topic: closing", "err", err)
			}
		}
		if s.tap != nil {
			s.stopTap()
			_ = s.tap.Close()
		}
		if s.target != nil {
			s.target.Close(context.Background(), logger)
		}
		if s.front != nil {
			_ = s.front.Close()
		}
		if s.node != nil {
			if err := s.node.Close(); err != nil {
				logger.Warn("cluster: leaving the group", "err", err)
			}
		}
		if s.eng != nil {
			s.eng.Flush()
		}
		s.sink.Close()
		if s.front != nil {
			logger.Info("stopped")
		}
	})
}
