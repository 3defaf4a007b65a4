// The inbox badge in the header: every 60 s (and when the tab comes back into view) ask the JSON
// API how many messages are unread, and show the count without reloading the page.
// On the inbox page, following a message's case link also marks that message read.
(function () {
  "use strict";
  var link = document.getElementById("nav-inbox");
  if (!link) return;
  var badge = document.getElementById("inbox-count");
  var countUrl = link.dataset.countUrl;
  var readUrl = countUrl.split("?")[0] + "/read";
  var PERIOD_MS = 60000;
  var timer = null;
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";

  function show(n) {
    badge.textContent = String(n);
    badge.hidden = !n;
    link.dataset.unread = String(n);
  }

  function stop() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  function refresh() {
    if (document.hidden) return Promise.resolve();
    return fetch(countUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { stop(); return null; }  // logged out elsewhere: stop asking
        return r.ok ? r.json() : null;
      })
      .then(function (body) { if (body) show(body.unread); })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }

  timer = setInterval(refresh, PERIOD_MS);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && timer !== null) refresh();
  });
  window.__inboxRefresh = refresh;  // for tests and the console

  // ------------------------------------------------------------------ the inbox page
  var list = document.getElementById("inbox-items");
  if (!list) return;
  list.addEventListener("click", function (ev) {
    var a = ev.target.closest("a.case-link");
    if (!a) return;
    var item = a.closest("li.notification");
    if (!item || item.dataset.read === "1") return;
    item.dataset.read = "1";
    // keepalive: the request outlives the page the link leaves.
    fetch(readUrl, {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ ids: [Number(item.dataset.id)] })
    }).catch(function () { /* the message simply stays unread */ });
  });
})();
