package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestClusterProcesses runs the cluster as it is deployed: `e2e broker` on a fixed address,
// the example pipeline (examples/cmd/pipeline) on it, and three `e2e serve --cluster`
// processes behind a round-robin proxy the pipeline delivers to. One replica is killed with
// SIGKILL and one restarted (SIGTERM, then started again). Then: the pages of the live
// replicas agree, the restarted replica shows the history it had, every run passed (every
// delivery matched, wherever it landed), and the runs of the case, cluster-wide, have no gap
// beyond the crash bound (the session timeout plus a period and a heartbeat) and at most one
// run more than one per period (after the crash).
func TestClusterProcesses(t *testing.T) {
	began := time.Now()
	e2eBin, pipeBin := buildBinaries(t)
	t.Logf("built in %s", time.Since(began).Round(time.Millisecond))

	brokerAddr := freeAddr(t)
	newProc(t, "broker", e2eBin, "broker", "--addr", brokerAddr, "--data-dir", t.TempDir(), "--log-format", "json")

	const period = 2 * time.Second
	replicaAddrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	proxy := newRoundRobin(replicaAddrs)
	proxySrv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go proxySrv.Serve(pln)
	t.Cleanup(func() { proxySrv.Close() })

	const writeKey, secret, adminToken = "wk-processes", "secret-processes", "admin-processes"
	pipeAddr := freeAddr(t)
	newProc(t, "pipeline", pipeBin, "--addr", pipeAddr, "--kafka-brokers", brokerAddr, "--write-key", writeKey,
		"--destination", "http://"+pln.Addr().String()+"/webhook", "--destination-secret", secret, "--admin-token", adminToken,
		"--backoff-min", "50ms", "--backoff-max", "500ms", "--max-attempts", "10")
	waitHTTP(t, "http://"+pipeAddr+"/readyz", 30*time.Second)

	serve := func(i int) *proc {
		return newProc(t, fmt.Sprintf("r%d", i), e2eBin, "serve", "--cluster", "--cluster-topic", "procs",
			"--kafka-brokers", brokerAddr, "--api", "http://"+pipeAddr, "--write-key", writeKey,
			"--webhook-secret", secret, "--webhook-url", "http://"+pln.Addr().String()+"/webhook",
			"--addr", replicaAddrs[i], "--replica", fmt.Sprintf("r%d", i), "--run", "^track$",
			"--case-period", "track="+period.String(), "--timeout", "20s", "--drain", "10s", "--log-format", "json")
	}
	replicas := []*proc{serve(0), serve(1), serve(2)}
	for _, a := range replicaAddrs {
		waitHTTP(t, "http://"+a+"/readyz", 60*time.Second)
	}
	base := func(i int) string { return "http://" + replicaAddrs[i] }
	waitPassRuns(t, base(0), 5, 60*time.Second)
	steady := time.Now()

	// SIGKILL the replica that runs the case: it moves after the session timeout.
	victim := ownerOf(t, base(0))
	replicas[victim].kill(t)
	proxy.down(victim)
	crashed := time.Now()
	live := []int{}
	for i := range replicas {
		if i != victim {
			live = append(live, i)
		}
	}
	waitPassRunsSince(t, base(live[0]), crashed, 6, 60*time.Second)

	// Restart the replica that took it over, cleanly: it drains, leaves the group (the case
	// moves to the last one at once, without running twice in a period), and comes back with
	// the history.
	moved := ownerOf(t, base(live[0]))
	if moved == victim {
		t.Fatalf("the killed replica r%d still runs the case", victim)
	}
	other := live[0]
	if other == moved {
		other = live[1]
	}
	before := runsOf(t, base(moved))
	replicas[moved].stop(t)
	proxy.down(moved)
	restarted := time.Now()
	replicas[moved] = serve(moved)
	waitHTTP(t, base(moved)+"/readyz", 60*time.Second)
	proxy.up(moved)
	after := runsOf(t, base(moved))
	have := map[string]bool{}
	for _, r := range after {
		have[r.TraceID] = true
	}
	for _, r := range before {
		if !have[r.TraceID] {
			t.Errorf("run %s (by %s) of the restarted replica's page is gone after the restart", r.TraceID, r.Replica)
		}
	}
	waitPassRunsSince(t, base(other), restarted, 4, 60*time.Second)

	// The live pages agree (within the results topic's lag).
	var r0, r1 []procRun
	deadline := time.Now().Add(15 * time.Second)
	for {
		r0, r1 = runsOf(t, base(other)), runsOf(t, base(moved))
		if sameRuns(r0, r1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pages of r%d and r%d disagree after 15s:\n%v\n%v", other, moved, traceIDs(r0), traceIDs(r1))
		}
		<-time.After(100 * time.Millisecond) // polling two other processes
	}

	// Every run passed: every delivery was matched, wherever it landed.
	byReplica := map[string]int{}
	for _, r := range r0 {
		byReplica[r.Replica]++
		if r.Outcome != "pass" {
			t.Errorf("run %s on %s: %s %s", r.TraceID, r.Replica, r.Outcome, r.Error)
		}
	}
	// Relay work per live replica (separate processes): receipts read from Kafka and decoded
	// against those meant for it. Nothing is decoded that was not pending there.
	for _, i := range []int{other, moved} {
		m := scrape(t, base(i))
		read := m[`orbital_cluster_receipts_total{result="ignored"}`] + m[`orbital_cluster_receipts_total{result="matched"}`] +
			m[`orbital_cluster_receipts_total{result="invalid"}`]
		matched := m[`orbital_cluster_receipts_total{result="matched"}`]
		t.Logf("r%d: relayed %v, local %v, receipts read %v, decoded (matched) %v", i, m["orbital_cluster_relayed_total"],
			m["orbital_cluster_local_total"], read, matched)
		if m[`orbital_cluster_receipts_total{result="invalid"}`] > 0 {
			t.Errorf("r%d decoded invalid receipts", i)
		}
	}

	// Cluster-wide, from steady state on: gaps and extra runs per period.
	var starts []time.Time
	for _, r := range r0 {
		if r.Start.After(steady.Add(-period - time.Second)) { // from the last run before steady on
			starts = append(starts, r.Start)
		}
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	var timeline []string
	for _, r := range slices.SortedFunc(slices.Values(r0), func(a, b procRun) int { return a.Start.Compare(b.Start) }) {
		timeline = append(timeline, fmt.Sprintf("%s %s", r.Start.Format("05.000"), r.Replica))
	}
	t.Logf("steady %s, crash (r%d) %s, restart (r%d) %s; runs: %v", steady.Format("05.000"), victim, crashed.Format("05.000"),
		moved, restarted.Format("05.000"), timeline)
	var maxGap time.Duration
	extra := 0
	for i := 1; i < len(starts); i++ {
		gap := starts[i].Sub(starts[i-1])
		maxGap = max(maxGap, gap)
		if gap < period/2 {
			extra++
		}
	}
	const sessionTimeout, heartbeat = 10 * time.Second, time.Second
	crashBound := sessionTimeout + heartbeat + 2*period
	t.Logf("runs by replica %v; %d runs since steady state; largest gap %s (crash bound %s); %d extra runs within a period; wall time %s",
		byReplica, len(starts), maxGap.Round(time.Millisecond), crashBound, extra, time.Since(began).Round(time.Second))
	if maxGap > crashBound {
		t.Errorf("largest gap between runs %s, beyond the crash bound %s", maxGap, crashBound)
	}
	if extra > 1 {
		t.Errorf("%d runs within a period of the previous one, want at most 1 (after the crash)", extra)
	}
	// The killed replica and its successor ran it (after the clean restart it may come back to
	// the restarted one when that rejoins before the third runs it: sticky assignment).
	if len(byReplica) < 2 {
		t.Errorf("runs by replica %v: the case should have run on the killed replica and its successor", byReplica)
	}

	// Issue 17: a lost event is located by the replica that ran it, from its own Kafka tap
	// (every replica taps every partition of the ingest topic, the default with --api and
	// --kafka-brokers, and keeps only its own runs' events), and every page shows it.
	dropped := time.Now()
	setPipelineFaults(t, "http://"+pipeAddr, adminToken, "drop=1")
	lost := waitFailedRun(t, base(other), dropped, 90*time.Second)
	for _, w := range []string{"accepted by the API (200 in ", "written to events[", "no dead-letter topic is tapped"} {
		if !strings.Contains(lost.Error, w) {
			t.Errorf("failed run %s on %s: error %q, want it to say %q", lost.TraceID, lost.Replica, lost.Error, w)
		}
	}
}

// waitFailedRun waits for a failed run of track that started after since on base's page.
func waitFailedRun(t *testing.T, base string, since time.Time, limit time.Duration) procRun {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		for _, r := range runsOf(t, base) {
			if r.Outcome == "fail" && r.Start.After(since) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no failed run since %s within %s", base, since.Format(time.TimeOnly), limit)
		}
		<-time.After(200 * time.Millisecond) // polling another process
	}
}

// proc is a child process whose output is kept for the failure message.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

func newProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "ORBITAL_LOG_LEVEL=info")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- output of %s (last 4 KiB):\n%s", name, tail(p.out.String(), 4<<10))
		}
	})
	return p
}

func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not stop within 60s of SIGTERM", p.name)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("%s exited with %d after SIGTERM", p.name, code)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string, limit time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 within %s (last error %v)", url, limit, err)
		}
		<-time.After(100 * time.Millisecond) // polling another process
	}
}

type procRun struct {
	apiRun
	Start time.Time `json:"start"`
	Error string    `json:"error"`
}

func runsOf(t *testing.T, base string) []procRun {
	t.Helper()
	var runs []procRun
	getJSONURL(t, base+"/api/cases/track/runs?limit=200", &runs)
	return runs
}

// scrape returns the unlabelled and labelled samples of base's /metrics by series.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(string(line[i+1:]), &v); err == nil {
			out[string(line[:i])] = v
		}
	}
	return out
}

// ownerOf is the replica (index) that made the latest run on base's page.
func ownerOf(t *testing.T, base string) int {
	t.Helper()
	runs := runsOf(t, base)
	if len(runs) == 0 {
		t.Fatalf("%s: no runs", base)
	}
	latest := runs[0]
	for _, r := range runs {
		if r.Start.After(latest.Start) {
			latest = r
		}
	}
	var i int
	if _, err := fmt.Sscanf(latest.Replica, "r%d", &i); err != nil {
		t.Fatalf("replica %q: %v", latest.Replica, err)
	}
	return i
}

func waitPassRuns(t *testing.T, base string, n int, limit time.Duration) {
	t.Helper()
	waitPassRunsSince(t, base, time.Time{}, n, limit)
}

// waitPassRunsSince waits until base's page shows n passing runs started after since.
func waitPassRunsSince(t *testing.T, base string, since time.Time, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := 0
		for _, r := range runsOf(t, base) {
			if r.Outcome == "pass" && r.Start.After(since) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d passing runs since %s within %s, want %d", base, got, since.Format(time.TimeOnly), limit, n)
		}
		<-time.After(100 * time.Millisecond) // polling another process
	}
}

func traceIDs(rs []procRun) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.TraceID + "@" + r.Replica
	}
	return out
}

func sameRuns(a, b []procRun) bool { return slices.Equal(traceIDs(a), traceIDs(b)) }

// roundRobin is the load balancer in front of the replicas: each delivery goes to the next
// replica that is up, trying the others when it cannot connect.
type roundRobin struct {
	addrs  []string
	downed []atomic.Bool
	next   atomic.Uint64
	client *http.Client
}

func newRoundRobin(addrs []string) *roundRobin {
	return &roundRobin{addrs: addrs, downed: make([]atomic.Bool, len(addrs)),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}}
}

func (p *roundRobin) down(i int) { p.downed[i].Store(true) }
func (p *roundRobin) up(i int)   { p.downed[i].Store(false) }

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := p.next.Add(1)
	for k := range uint64(len(p.addrs)) {
		i := int((start + k) % uint64(len(p.addrs)))
		if p.downed[i].Load() {
			continue
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, "http://"+p.addrs[i]+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			continue // down: the next one
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no replica up", http.StatusBadGateway)
}

// buildBinaries builds e2e and the example pipeline (examples/cmd/pipeline) into a temporary
// directory and returns their paths.
func buildBinaries(t *testing.T) (e2eBin, pipeBin string) {
	t.Helper()
	bin := t.TempDir()
	build := func(name, pkg string) string {
		t.Helper()
		out := filepath.Join(bin, name)
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Dir = filepath.Join("..", "..")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		return out
	}
	return build("e2e", "./cmd/e2e"), build("pipeline", "./examples/cmd/pipeline")
}
