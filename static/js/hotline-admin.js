// Administrators' hotline settings: knowledge-base answers, gazetteer import, category keywords.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("admin-config").textContent);
  var t = cfg.t;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  var entries = [];

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function say(text) { var s = $("admin-status"); s.textContent = text; s.hidden = false; }
  function send(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); });
  }
  function failed(res) { say((res.body.error && res.body.error.message) || t.failed); }

  function loadEntries() {
    fetch(cfg.urls.knowledge, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (b) {
      entries = b.entries;
      $("kb-list").innerHTML = entries.map(function (e, i) {
        return "<li><strong>" + esc(e.title) + "</strong>" + (e.is_active ? "" : ' <span class="muted">(' + esc(t.inactive) + ")</span>") +
          "<p>" + esc(e.answer) + '</p><button type="button" data-i="' + i + '">' + esc(t.edit) + "</button></li>";
      }).join("");
      $("kb-list").querySelectorAll("button").forEach(function (btn) {
        btn.addEventListener("click", function () {
          var e = entries[Number(btn.dataset.i)];
          $("kb-id").value = e.id; $("kb-title-in").value = e.title; $("kb-answer").value = e.answer;
          $("kb-keywords").value = e.keywords; $("kb-active").checked = e.is_active; $("kb-title-in").focus();
        });
      });
    });
  }
  $("kb-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var id = $("kb-id").value;
    send(id ? cfg.urls.update + id : cfg.urls.create, {
      title: $("kb-title-in").value, answer: $("kb-answer").value, keywords: $("kb-keywords").value, is_active: $("kb-active").checked,
    }).then(function (res) { if (!res.ok) return failed(res); say(t.saved); $("kb-form").reset(); $("kb-id").value = ""; loadEntries(); });
  });
  $("kb-new").addEventListener("click", function () { $("kb-form").reset(); $("kb-id").value = ""; $("kb-title-in").focus(); });

  $("gz-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = $("gz-file").files[0];
    if (!file) return;
    file.text().then(function (text) {
      var fmt = /\.csv$/i.test(file.name) ? "csv" : "geojson";
      return send(cfg.urls["import"], { content: text, format: fmt, crs: $("gz-crs").value, name: file.name });
    }).then(function (res) {
      if (!res.ok) return failed(res);
      var b = res.body;
      say(t.imported.replace("A", b.added).replace("U", b.updated).replace("E", b.errors.length));
      $("gz-report").textContent = b.errors.join("\n");
    });
  });

  $("kw-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    fetch(cfg.urls.categories + "?q=" + encodeURIComponent($("kw-q").value), { credentials: "same-origin" })
      .then(function (r) { return r.json(); }).then(function (b) {
        var cats = b.categories.slice(0, 20);
        $("kw-list").innerHTML = cats.map(function (c) {
          return "<li><strong>" + esc(c.code) + " " + esc(c.name) + '</strong><label>' + esc(t.saveKw) +
            ' <input id="kw-' + c.id + '" value="' + esc(c.keywords || "") + '"></label><button type="button" data-id="' + c.id + '">' + esc(t.saveKw) + "</button></li>";
        }).join("");
        $("kw-list").querySelectorAll("button").forEach(function (btn) {
          btn.addEventListener("click", function () {
            send(cfg.urls.keywords.replace("/0/keywords", "/" + btn.dataset.id + "/keywords"), { keywords: $("kw-" + btn.dataset.id).value })
              .then(function (res) { if (!res.ok) return failed(res); say(t.saved); });
          });
        });
      });
  });
  loadEntries();
})();
