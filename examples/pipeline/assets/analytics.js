/* analytics.js: the example pipeline's browser snippet (a tiny subset of Segment's).
 *
 *   <script src="https://pipeline.example/analytics.js" data-write-key="KEY"></script>
 *   analytics.track("Signed Up", {plan: "pro"}, {messageId: "optional-id"}).then(...)
 *   analytics.page("Home", {path: "/"})
 *   analytics.identify("user-1")  // later calls carry this userId
 *   analytics.load("KEY", {host: "https://pipeline.example"})  // instead of the attributes
 *
 * The write key comes from data-write-key (or load); the API host defaults to the
 * origin the script was served from (override with data-host or load's host).
 * Every call returns a Promise that resolves with the API's JSON answer after the
 * pipeline acknowledged the event, and rejects with an Error on any other answer.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var a = window.analytics = window.analytics || {};
  a.writeKey = (script && script.getAttribute("data-write-key")) || a.writeKey || "";
  a.host = (script && script.getAttribute("data-host")) ||
    (script && script.src ? new URL(script.src, location.href).origin : location.origin);
  a.userId = null;

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === "x" ? r : (r & 3 | 8)).toString(16);
    });
  }

  function anonymousId() {
    var id = null;
    try { id = localStorage.getItem("ajs_anonymous_id"); } catch (e) { /* storage blocked */ }
    if (!id) {
      id = uuid();
      try { localStorage.setItem("ajs_anonymous_id", id); } catch (e) { /* storage blocked */ }
    }
    return id;
  }

  function send(path, msg, options) {
    options = options || {};
    msg.messageId = options.messageId || uuid();
    msg.anonymousId = anonymousId();
    if (options.userId || a.userId) msg.userId = options.userId || a.userId;
    msg.timestamp = new Date().toISOString();
    msg.context = {
      library: { name: "orbital-example-analytics.js", version: "1.0.0" },
      page: { url: location.href, path: location.pathname, title: document.title, referrer: document.referrer },
      userAgent: navigator.userAgent
    };
    return fetch(a.host.replace(/\/+$/, "") + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Basic " + btoa(a.writeKey + ":") },
      body: JSON.stringify(msg)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        if (!resp.ok) throw new Error(resp.status + " " + (body.error || resp.statusText));
        body.messageId = msg.messageId;
        return body;
      });
    });
  }

  a.load = function (writeKey, opts) {
    a.writeKey = writeKey;
    if (opts && opts.host) a.host = opts.host;
    return a;
  };
  // identify only remembers the user id for later calls (the API has no /v1/identify).
  a.identify = function (userId) {
    a.userId = userId;
    return Promise.resolve({ success: true });
  };
  a.track = function (event, properties, options) {
    return send("/v1/track", { type: "track", event: event, properties: properties || {} }, options);
  };
  a.page = function (name, properties, options) {
    var msg = { type: "page", properties: properties || {} };
    if (typeof name === "string") msg.name = name;
    return send("/v1/page", msg, options);
  };
})();
