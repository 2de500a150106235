// Package status keeps an in-memory history of orbital runs and serves it as
// a live status page and a JSON API.
//
// A [Status] is an [orbital.Reporter]: [New] adds it to the service it is
// given ([orbital.Service.AddReporter]) and every finished run (and subtest)
// is recorded from then on. It is
// also an [http.Handler]: mount it at "/" and it serves
//
//	GET  /                          the status page (HTML; assets embedded, no external network)
//	GET  /assets/...                its CSS and JavaScript
//	GET  /api/status                header data: version, uptime, target, cases passing/failing/skipped/inconclusive
//	GET  /api/cases                 one row per case, subtests after their parent (JSON array)
//	GET  /api/cases/{name}          one row
//	GET  /api/cases/{name}/runs     recent runs of a case, ?limit=N (default 50; larger than Config.History: all retained),
//	                                ?since=D only those that started in the last D
//	GET  /api/cases/{name}/incidents the case's incidents, newest first (top-level cases; [] for a subtest)
//	GET  /api/cases/{name}/timeline  its 60 one-minute and 96 fifteen-minute buckets: counts, ratio, latency/duration p50/p99
//	GET  /api/incidents             every case's incidents, newest first, at most MaxIncidents
//	GET  /api/runs?since=D          the history window of every case (?run=regexp selects), with verdicts
//	POST /api/cases/{name}/run      run a case now and return its result (needs Config.AdminToken)
//
// Subtest names contain '/' ("parent/sub"; a row's parent is the Result's
// Parent, never guessed from the name), so {name} is the whole path between
// /api/cases/ and the trailing /runs or /run; names are made of letters,
// digits, '_', '-', '.' and '/', plus the "#01" suffix of a repeated
// subtest name, which a client escapes as %23 (the page does).
// Every API answer is JSON, errors included: {"error": "..."} with a 4xx or
// 5xx status.
//
// The page polls /api/status and /api/cases every 2 seconds, and the runs of
// an expanded case, so it updates without a reload.
//
// # Manual runs
//
// POST /api/cases/{name}/run needs the header "Authorization: Bearer <token>"
// matching Config.AdminToken (compared in constant time). With no AdminToken
// the endpoint is disabled and answers 403 Forbidden. A missing or wrong
// token answers 401 Unauthorized, a name that is not a registered top-level
// case 404 Not Found (subtests run with their parent), a case with a run in
// flight (scheduled or manual) 409 Conflict. The run goes through
// [orbital.Service.RunNow], so it shares the scheduler's overlap guard, under
// the request's context and the case's own timeout; the answer is the case's
// result with its subtests' results in "subtests": the same Result a local
// release gate prints and reports, its log included, so a remote gate (`e2e
// gate --server`) rebuilds it and reports it the same way. Several cases run
// with one request per case, concurrently.
//
// # History windows
//
// GET /api/runs?since=D answers "has it been green since the deploy?" for a
// release gate (`e2e gate --server URL --since D`) or a canary analysis: a
// [Window] with, for every registered case (?run=regexp selects them by
// name), the runs that started in the last D, newest first, and a verdict:
// "pass" when the case has at least one passing run and no failing one, else
// "fail" with the reason. D is a Go duration, positive, at most [MaxSince];
// a bad D or ?run (longer than 1 KiB or not a regular expression) is 400, no
// case selected 404. The window can only hold what the history retains
// (Config.History runs per case): CaseWindow.Complete is false when it
// reaches further back.
//
// # Memory
//
// Memory stays bounded whatever the run rate: each case keeps its last
// Config.History runs in a ring buffer; at most Config.MaxCases case names are
// tracked (subtest names can be dynamic; the least recently reported name
// that is not a registered case is forgotten first); a run's log is cut to
// Config.MaxOutput bytes (head and tail kept) and its error message to 4 KiB,
// and the logs and long error messages of all retained runs together to
// Config.MaxLogBytes (the oldest logs are dropped first, the runs themselves
// stay with their error cut to 256 bytes).
//
// Pass ratios over 1 h and 24 h do not need the runs: each case counts
// outcomes in fixed rings of time buckets, 60 one-minute buckets and 96
// fifteen-minute buckets, so the windows are exact to the bucket (a run counts
// at the time it is reported). Skipped and inconclusive runs are excluded
// from the ratios (an inconclusive run is no verdict on the pipeline) and
// counted on their own; the page shows inconclusive in a colour of its own
// (amber), beside pass (green), fail (red) and skip (grey).
// Quantiles (p50, p95, p99) of run duration and of send-to-delivery latency
// (the "delivery.latency" measure of a run) are computed from the retained
// history only, that is the last Config.History runs; skipped and
// inconclusive runs are excluded from the duration quantiles.
//
// # Timeline and incidents
//
// Each time bucket that saw a run with a duration or a latency also holds
// two log-scale histograms (see [TimeBucket]): 288 bytes per bucket, at most
// 156 × (288 + 8) bytes ≈ 45 KiB per case, whatever the run rate; p50 and
// p99 per bucket are within 12%. The page draws them as inline SVG charts
// (last hour, last 24 h) and a 24 h uptime bar of the quarter-hour pass
// ratios. An [Incident] is a contiguous stretch of failing runs of a
// top-level case; skipped and inconclusive runs neither close nor extend
// it. [MaxIncidentsPerCase] are kept per case. Report buckets a run at the
// time it is reported, Feed at the run's own start; both feed the
// timeline and the incidents, and an incident's start and end are always
// runs' own starts.
package status
