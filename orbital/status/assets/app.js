// orbital status page: polls the JSON API and redraws the table.
// Every piece of data goes into the DOM through textContent or attributes
// (never parsed as HTML).
(function () {
  "use strict";

  var body = document.body;
  var pollMs = parseInt(body.getAttribute("data-poll-ms"), 10) || 2000;
  var expanded = new Set();      // case names whose runs are shown
  var openLogs = new Map();      // trace id -> open state chosen by the user
  var details = new Map();       // case name -> its detail <tr>
  var runsKey = new Map();       // case name -> fingerprint of the runs shown
  var started = null;
  var lastOK = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtSecs(v) {
    if (v === null || v === undefined) return "–";
    if (v < 0.001) return Math.round(v * 1e6) + " µs";
    if (v < 1) return Math.round(v * 1000) + " ms";
    if (v < 60) return v.toFixed(2) + " s";
    return fmtSpan(v);
  }

  function fmtSpan(s) {
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + sec + "s";
    return sec + "s";
  }

  function fmtRatio(r) {
    if (!r || r.ratio === null || r.ratio === undefined) return "–";
    return (r.ratio * 100).toFixed(1) + "%";
  }

  function fmtWhen(iso) {
    if (!iso) return "never";
    var t = new Date(iso);
    return fmtSpan((Date.now() - t.getTime()) / 1000) + " ago";
  }

  function fmtAbs(iso) {
    var t = new Date(iso);
    return isNaN(t) ? "" : t.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function q3(q) {
    return fmtSecs(q.p50) + " · " + fmtSecs(q.p95) + " · " + fmtSecs(q.p99);
  }

  function ratioTitle(r) {
    return r.pass + " passed, " + r.fail + " failed, " + r.skip + " skipped, " + r.inconclusive +
      " inconclusive (skipped and inconclusive excluded)";
  }

  function td(label, cls, text) {
    var c = el("td", cls, text);
    c.setAttribute("data-label", label);
    return c;
  }

  function caseRow(r) {
    var tr = el("tr", "case depth-" + Math.min(r.depth, 5));
    var outcome = r.last_outcome || "none";
    tr.setAttribute("data-case", r.name);
    tr.setAttribute("data-outcome", outcome);
    tr.tabIndex = 0;
    tr.setAttribute("aria-expanded", expanded.has(r.name) ? "true" : "false");

    var name = el("th", "name");
    name.setAttribute("scope", "row");
    name.setAttribute("data-label", "Case");
    name.appendChild(el("span", "caret"));
    name.appendChild(document.createTextNode(r.name));
    tr.appendChild(name);

    var last = td("Last");
    var badge = el("span", "badge " + outcome, r.last_outcome || "no runs");
    if (r.last_run) badge.title = "started " + fmtAbs(r.last_run) + " · " + (r.last_trace_id || "");
    last.appendChild(badge);
    tr.appendChild(last);

    var stripTd = td("Last " + (body.getAttribute("data-strip-len") || "50") + " runs");
    var strip = el("span", "strip");
    strip.setAttribute("aria-label", "last " + r.strip.length + " runs");
    r.strip.forEach(function (c) {
      var cell = el("span", "cell " + c.outcome);
      cell.title = c.outcome + " · " + fmtAbs(c.start) + " · " + c.trace_id;
      strip.appendChild(cell);
    });
    stripTd.appendChild(strip);
    tr.appendChild(stripTd);

    var r1 = td("Pass 1 h", "num", fmtRatio(r.ratio_1h));
    r1.title = ratioTitle(r.ratio_1h);
    tr.appendChild(r1);
    var r24 = td("Pass 24 h", "num", fmtRatio(r.ratio_24h));
    r24.title = ratioTitle(r.ratio_24h);
    tr.appendChild(r24);
    var dq = td("Duration", "num q", q3(r.duration));
    dq.title = "over the last " + r.duration.count + " runs kept that were neither skipped nor inconclusive";
    tr.appendChild(dq);
    var lq = td("Send→delivery", "num q", q3(r.delivery_latency));
    lq.title = "over the last " + r.delivery_latency.count + " runs kept that measured it";
    tr.appendChild(lq);
    var pd = td("Period", "num", r.period || "–");
    if (r.ticks_skipped) {
      var sk = el("span", "skipped", " · " + r.ticks_skipped + " late");
      sk.title = "ticks dropped because the scheduler came more than a period late (a saturated machine), since this replica started";
      pd.appendChild(sk);
    }
    tr.appendChild(pd);
    var lf = td("Last failure", "", r.last_failure ? fmtWhen(r.last_failure) : "never");
    if (r.last_failure) lf.title = fmtAbs(r.last_failure) + (r.last_error ? "\n" + r.last_error : "");
    tr.appendChild(lf);
    return tr;
  }

  function detailRow(name) {
    var tr = details.get(name);
    if (!tr) {
      tr = el("tr", "detail");
      tr.setAttribute("data-detail-for", name);
      var cell = el("td");
      cell.colSpan = 9;
      var head = el("div", "runs-head");
      head.appendChild(el("span", "", "Recent runs of " + name + " — failures first"));
      head.appendChild(el("span", "runs-count", ""));
      cell.appendChild(el("div", "viz", ""));
      cell.appendChild(el("div", "case-incidents", ""));
      cell.appendChild(head);
      cell.appendChild(el("div", "runs", "loading…"));
      tr.appendChild(cell);
      details.set(name, tr);
    }
    return tr;
  }

  function renderRuns(name, runs) {
    var tr = detailRow(name);
    var key = runs.map(function (r) { return r.trace_id; }).join(",");
    if (runsKey.get(name) === key) return;
    runsKey.set(name, key);
    tr.querySelector(".runs-count").textContent = runs.length + " runs";
    var box = tr.querySelector(".runs");
    box.textContent = "";
    if (!runs.length) {
      box.appendChild(el("p", "note", "No runs yet."));
      return;
    }
    runs.forEach(function (r, i) {
      var d = el("details", "run " + r.outcome);
      d.setAttribute("data-trace-id", r.trace_id);
      var open = openLogs.has(r.trace_id) ? openLogs.get(r.trace_id) : i === 0;
      d.open = open;
      d.addEventListener("toggle", function () { openLogs.set(r.trace_id, d.open); });
      var s = el("summary");
      s.appendChild(el("span", "badge " + r.outcome, r.outcome + (r.timed_out ? " (timeout)" : "")));
      s.appendChild(el("span", "trace", r.trace_id));
      if (r.trace_url) {
        var tl = el("a", "trace-link", "trace");
        tl.href = r.trace_url;
        tl.target = "_blank";
        tl.rel = "noopener noreferrer";
        tl.addEventListener("click", function (ev) { ev.stopPropagation(); });
        s.appendChild(tl);
      }
      var st = el("span");
      st.appendChild(el("span", "k", "start"));
      st.appendChild(document.createTextNode(fmtAbs(r.start)));
      s.appendChild(st);
      var du = el("span");
      du.appendChild(el("span", "k", "duration"));
      du.appendChild(document.createTextNode(fmtSecs(r.duration_seconds)));
      s.appendChild(du);
      if (r.replica) {
        var rp = el("span", "replica");
        rp.appendChild(el("span", "k", "replica"));
        rp.appendChild(document.createTextNode(r.replica));
        s.appendChild(rp);
      }
      if (r.delivery_latency_seconds !== undefined) {
        var la = el("span");
        la.appendChild(el("span", "k", "send→delivery"));
        la.appendChild(document.createTextNode(fmtSecs(r.delivery_latency_seconds)));
        s.appendChild(la);
      }
      if (r.error) s.appendChild(el("span", "err", r.error));
      d.appendChild(s);
      var log = r.output || "(no log)";
      if (r.output_cut_bytes) log += "\n[" + r.output_cut_bytes + " bytes of log left out to bound memory]";
      d.appendChild(el("pre", "log", log));
      box.appendChild(d);
    });
  }

  var SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    return e;
  }

  function fmtClock(iso) {
    var t = new Date(iso);
    return isNaN(t) ? "" : t.toISOString().slice(11, 16) + "Z";
  }

  // fmtFor formats a span in seconds as the header says it: "45 s", "12 m", "3 h 5 m".
  function fmtFor(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " m";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " m";
    return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
  }

  // uptimeClass colours a bucket by its pass ratio: grey without runs,
  // amber when it only holds inconclusive runs.
  function uptimeClass(b) {
    if (b.ratio === null || b.ratio === undefined) return b.inconclusive > 0 ? "u-incon" : "u-none";
    if (b.ratio >= 1) return "u-up";
    if (b.ratio >= 0.9) return "u-warn";
    if (b.ratio > 0) return "u-bad";
    return "u-down";
  }

  function bucketTitle(b, width) {
    var t = fmtClock(b.start) + " +" + width + ": ";
    if (b.pass + b.fail + b.skip + b.inconclusive === 0) return t + "no runs";
    t += b.ratio === null ? "no verdict" : (b.ratio * 100).toFixed(1) + "% passed";
    return t + " (" + b.pass + " passed, " + b.fail + " failed, " + b.skip + " skipped, " + b.inconclusive + " inconclusive)";
  }

  // uptimeBar draws the 96 quarter-hours of the last 24 h as SVG rects.
  function uptimeBar(quarters) {
    var box = el("div", "uptime");
    var head = el("div", "viz-head");
    head.appendChild(el("span", "viz-title", "Uptime, last 24 h"));
    var note = el("span", "uptime-note", "hover or tap a bar");
    head.appendChild(note);
    box.appendChild(head);
    var n = quarters.length;
    var bar = svg("svg", { viewBox: "0 0 " + (n * 4) + " 20", preserveAspectRatio: "none", role: "img", "class": "uptime-bar" });
    bar.setAttribute("aria-label", "pass ratio per quarter-hour over 24 hours");
    quarters.forEach(function (b, i) {
      var r = svg("rect", { x: i * 4, y: 0, width: 3.2, height: 20, rx: 0.6, "class": "ub " + uptimeClass(b) });
      r.setAttribute("data-ratio", b.ratio === null ? "" : String(b.ratio));
      r.setAttribute("data-start", b.start);
      var title = bucketTitle(b, "15m");
      var tt = svg("title");
      tt.textContent = title;
      r.appendChild(tt);
      r.addEventListener("click", function () { note.textContent = title; });
      bar.appendChild(r);
    });
    box.appendChild(bar);
    var foot = el("div", "viz-foot");
    foot.appendChild(el("span", "", n ? fmtClock(quarters[0].start) : ""));
    foot.appendChild(el("span", "", "now"));
    box.appendChild(foot);
    return box;
  }

  var SERIES = [
    { key: "latency_p50", label: "send→delivery p50", cls: "s-lat50" },
    { key: "latency_p99", label: "send→delivery p99", cls: "s-lat99" },
    { key: "duration_p50", label: "duration p50", cls: "s-dur50" },
    { key: "duration_p99", label: "duration p99", cls: "s-dur99" }
  ];

  // latencyChart draws p50/p99 of delivery latency and run duration per
  // bucket on a log scale, gaps where a bucket has no value.
  function latencyChart(buckets, title, width, startLabel) {
    var box = el("div", "chart");
    box.setAttribute("data-window", title);
    var head = el("div", "viz-head");
    head.appendChild(el("span", "viz-title", title));
    var legend = el("span", "legend");
    SERIES.forEach(function (sr) { legend.appendChild(el("span", "lg " + sr.cls, sr.label)); });
    head.appendChild(legend);
    box.appendChild(head);

    var vals = [];
    buckets.forEach(function (b) { SERIES.forEach(function (sr) { if (b[sr.key] !== null && b[sr.key] > 0) vals.push(b[sr.key]); }); });
    var lo = vals.length ? Math.min.apply(null, vals) : 0.001, hi = vals.length ? Math.max.apply(null, vals) : 1;
    var l0 = Math.floor(Math.log10(lo)), l1 = Math.ceil(Math.log10(hi));
    if (l1 <= l0) l1 = l0 + 1;
    var W = 600, H = 120, n = buckets.length;
    var x = function (i) { return (i + 0.5) * W / n; };
    var y = function (v) { return H - (Math.log10(v) - l0) / (l1 - l0) * H; };
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img", "class": "chart-svg" });
    chart.setAttribute("aria-label", title + " latency and duration, log scale " + fmtSecs(Math.pow(10, l0)) + " to " + fmtSecs(Math.pow(10, l1)));
    for (var d = l0; d <= l1; d++) chart.appendChild(svg("line", { x1: 0, x2: W, y1: y(Math.pow(10, d)), y2: y(Math.pow(10, d)), "class": "grid" }));
    SERIES.forEach(function (sr) {
      var path = "", pen = false, data = [];
      buckets.forEach(function (b, i) {
        var v = b[sr.key];
        data.push(v === null ? "" : String(v));
        if (v === null || !(v > 0)) { pen = false; return; }
        path += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      var p = svg("path", { d: path, "class": "line " + sr.cls, "vector-effect": "non-scaling-stroke" });
      p.setAttribute("data-series", sr.key);
      p.setAttribute("data-values", data.join(","));
      chart.appendChild(p);
      // Lone points (a value between two gaps) as dots.
      buckets.forEach(function (b, i) {
        var v = b[sr.key], prev = i > 0 ? buckets[i - 1][sr.key] : null, next = i + 1 < n ? buckets[i + 1][sr.key] : null;
        if (v !== null && v > 0 && prev === null && next === null) {
          chart.appendChild(svg("rect", { x: x(i) - 1.5, y: y(v) - 1.5, width: 3, height: 3, "class": "dot " + sr.cls }));
        }
      });
    });
    // A hover target per bucket with its values.
    buckets.forEach(function (b, i) {
      var hit = svg("rect", { x: i * W / n, y: 0, width: W / n, height: H, "class": "hit" });
      var tt = svg("title");
      tt.textContent = fmtClock(b.start) + " +" + width + ": " + SERIES.map(function (sr) { return sr.label + " " + fmtSecs(b[sr.key]); }).join(", ");
      hit.appendChild(tt);
      chart.appendChild(hit);
    });
    box.appendChild(chart);
    var foot = el("div", "viz-foot");
    foot.appendChild(el("span", "", startLabel));
    foot.appendChild(el("span", "axis", fmtSecs(Math.pow(10, l0)) + " – " + fmtSecs(Math.pow(10, l1)) + " (log)"));
    foot.appendChild(el("span", "", "now"));
    box.appendChild(foot);
    return box;
  }

  var vizKey = new Map(); // case name -> fingerprint of the timeline drawn
  function renderTimeline(name, tl) {
    var tr = detailRow(name);
    var key = JSON.stringify([tl.minutes, tl.quarters]);
    if (vizKey.get(name) === key) return;
    vizKey.set(name, key);
    var box = tr.querySelector(".viz");
    box.replaceChildren(
      uptimeBar(tl.quarters),
      latencyChart(tl.minutes, "Last hour", "1m", "−1 h"),
      latencyChart(tl.quarters, "Last 24 h", "15m", "−24 h"));
  }

  function incidentItem(inc, withCase) {
    var li = el("li", "incident" + (inc.ongoing ? " ongoing" : ""));
    li.setAttribute("data-case", inc.case);
    li.setAttribute("data-trace-id", inc.trace_id);
    li.setAttribute("data-ongoing", inc.ongoing ? "true" : "false");
    var top = el("div", "inc-top");
    top.appendChild(el("span", "badge " + (inc.ongoing ? "fail" : "pass"), inc.ongoing ? "ongoing" : "resolved"));
    if (withCase) top.appendChild(el("span", "inc-case", inc.case));
    top.appendChild(el("span", "inc-when", fmtAbs(inc.start) + " → " + (inc.end ? fmtAbs(inc.end) : "now")));
    top.appendChild(el("span", "inc-dur", fmtFor(inc.duration_seconds)));
    top.appendChild(el("span", "inc-runs", inc.failed_runs + (inc.failed_runs === 1 ? " failed run" : " failed runs")));
    li.appendChild(top);
    if (inc.first_error) li.appendChild(el("div", "err", inc.first_error));
    li.appendChild(el("div", "trace", "first failed run " + inc.trace_id));
    return li;
  }

  function incidentList(list, withCase, empty) {
    if (!list.length) return el("p", "note", empty);
    var ul = el("ul", "incidents");
    list.forEach(function (inc) { ul.appendChild(incidentItem(inc, withCase)); });
    return ul;
  }

  function renderCaseIncidents(name, list) {
    var box = detailRow(name).querySelector(".case-incidents");
    var head = el("div", "viz-head");
    head.appendChild(el("span", "viz-title", "Incidents of " + name));
    head.appendChild(el("span", "", list.length > 5 ? "5 newest of " + list.length + " kept" : ""));
    box.replaceChildren(head, incidentList(list.slice(0, 5), false, "No incident kept: no failing run, or only subtests failed."));
  }

  function renderAllIncidents(list) {
    var box = document.getElementById("all-incidents");
    box.replaceChildren(incidentList(list.slice(0, 20), true, "No incidents."));
    document.getElementById("incidents-count").textContent = list.length ? "(" + list.length + ")" : "";
  }

  function renderRows(rows) {
    var tbody = document.getElementById("rows");
    var frag = document.createDocumentFragment();
    if (!rows.length) {
      var e = el("tr", "empty");
      var c = el("td", "", "No cases registered yet.");
      c.colSpan = 9;
      e.appendChild(c);
      frag.appendChild(e);
    }
    var present = new Set();
    rows.forEach(function (r) {
      present.add(r.name);
      frag.appendChild(caseRow(r));
      if (expanded.has(r.name)) frag.appendChild(detailRow(r.name));
    });
    expanded.forEach(function (n) { if (!present.has(n)) { expanded.delete(n); details.delete(n); runsKey.delete(n); vizKey.delete(n); } });
    tbody.replaceChildren(frag);
  }

  function renderSummary(s) {
    document.getElementById("h-version").textContent = s.version;
    document.getElementById("h-target").textContent = s.target;
    document.getElementById("h-passing").textContent = s.passing;
    document.getElementById("h-failing").textContent = s.failing;
    document.getElementById("h-skipped").textContent = s.skipped;
    document.getElementById("h-inconclusive").textContent = s.inconclusive;
    document.getElementById("h-pending").textContent = s.pending;
    var ff = document.getElementById("h-failing-for");
    if (s.failing_since) {
      ff.hidden = false;
      ff.setAttribute("data-case", s.failing_case);
      ff.textContent = s.failing_case + " failing for " + fmtFor(s.failing_for_seconds);
      ff.title = "oldest ongoing incident, since " + fmtAbs(s.failing_since);
    } else {
      ff.hidden = true;
      ff.textContent = "";
    }
    started = new Date(Date.now() - s.uptime_seconds * 1000);
    tickUptime();
  }

  function tickUptime() {
    if (started) document.getElementById("h-uptime").textContent = fmtSpan((Date.now() - started.getTime()) / 1000);
    var live = document.getElementById("live");
    var stale = Date.now() - lastOK > 3 * pollMs;
    live.classList.toggle("stale", stale);
    live.textContent = stale ? "reconnecting" : "live";
  }

  function getJSON(url) {
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, Math.max(pollMs * 2, 5000));
    return fetch(url, { signal: ctl.signal, cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (res) {
        clearTimeout(timer);
        if (!res.ok) throw new Error(url + ": HTTP " + res.status);
        return res.json();
      }, function (err) { clearTimeout(timer); throw err; });
  }

  function caseURL(name, what) {
    return "api/cases/" + name.split("/").map(encodeURIComponent).join("/") + "/" + what;
  }

  function loadRuns(name) {
    return Promise.all([getJSON(caseURL(name, "runs?limit=50")), getJSON(caseURL(name, "timeline")), getJSON(caseURL(name, "incidents"))]).then(function (res) {
      if (!expanded.has(name)) return;
      renderTimeline(name, res[1]);
      renderCaseIncidents(name, res[2]);
      renderRuns(name, res[0]);
    }, function (err) {
      var tr = details.get(name);
      if (tr) {
        runsKey.delete(name);
        var box = tr.querySelector(".runs");
        box.textContent = "";
        box.appendChild(el("p", "runs-err", String(err.message || err)));
      }
    });
  }

  var busy = false;
  function poll() {
    if (busy) return;
    busy = true;
    Promise.all([getJSON("api/status"), getJSON("api/cases"), getJSON("api/incidents")]).then(function (res) {
      lastOK = Date.now();
      renderSummary(res[0]);
      renderRows(res[1]);
      renderAllIncidents(res[2]);
      return Promise.all(Array.from(expanded).map(loadRuns));
    }).catch(function () { /* shown by the live badge */ }).then(function () {
      busy = false;
      tickUptime();
    });
  }

  function toggle(tr) {
    var name = tr.getAttribute("data-case");
    if (expanded.has(name)) {
      expanded.delete(name);
      var d = details.get(name);
      if (d && d.parentNode) d.parentNode.removeChild(d);
      tr.setAttribute("aria-expanded", "false");
      return;
    }
    expanded.add(name);
    tr.setAttribute("aria-expanded", "true");
    tr.after(detailRow(name));
    loadRuns(name);
  }

  document.getElementById("rows").addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr.case");
    if (tr) toggle(tr);
  });
  document.getElementById("rows").addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" && ev.key !== " ") return;
    var tr = ev.target.closest("tr.case");
    if (tr && ev.target === tr) { ev.preventDefault(); toggle(tr); }
  });

  lastOK = Date.now();
  poll();
  setInterval(poll, pollMs);
  setInterval(tickUptime, 1000);
})();
