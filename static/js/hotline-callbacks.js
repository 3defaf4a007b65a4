// The callback (回访) queue: one row per closed case, one line per caller with a number; the
// operator picks satisfied / basically satisfied / dissatisfied (with a note) and records it.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("callback-config").textContent);
  var t = cfg.t;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var body = document.querySelector("#callback-queue tbody");
  var status = document.getElementById("queue-status");

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function local(iso) {
    return iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "";
  }
  function callerRow(c) {
    var done = c.satisfaction;
    var head = '<span class="caller-name">' + esc(c.name) + "</span> <span class=\"caller-phone\">" + esc(c.phone) + "</span>";
    if (done) return '<div class="caller-row" data-caller="' + c.id + '">' + head + " · " + esc(t.recorded) + ": " + esc(t[done] || done) + "</div>";
    if (!cfg.mayRecord) {
      return '<div class="caller-row" data-caller="' + c.id + '">' + head +
        (cfg.mayReveal && c.phone.indexOf("*") >= 0
          ? ' <button type="button" class="reveal" data-caller="' + c.id + '">' + esc(t.reveal) + "</button>" : "") + "</div>";
    }
    return '<div class="caller-row" data-caller="' + c.id + '">' + head +
      ' <label>' + esc(t.satisfaction) + ' <select id="sat-' + c.id + '"><option value="">' + esc(t.choose) + "</option>" +
      ["satisfied", "basically_satisfied", "dissatisfied"].map(function (s) { return '<option value="' + s + '">' + esc(t[s]) + "</option>"; }).join("") +
      "</select></label> <label>" + esc(t.note) + ' <input type="text" id="note-' + c.id + '" maxlength="2000"></label>' +
      ' <button type="button" class="record" id="record-' + c.id + '" data-caller="' + c.id + '">' + esc(t.record) + "</button></div>";
  }
  function load() {
    return fetch(cfg.urls.queue, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (b) {
        status.textContent = b.cases.length ? t.count.replace("N", b.cases.length) : t.empty;
        body.innerHTML = b.cases.map(function (k) {
          return '<tr data-number="' + esc(k.number) + '"><td><a href="' + esc(cfg.urls["case"].replace("NUMBER", k.number)) + '">' +
            esc(k.number) + "</a><br>" + esc(k.description) + '<br><span class="muted">' + esc(k.address) + "</span></td><td" +
            (k.overdue ? ' class="overdue"' : "") + ">" + esc(local(k.due_at)) + (k.overdue ? " · " + esc(t.overdue) : "") +
            "</td><td>" + k.callers.map(callerRow).join("") + "</td></tr>";
        }).join("");
        body.querySelectorAll("button.record").forEach(function (btn) {
          btn.addEventListener("click", function () { record(btn.dataset.caller); });
        });
        body.querySelectorAll("button.reveal").forEach(function (btn) {
          btn.addEventListener("click", function () { reveal(btn); });
        });
        document.body.dataset.loaded = String(Date.now());
      })
      .catch(function () { status.textContent = t.failed; });
  }
  // A full number for a role that may see it: asked for one at a time, and logged.
  function reveal(btn) {
    fetch(cfg.urls.reveal.replace("/0/reveal", "/" + btn.dataset.caller + "/reveal"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ reason: "callback queue" }),
    }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = (res.body.error && res.body.error.message) || t.failed; return; }
        btn.parentNode.querySelector(".caller-phone").textContent = res.body.phone;
        btn.remove();
      });
  }
  function record(id) {
    var sat = document.getElementById("sat-" + id).value;
    var note = document.getElementById("note-" + id).value;
    fetch(cfg.urls.record, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ caller_id: Number(id), satisfaction: sat, note: note }),
    }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = (res.body.error && res.body.error.message) || t.failed; return; }
        return load().then(function () {
          var b = res.body;
          if (b.case_action === "reopen") status.textContent = t.reopened.replace("N", b.number);
          else if (b.case_action === "record_callback") status.textContent = t.closedCallback.replace("N", b.number);
        });
      });
  }
  load();
})();
