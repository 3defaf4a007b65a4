// The overdue review: tick rows, write one note, urge them all in one request. The server urges
// each case on its own (a case that moved on is reported on its row, the others go ahead); the
// page updates each row's urge count and version, or says why that row was not urged.
(function () {
  "use strict";
  var root = document.getElementById("overdue-page");
  if (!root) return;
  var t = JSON.parse(document.getElementById("overdue-i18n").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var form = document.getElementById("urge-form");
  var note = document.getElementById("urge-note");
  var noteError = document.getElementById("urge-note-error");
  var submit = document.getElementById("urge-submit");
  var selected = document.getElementById("urge-selected");
  var status = document.getElementById("urge-status");
  var pickAll = document.getElementById("pick-all");
  var FINAL = { closed: true, void: true, merged: true };

  function boxes() {
    return Array.prototype.slice.call(root.querySelectorAll(".pick-row:not(:disabled)"));
  }

  function ticked() {
    return boxes().filter(function (b) { return b.checked; });
  }

  function update() {
    var n = ticked().length;
    var all = boxes().length;
    selected.textContent = String(n);
    submit.disabled = n === 0;
    pickAll.checked = n > 0 && n === all;
    pickAll.indeterminate = n > 0 && n < all;
  }

  root.addEventListener("change", function (ev) {
    if (ev.target.classList.contains("pick-row")) {
      ev.target.closest("tr").classList.toggle("picked", ev.target.checked);
      update();
    }
  });
  pickAll.addEventListener("change", function () {
    boxes().forEach(function (b) {
      b.checked = pickAll.checked;
      b.closest("tr").classList.toggle("picked", b.checked);
    });
    update();
  });

  // The grid list follows the chosen district (grid codes start with the district's code).
  var district = document.getElementById("f-district");
  var grid = document.getElementById("f-grid");
  function narrowGrids() {
    var d = district.value;
    Array.prototype.forEach.call(grid.options, function (o) {
      o.hidden = !!(d && o.value && o.dataset.district !== d);
    });
    if (grid.selectedOptions.length && grid.selectedOptions[0].hidden) grid.value = "";
  }
  district.addEventListener("change", narrowGrids);
  narrowGrids();

  function rowMessage(res) {
    var state = t.states[res.current_state] || res.current_state || "";
    if (res.status === 409) {
      return (FINAL[res.current_state] ? t.closed : t.movedOn).replace("STATE", state);
    }
    if (res.status === 404) return t.notFound;
    if (res.status === 403) return t.forbidden;
    return res.message || t.failed;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    noteError.textContent = "";
    note.removeAttribute("aria-invalid");
    var picked = ticked();
    if (!picked.length) {
      status.textContent = t.noneSelected;
      return;
    }
    if (!note.value.trim()) {
      noteError.textContent = t.noteRequired;
      note.setAttribute("aria-invalid", "true");
      note.focus();
      return;
    }
    var rows = {};
    var cases = picked.map(function (b) {
      var row = b.closest("tr");
      rows[row.dataset.number] = row;
      row.querySelector(".row-result").textContent = "";
      row.classList.remove("urge-ok", "urge-failed");
      return { number: row.dataset.number, version: Number(row.dataset.version) };
    });
    submit.disabled = true;
    fetch(root.dataset.urgeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ note: note.value, cases: cases })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    }, function () {
      return { ok: false, status: 0, body: {} };
    }).then(function (res) {
      if (!res.ok) {
        var err = (res.body && res.body.error) || {};
        status.textContent = err.message || t.failed + (res.status ? " (" + res.status + ")" : "");
        if (err.fields && err.fields.note) {
          noteError.textContent = t.noteRequired;
          note.setAttribute("aria-invalid", "true");
        }
        update();
        return;
      }
      res.body.results.forEach(function (r) {
        var row = rows[r.number];
        if (!row) return;
        var box = row.querySelector(".pick-row");
        var out = row.querySelector(".row-result");
        if (r.ok) {
          row.dataset.version = String(r.version);
          row.querySelector(".urge-count").textContent = String(r.urge_count);
          out.textContent = t.urged.replace("N", String(r.urge_count));
          row.classList.add("urge-ok");
          box.checked = false;
          row.classList.remove("picked");
        } else {
          out.textContent = rowMessage(r);
          row.classList.add("urge-failed");
          if (r.current_state && FINAL[r.current_state]) {
            box.checked = false;
            box.disabled = true;
            row.classList.remove("picked");
          }
        }
      });
      status.textContent = t.summary.replace("OK", String(res.body.urged)).replace("FAILED", String(res.body.failed));
      if (!res.body.failed) note.value = "";
      update();
    });
  });
  update();
})();
