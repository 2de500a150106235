package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/stats/v4"
	"github.com/segmentio/stats/v4/statstest"

	"github.com/orbital-e2e/orbital/examples/pipeline"
	"github.com/orbital-e2e/orbital/internal/cluster"
	"github.com/orbital-e2e/orbital/orbital"
	"github.com/orbital-e2e/orbital/webhook"
)

const (
	itWriteKey = "cluster-write-key"
	itSecret   = "cluster-secret"
	itPeriod   = time.Second
	itSession  = 6 * time.Second // the smallest session timeout the broker accepts
	itBeat     = 250 * time.Millisecond
	itWindow   = 30 * time.Second
)

var itCases = []string{"track-a", "track-b", "track-c", "track-d", "track-e", "track-f"}

// roundRobin is the load balancer in front of the replicas' webhooks: each
// request goes to the next live backend.
type roundRobin struct {
	mu       sync.Mutex
	backends []*url.URL
	next     int
}

func (rr *roundRobin) set(backends ...*url.URL) {
	rr.mu.Lock()
	rr.backends = backends
	rr.mu.Unlock()
}

func (rr *roundRobin) pick() *url.URL {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.backends) == 0 {
		return nil
	}
	u := rr.backends[rr.next%len(rr.backends)]
	rr.next++
	return u
}

func (rr *roundRobin) handler(t *testing.T) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if u := rr.pick(); u != nil {
				pr.SetURL(u)
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t.Logf("proxy: %v", err)
			http.Error(w, err.Error(), http.StatusBadGateway) // the pipeline retries
		},
	}
}

// run is one finished top-level run, as a reporter saw it.
type run struct {
	replica string
	orbital.Result
}

type runLog struct {
	mu   sync.Mutex
	runs []run
	more chan struct{} // closed and replaced at every run
}

func newRunLog() *runLog { return &runLog{more: make(chan struct{})} }

func (l *runLog) reporter(replica string) orbital.Reporter {
	return reporterFunc(func(r orbital.Result) {
		l.mu.Lock()
		l.runs = append(l.runs, run{replica, r})
		close(l.more)
		l.more = make(chan struct{})
		l.mu.Unlock()
	})
}

type reporterFunc func(orbital.Result)

func (f reporterFunc) Report(r orbital.Result) { f(r) }

func (l *runLog) snapshot() ([]run, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runs), l.more
}

// waitFor blocks until cond holds for the runs reported so far, or fails the
// test after d.
func (l *runLog) waitFor(t *testing.T, d time.Duration, what string, cond func([]run) bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		runs, more := l.snapshot()
		if cond(runs) {
			return
		}
		select {
		case <-more:
		case <-timer.C:
			t.Fatalf("after %v: %s", d, what)
		}
	}
}

// replica is one e2e service: an orbital.Service whose cases are assigned by
// a cluster.Node, and the node's webhook on its own server.
type replica struct {
	id       string
	node     *cluster.Node
	crash    func() // cuts the node's Kafka connections without leaving the group
	metrics  *statstest.Handler
	hook     *httptest.Server
	hookU    *url.URL
	cancel   context.CancelFunc
	done     chan error
	svcOnce  sync.Once
	nodeOnce sync.Once
}

// stopService drains the replica's Service and stops its webhook, leaving the
// node in the group.
func (r *replica) stopService(t *testing.T) {
	t.Helper()
	r.svcOnce.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			t.Errorf("replica %s: Service.Run: %v", r.id, err)
		}
		r.hook.Close() // waits for deliveries in flight, which may need the node
	})
}

// stop stops the replica cleanly: its Service, its webhook, then its node,
// which leaves the group.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.stopService(t)
	r.nodeOnce.Do(func() {
		if err := r.node.Close(); err != nil {
			t.Errorf("replica %s: Close: %v", r.id, err)
		}
	})
}

// trackCase is the TestFunc every case runs: it posts a track event whose
// messageId is the run's trace id to the pipeline's API and waits for its
// delivery on this replica's RouteLogger.
func trackCase(api string, rl *webhook.RouteLogger, node *cluster.Node) orbital.TestFunc {
	return func(ctx context.Context, o *orbital.O) {
		key := o.TraceID()
		if err := rl.Sent(key); err != nil {
			o.Fatalf("Sent: %v", err)
		}
		defer rl.Delete(key)
		start := time.Now()
		body := fmt.Sprintf(`{"messageId":%q,"event":"Cluster Test","userId":"u1","properties":{"case":%q}}`, key, o.Name())
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/track", strings.NewReader(body))
		if err != nil {
			o.Fatal(err)
		}
		req.SetBasicAuth(itWriteKey, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			o.Fatalf("track: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			o.Fatalf("track: status %d", resp.StatusCode)
		}
		got, err := rl.Wait(ctx, key)
		if err != nil {
			o.Fatalf("no delivery for %s: %v (cluster: %v)", key, err, node.Err())
		}
		if !strings.Contains(got.Body, `"Cluster Test"`) || !strings.Contains(got.Body, o.Name()) {
			o.Errorf("delivery body %s", got.Body)
		}
		o.Measure("delivery.latency", time.Since(start))
	}
}

func startReplica(t *testing.T, id string, brokers []string, api string, log *runLog) *replica {
	t.Helper()
	rl := webhook.NewRouteLogger(webhook.JSONField("messageId"))
	var crash func()
	var svcRef atomic.Pointer[orbital.Service] // the node starts before the service exists
	onAssign := func() {
		if s := svcRef.Load(); s != nil {
			s.Reassigned()
		}
	}
	node := startNodeWith(t, brokers, "it", id, itCases, onAssign, func(c *cluster.Config) {
		crash = cluster.Crashable(c)
		c.Local = rl
		c.Partitions = 64
		c.SessionTimeout = itSession
		c.HeartbeatInterval = itBeat
	})
	metrics := &statstest.Handler{}
	svc := orbital.New(
		orbital.WithStats(stats.NewEngine("orbital", metrics)),
		orbital.WithAssignment(node.Owns),
		orbital.WithReporter(log.reporter(id)),
		orbital.WithOutput(io.Discard),
		orbital.WithLogger(testLogger()),
		orbital.WithTimeout(10*time.Second),
		orbital.WithDrainGrace(10*time.Second),
		orbital.WithStartSpread(itPeriod),
	)
	svcRef.Store(svc)
	r := &replica{id: id, node: node, crash: crash, metrics: metrics, done: make(chan error, 1)}
	for _, name := range itCases {
		if err := svc.Register(orbital.TestCase{Name: name, Period: itPeriod, Func: trackCase(api, rl, node)}); err != nil {
			t.Fatal(err)
		}
	}
	r.hook = httptest.NewServer(webhook.New(webhook.Config{Logger: node, Secret: []byte(itSecret)}))
	r.hookU, _ = url.Parse(r.hook.URL)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- svc.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// owners returns, per case, the replicas that own it now.
func owners(rs []*replica) map[string][]string {
	out := map[string][]string{}
	for _, name := range itCases {
		out[name] = []string{}
		for _, r := range rs {
			if r.node.Owns(name) {
				out[name] = append(out[name], r.id)
			}
		}
	}
	return out
}

// waitSpread waits until every case has exactly one owner among rs and every
// replica in rs owns at least one case.
func waitSpread(t *testing.T, rs []*replica, d time.Duration) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond) // polls Owns, which has no change signal
	defer tick.Stop()
	for {
		own := owners(rs)
		ok := true
		perReplica := map[string]int{}
		for _, ids := range own {
			ok = ok && len(ids) == 1
			for _, id := range ids {
				perReplica[id]++
			}
		}
		for _, r := range rs {
			ok = ok && perReplica[r.id] >= 1
		}
		if ok {
			return own
		}
		if time.Now().After(deadline) {
			t.Fatalf("cases not spread over %d replicas after %v: %v", len(rs), d, own)
		}
		<-tick.C
	}
}

// TestThreeReplicas runs three replicas behind a round-robin proxy, with the
// example pipeline delivering to the proxy, on one embedded Kafka broker:
// 30 s of steady state (every case once per period cluster-wide), a clean
// stop of one replica, a new one joining, and a crash of another (its Kafka
// connections cut, no LeaveGroup), each failover within the session timeout
// plus one period (plus one heartbeat interval for the crash); then every
// delivery and every exported run is accounted for.
func TestThreeReplicas(t *testing.T) {
	broker := startBroker(t)
	rr := &roundRobin{}
	proxy := httptest.NewServer(rr.handler(t))
	t.Cleanup(proxy.Close)

	p, err := pipeline.New(pipeline.Config{
		Brokers:           broker.Brokers(),
		WriteKeys:         []string{itWriteKey},
		Destinations:      []string{proxy.URL + "/webhook"},
		DestinationSecret: []byte(itSecret),
		BackoffMin:        10 * time.Millisecond,
		BackoffMax:        100 * time.Millisecond,
		CommitInterval:    20 * time.Millisecond,
		Logger:            testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	startCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Start(startCtx); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(p.Handler())
	t.Cleanup(func() {
		api.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})

	log := newRunLog()
	var all []*replica // every replica ever started, for the final counts
	rs := make([]*replica, 3)
	for i := range rs {
		rs[i] = startReplica(t, fmt.Sprintf("r%d", i), broker.Brokers(), api.URL, log)
		all = append(all, rs[i])
	}
	rr.set(rs[0].hookU, rs[1].hookU, rs[2].hookU)

	// Steady state: once the three replicas share the cases, every case
	// runs exactly once per period cluster-wide.
	own := waitSpread(t, rs, 30*time.Second)
	t.Logf("assignment: %v", own)
	t0 := time.Now()
	t1 := t0.Add(itWindow)
	t.Logf("steady window from %s", t0.Format(time.StampMilli))
	log.waitFor(t, itWindow+20*time.Second, "every case to run after the window", func(runs []run) bool {
		after := map[string]bool{}
		for _, r := range runs {
			if r.Start.After(t1) {
				after[r.Case] = true
			}
		}
		return len(after) == len(itCases)
	})
	runs, _ := log.snapshot()
	want := int(itWindow / itPeriod)
	perCase := map[string]int{}
	for _, r := range runs {
		if r.Outcome != orbital.Pass {
			t.Errorf("run of %s on %s at %v: %s: %s", r.Case, r.replica, r.Start.Format(time.StampMilli), r.Outcome, r.Error)
		}
		if r.Start.Before(t0) || !r.Start.Before(t1) {
			continue
		}
		perCase[r.Case]++
		if r.replica != own[r.Case][0] {
			t.Errorf("case %s ran on %s, owned by %s", r.Case, r.replica, own[r.Case][0])
		}
	}
	for _, name := range itCases {
		if n := perCase[name]; n < want-1 || n > want+1 {
			t.Errorf("case %s ran %d times in %v cluster-wide, want %d±1", name, n, itWindow, want)
		}
	}
	t.Logf("runs per case in %v: %v (want %d)", itWindow, perCase, want)

	// Failover: stop one replica; its cases resume on the others within
	// the session timeout plus one period.
	bound := itSession + itPeriod
	victim := rs[2]
	moved := ownedBy(own, victim.id)
	rr.set(rs[0].hookU, rs[1].hookU) // the load balancer's health check drops it
	stopped := time.Now()
	victim.stop(t)
	t.Logf("%s stopped at %s", victim.id, stopped.Format(time.StampMilli))
	worst := waitResumed(t, log, victim.id, moved, stopped, bound)
	t.Logf("stopped %s owning %v: its cases resumed after at most %v (bound %v)", victim.id, moved, worst, bound)
	waitSpread(t, rs[:2], 20*time.Second)

	// Rejoin: a new replica in the place of the stopped one gets cases again.
	back := startReplica(t, "r2-again", broker.Brokers(), api.URL, log)
	all = append(all, back)
	rs[2] = back
	rr.set(rs[0].hookU, rs[1].hookU, back.hookU)
	own = waitSpread(t, rs, 30*time.Second)
	t.Logf("assignment after rejoin: %v", own)
	rejoined := time.Now()
	t.Logf("%s joined at %s", back.id, rejoined.Format(time.StampMilli))
	log.waitFor(t, 10*time.Second, "the rejoined replica to run a case", func(runs []run) bool {
		return slices.ContainsFunc(runs, func(r run) bool { return r.replica == back.id && r.Start.After(rejoined) })
	})

	// Crash: a replica dies without leaving the group. Its runs drain and its
	// webhook leaves the load balancer first (a dead replica's runs in flight
	// are lost anyway; here they must not count as failures), then every
	// Kafka connection of its node is cut and never reopened: no LeaveGroup,
	// no heartbeat. The broker expires its session at most the session
	// timeout after the crash (counted from its last heartbeat, which came
	// before), the others learn of the rebalance at their next heartbeat, and
	// each moved case runs at once (OnAssign → Service.Reassigned): within the
	// session timeout plus one period, as a clean stop.
	dead := rs[0]
	moved = ownedBy(own, dead.id)
	rr.set(rs[1].hookU, rs[2].hookU)
	dead.stopService(t)
	crashed := time.Now()
	dead.crash()
	t.Logf("%s crashed at %s", dead.id, crashed.Format(time.StampMilli))
	crashBound := itSession + itPeriod
	worst = waitResumed(t, log, dead.id, moved, crashed, crashBound)
	t.Logf("crashed %s owning %v: its cases resumed after at most %v (bound %v)", dead.id, moved, worst, crashBound)
	if worst < itSession/2 {
		t.Errorf("cases of the crashed replica resumed after %v, long before its session (%v) could time out: did it leave the group?", worst, itSession)
	}
	waitSpread(t, rs[1:], 20*time.Second)
	rs = rs[1:]

	// Stop everything, draining in-flight runs, then account for every
	// delivery: each passed run matched exactly one delivery, locally or
	// through a relayed receipt, and nothing failed.
	dead.stop(t)
	for i, r := range rs {
		var live []*url.URL
		for _, o := range rs[i+1:] {
			live = append(live, o.hookU)
		}
		rr.set(live...)
		r.stop(t)
	}
	runs, _ = log.snapshot()
	passed := 0
	for _, r := range runs {
		if r.Outcome == orbital.Pass {
			passed++
		} else {
			t.Errorf("run of %s on %s at %v: %s: %s", r.Case, r.replica, r.Start.Format(time.StampMilli), r.Outcome, r.Error)
		}
	}
	var local, relayed, matched int64
	for _, r := range all {
		c := r.node.Counts()
		local += c.Local
		relayed += c.Relayed
		matched += c.Matched
	}
	t.Logf("%d runs passed; deliveries matched locally %d, relayed %d, matched from receipts %d", passed, local, relayed, matched)
	if got := local + matched; got != int64(passed) {
		t.Errorf("deliveries matched (local %d + relayed %d) = %d, want one per passed run = %d", local, matched, got, passed)
	}
	if local == 0 || matched == 0 {
		t.Errorf("relay counts implausible: local %d, relayed %d, matched %d", local, relayed, matched)
	}
	if relayed != matched {
		t.Errorf("%d deliveries relayed but %d matched from receipts: %d unmatched", relayed, matched, relayed-matched)
	}

	// Metrics stay per case: each replica exported exactly the runs it made,
	// so the sum across replicas is the number of runs cluster-wide.
	for _, r := range all {
		for _, name := range itCases {
			ran := 0
			for _, x := range runs {
				if x.replica == r.id && x.Case == name {
					ran++
				}
			}
			if got := counter(r.metrics, "orbital.runs_total", stats.T("case", name)); int(got) != ran {
				t.Errorf("replica %s exported orbital.runs_total{case=%q} = %v, but ran it %d times", r.id, name, got, ran)
			}
		}
	}
}

// ownedBy returns the cases own assigns to replica id.
func ownedBy(own map[string][]string, id string) []string {
	var out []string
	for name, ids := range own {
		if slices.Contains(ids, id) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// waitResumed waits until every case in moved has started a run on a
// replica other than gone after since, fails the test if the slowest took
// longer than bound, and returns that slowest delay.
func waitResumed(t *testing.T, log *runLog, gone string, moved []string, since time.Time, bound time.Duration) time.Duration {
	t.Helper()
	if len(moved) == 0 {
		t.Fatalf("%s owned no case", gone)
	}
	first := func(runs []run, name string) (run, bool) {
		for _, r := range runs {
			if r.Case == name && r.replica != gone && r.Start.After(since) {
				return r, true
			}
		}
		return run{}, false
	}
	log.waitFor(t, bound+5*time.Second, fmt.Sprintf("cases %v of %s to resume", moved, gone), func(runs []run) bool {
		for _, name := range moved {
			if _, ok := first(runs, name); !ok {
				return false
			}
		}
		return true
	})
	runs, _ := log.snapshot()
	var worst time.Duration
	for _, name := range moved {
		r, _ := first(runs, name)
		worst = max(worst, r.Start.Sub(since))
	}
	if worst > bound {
		t.Errorf("cases %v of %s resumed %v after it went, want within %v", moved, gone, worst, bound)
	}
	return worst
}
