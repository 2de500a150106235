package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/internal/faultsapi"
	"github.com/orbital-e2e/orbital/internal/load"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/orbital/status"
	"github.com/orbital-e2e/orbital/webhook"
	stats "github.com/segmentio/stats/v4"
)

// runLoad is `e2e load`: serve with a load generator (o.loadRate > 0) that ends the service
// after --duration.
func runLoad(ctx context.Context, a *app, o *options) error { return runServe(ctx, a, o) }

// runServe is `e2e serve`: every case on its period until ctx is done, then a drain.
func runServe(ctx context.Context, a *app, o *options) error {
	logger := newLogger(a.stderr, o)
	ln, err := listen(o.addr)
	if err != nil {
		return err
	}
	sink := newMetricsSink(o.statsd)
	defer sink.Close()
	eng := stats.NewEngine("orbital", sink.handler)
	defer eng.Flush()

	var ready, draining atomic.Bool
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"), webhook.WithStats(eng))
	// The secret is only known once the target is (embedded: random), so the webhook handler
	// is installed behind an atomic pointer before the server starts.
	var wh atomic.Pointer[webhook.Webhook]
	whHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := wh.Load()
		if h == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
	mux := webhookMux(whHandler, sink.prom, &ready, &draining)
	var root atomic.Pointer[http.Handler]
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := root.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))

	srv := httpServer(mux, logger, o.timeout)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	logger.Info("listening", "addr", addr)
	if a.listening != nil {
		a.listening(addr)
	}
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		<-srvErr
	}

	t, err := newTarget(ctx, o, localURL(ln, "/webhook"), sink.handler, logger)
	if err != nil {
		shutdown()
		if ctx.Err() != nil { // stopped while starting: a clean exit
			logger.Info("stopped before the embedded pipeline was up")
			return nil
		}
		return err
	}
	if a.embeddedPipeline != nil && t.pipeline != nil {
		a.embeddedPipeline(t.pipeline)
	}
	// issue 13: GET/PUT /api/faults read and change the embedded pipeline's faults at run time
	// (PUT needs --admin-token); 404 when testing an external pipeline.
	faults := faultsapi.Config{Token: o.adminToken, Logger: logger}
	if t.pipeline != nil {
		faults.Get, faults.Set = t.pipeline.Faults, t.pipeline.SetFaults
	}
	mux.Handle(faultsapi.Path, faultsapi.New(faults))
	// end issue 13
	// svc is built below; the cluster node reads its cases only once Start runs.
	var svc *orbital.Service
	var hookLogger webhook.Logger = rl
	var node *cluster.Node
	if o.cluster {
		if node, err = newClusterNode(o, t, rl, eng, logger, func() *orbital.Service { return svc }); err != nil {
			t.Close(context.Background(), logger)
			shutdown()
			return err
		}
		hookLogger = node
	}
	wh.Store(webhook.New(webhook.Config{Logger: hookLogger, Secret: t.secret, Stats: eng}))

	opts := []orbital.Option{
		orbital.WithStats(eng),
		orbital.WithLogger(logger),
		orbital.WithOutput(a.stdout),
		orbital.WithTimeout(o.timeout),
		orbital.WithDrainGrace(o.drain),
	}
	if t.embedded {
		opts = append(opts, orbital.WithStartSpread(embeddedSpread))
	}
	if node != nil {
		opts = append(opts, orbital.WithAssignment(node.Owns))
	}
	st := &lateReporter{}
	opts = append(opts, orbital.WithReporter(st))
	tally := &runTally{}
	if o.loadRate > 0 {
		opts = append(opts, orbital.WithReporter(tally))
	}
	svc = orbital.New(opts...)
	page, err := status.New(status.Config{
		Service:    svc,
		History:    o.history,
		AdminToken: o.adminToken,
		Version:    version(),
		Target:     t.name(),
		Logger:     logger,
	})
	if err != nil {
		t.Close(context.Background(), logger)
		shutdown()
		return fmt.Errorf("status page: %w", err)
	}
	st.set(page)
	var pageHandler http.Handler = page
	root.Store(&pageHandler)

	h := t.harness(o, rl, logger)
	if node != nil {
		h.Health = node.Err // a run that gives up waiting says when the relay's Kafka is down
	}
	cases, err := selectCases(o, h)
	if err == nil {
		for _, tc := range cases {
			if err = svc.Register(tc); err != nil {
				err = usageError{fmt.Errorf("register %s: %w", tc.Name, err)}
				break
			}
		}
	}
	if err != nil {
		t.Close(context.Background(), logger)
		shutdown()
		return err
	}
	if node != nil {
		sctx, cancel := context.WithTimeout(ctx, clusterStartup)
		err := node.Start(sctx)
		cancel()
		if err != nil {
			_ = node.Close()
			t.Close(context.Background(), logger)
			shutdown()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("cluster: %w", err)
		}
		logger.Info("cluster mode", "replica", node.ReplicaID(), "brokers", len(t.brokers), "topic", o.clusterTopic)
	}
	logger.Info("serving", "config", o, "cases", len(cases))
	ready.Store(true)

	// runCtx ends on SIGTERM/SIGINT (ctx) or when the HTTP server fails: without the webhook
	// no run can pass.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	stopDrain := context.AfterFunc(runCtx, func() {
		draining.Store(true)
		logger.Info("draining", "grace", o.drain)
	})
	defer stopDrain()

	// e2e load: a load generator beside the cases. When its --duration is over it stops the
	// service; on SIGTERM it stops sending and accounts for the events in flight.
	var loadDone chan load.Report
	if o.loadRate > 0 {
		loadDone = make(chan load.Report, 1)
		go func() {
			rep, err := load.Run(runCtx, load.Config{
				APIURL:          t.apiURL,
				WriteKey:        t.writeKey,
				Waiter:          rl,
				Rate:            o.loadRate,
				Duration:        o.loadDuration,
				DeliveryTimeout: o.loadDeliveryTimeout,
				Concurrency:     o.loadConcurrency,
				Logger:          logger.With("component", "load"),
			})
			if err != nil {
				logger.Error("load", "err", err)
			}
			loadDone <- rep
			stopRun()
		}()
	}

	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(runCtx) }()
	var failed error
	select {
	case err := <-runErr:
		if err != nil {
			logger.Warn("drain incomplete", "err", err)
		}
	case err := <-srvErr:
		srvErr <- err // for shutdown
		failed = fmt.Errorf("http server: %w", err)
		logger.Error("http server failed", "err", err)
		stopRun()
		<-runErr
	}
	draining.Store(true)
	if loadDone != nil {
		// The pipeline and the webhook stay up until every event of the load is accounted for.
		rep := <-loadDone
		tl := tally.counts()
		fmt.Fprintf(a.stdout, "load: %s\nruns: %d passed, %d failed, %d skipped\n", rep, tl.pass, tl.fail, tl.skip)
		logger.Info("load finished", "sent", rep.Sent, "matched", rep.Matched, "lost", rep.Lost,
			"throughput", rep.Throughput, "p50", rep.P50, "p99", rep.P99,
			"runs_passed", tl.pass, "runs_failed", tl.fail, "runs_skipped", tl.skip)
		if failed == nil && (!rep.OK() || tl.fail > 0) {
			failed = exitCode(exitFail)
		}
	}
	t.Close(context.Background(), logger)
	// The webhook stops before the node: a delivery that reached a closed node could not be
	// relayed any more.
	shutdown()
	if node != nil {
		if err := node.Close(); err != nil {
			logger.Warn("cluster: leaving the group", "err", err)
		}
	}
	logger.Info("stopped")
	return failed
}

// lateReporter forwards results to a reporter set after the service was built (the status
// page needs the service, the service needs its reporters). It is safe for concurrent use.
type lateReporter struct{ r atomic.Pointer[status.Status] }

func (l *lateReporter) set(s *status.Status) { l.r.Store(s) }

// Report implements orbital.Reporter.
func (l *lateReporter) Report(res orbital.Result) {
	if s := l.r.Load(); s != nil {
		s.Report(res)
	}
}

// clusterStartup bounds creating the cluster topics and joining the group.
const clusterStartup = time.Minute

// newClusterNode builds the cluster node of --cluster on the target's brokers (--kafka-brokers,
// or the embedded broker). svc returns the service once built: the node shares its case names
// with the group when it starts.
func newClusterNode(o *options, t *target, rl *webhook.RouteLogger, eng *stats.Engine, logger *slog.Logger, svc func() *orbital.Service) (*cluster.Node, error) {
	if len(t.brokers) == 0 {
		return nil, usageError{errors.New("--cluster needs --kafka-brokers (the Kafka cluster the replicas share)")}
	}
	node, err := cluster.New(cluster.Config{
		Brokers: t.brokers,
		Topic:   o.clusterTopic,
		Local:   rl,
		Cases: func() []string {
			s := svc()
			if s == nil {
				return nil
			}
			var names []string
			for _, tc := range s.Cases() {
				names = append(names, tc.Name)
			}
			return names
		},
		// A case taken over from a replica that left or died runs at once, not a period later.
		OnAssign: func() {
			if s := svc(); s != nil {
				s.Reassigned()
			}
		},
		Stats:  eng,
		Logger: logger.With("component", "cluster"),
	})
	if err != nil {
		return nil, usageError{fmt.Errorf("--cluster: %w", err)}
	}
	return node, nil
}

// runTally counts the outcomes of top-level runs (e2e load reports them). It is safe for
// concurrent use.
type runTally struct {
	mu               sync.Mutex
	pass, fail, skip int
}

// Report implements orbital.Reporter; subtests are counted in their parent's outcome.
func (r *runTally) Report(res orbital.Result) {
	if strings.Contains(res.Case, "/") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch res.Outcome {
	case orbital.Pass:
		r.pass++
	case orbital.Fail:
		r.fail++
	case orbital.Skip:
		r.skip++
	}
}

// runCounts is a snapshot of a runTally.
type runCounts struct{ pass, fail, skip int }

func (r *runTally) counts() runCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return runCounts{pass: r.pass, fail: r.fail, skip: r.skip}
}
