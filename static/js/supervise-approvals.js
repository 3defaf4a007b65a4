// Approvals waiting for me: approve or reject a request inline. Each decision is the case's
// workflow action (approve_extension, reject_return …) posted to the JSON action API with the
// case version shown and the page's CSRF token; a decided request leaves the list.
(function () {
  "use strict";
  var root = document.getElementById("approvals-page");
  if (!root) return;
  var t = JSON.parse(document.getElementById("approvals-i18n").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var status = document.getElementById("approvals-status");
  var count = document.getElementById("approvals-count");

  function post(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    }, function () {
      return { ok: false, status: 0, body: {} };
    });
  }

  function decide(row, approve) {
    var noteBox = row.querySelector(".decision-note");
    var errorBox = row.querySelector(".row-error");
    var note = noteBox.value.trim();
    errorBox.textContent = "";
    noteBox.removeAttribute("aria-invalid");
    if (!approve && !note) {
      errorBox.textContent = t.noteRequired;
      noteBox.setAttribute("aria-invalid", "true");
      noteBox.focus();
      return;
    }
    var buttons = row.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    var action = approve ? row.dataset.approve : row.dataset.reject;
    var url = root.dataset.actionUrl.replace("NUMBER", encodeURIComponent(row.dataset.number))
      .replace("ACTION", encodeURIComponent(action));
    post(url, { note: note, data: {}, version: Number(row.dataset.version) }).then(function (res) {
      if (!res.ok) {
        buttons.forEach(function (b) { b.disabled = false; });
        var err = (res.body && res.body.error) || {};
        var message = err.message || t.failed + (res.status ? " (" + res.status + ")" : "");
        errorBox.textContent = res.status === 409 ? t.conflict + ": " + message : message;
        return;
      }
      var kind = row.dataset.kindLabel;
      var next = row.nextElementSibling || row.previousElementSibling;
      row.parentNode.removeChild(row);
      status.textContent = (approve ? t.approved : t.rejected)
        .replace("NUMBER", row.dataset.number).replace("KIND", kind);
      var left = root.querySelectorAll("#approvals-table tbody tr").length;
      count.textContent = String(left);
      document.getElementById("approvals-empty").hidden = left > 0;
      document.getElementById("approvals-table").hidden = left === 0;
      var focusable = next && next.querySelector("textarea");
      if (focusable) focusable.focus();
    });
  }

  root.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button.approve, button.reject");
    if (!btn) return;
    decide(btn.closest("tr"), btn.classList.contains("approve"));
  });
})();
