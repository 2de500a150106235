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
    tr.appendChild(td("Period", "num", r.period || "–"));
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
    expanded.forEach(function (n) { if (!present.has(n)) { expanded.delete(n); details.delete(n); runsKey.delete(n); } });
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

  function runsURL(name) {
    return "api/cases/" + name.split("/").map(encodeURIComponent).join("/") + "/runs?limit=50";
  }

  function loadRuns(name) {
    return getJSON(runsURL(name)).then(function (runs) {
      if (expanded.has(name)) renderRuns(name, runs);
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
    Promise.all([getJSON("api/status"), getJSON("api/cases")]).then(function (res) {
      lastOK = Date.now();
      renderSummary(res[0]);
      renderRows(res[1]);
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
