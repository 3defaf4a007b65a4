// The 12345 desk: one form driven from the keyboard while the caller talks. As the number is
// typed the caller's history appears; the description suggests categories (and, for a
// consultation, answers from the knowledge base); the place comes from the gazetteer (↓/↑ and
// Enter), a click on the map or typed coordinates, and shows its grid and officer; open cases
// nearby are offered as duplicates to attach to. Ctrl+Enter submits, Esc starts a new call.
// Incoming calls announced by the telephony system arrive as server-sent events.
(function () {
  "use strict";
  var form = document.getElementById("call-form");
  if (!form) return;
  var cfg = JSON.parse(document.getElementById("desk-config").textContent);
  var t = cfg.t;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  var phone = $("caller-phone"), desc = $("description"), placeQ = $("place-q");
  var placeList = $("place-list"), lngIn = $("coord-lng"), latIn = $("coord-lat");
  var crsIn = $("coord-crs"), typeIn = $("request-type"), seatIn = $("seat");
  var state = { point: null, category: null, attachTo: null, knowledgeId: null, key: newKey(), places: [], active: -1 };
  var timers = {};

  function newKey() {
    if (window.crypto && crypto.randomUUID) return "desk-" + crypto.randomUUID();
    return "desk-" + Date.now() + "-" + Math.random().toString(36).slice(2);
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fill(text, values) {
    return Object.keys(values).reduce(function (s, k) { return s.split(k).join(values[k]); }, text);
  }
  function debounce(name, ms, fn) {
    clearTimeout(timers[name]);
    timers[name] = setTimeout(fn, ms);
  }
  // The newest answer wins: a slow reply to an older keystroke is dropped.
  var seq = {};
  function getJSON(name, url) {
    var mine = (seq[name] = (seq[name] || 0) + 1);
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        if (mine !== seq[name]) throw { stale: true };
        return res;
      });
  }
  function qs(params) {
    return Object.keys(params).filter(function (k) { return params[k] !== null && params[k] !== undefined && params[k] !== ""; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]); }).join("&");
  }
  function ignoreStale(err) { if (!err || !err.stale) console.error(err); }

  // ------------------------------------------------------------------ seat
  seatIn.value = localStorage.getItem("hotline-seat") || "";
  seatIn.addEventListener("change", function () {
    localStorage.setItem("hotline-seat", seatIn.value.trim());
    connectStream();
  });

  // ------------------------------------------------------------------ caller history
  function digits(s) { return s.replace(/[\s\-()]/g, ""); }
  function loadHistory() {
    var number = digits(phone.value);
    var list = $("history"), status = $("history-status");
    if (number.length < 5 || !/^\+?\d+$/.test(number)) {
      list.innerHTML = "";
      status.textContent = t.noHistory;
      return;
    }
    status.textContent = t.loading;
    getJSON("history", cfg.urls.history.replace("PHONE", encodeURIComponent(number))).then(function (res) {
      if (!res.ok) { status.textContent = t.failed; return; }
      var b = res.body;
      status.textContent = b.calls.length || b.cases.length
        ? fill(t.historyCount, { N: b.calls.length, C: b.cases.length }) : t.noHistory;
      var rows = b.cases.map(function (c) {
        return '<li class="history-case" data-number="' + esc(c.number) + '"><a href="' +
          esc(cfg.urls["case"].replace("NUMBER", c.number)) + '" target="_blank">' + esc(c.number) +
          '</a> <span class="state">' + esc(t.states[c.state] || c.state) + "</span> " +
          '<span class="muted">' + esc(c.created_at.slice(0, 10)) + "</span><br>" + esc(c.description) + "</li>";
      });
      b.calls.forEach(function (c) {
        if (c.outcome === "answered") {
          rows.push('<li class="history-call">' + esc(c.number) + " " + esc(t.types[c.request_type] || c.request_type) +
            ' <span class="muted">' + esc(c.at.slice(0, 10)) + "</span><br>" + esc(c.description) + "</li>");
        }
      });
      list.innerHTML = rows.join("");
    }).catch(ignoreStale);
  }
  phone.addEventListener("input", function () { debounce("history", 150, loadHistory); });

  // ------------------------------------------------------------------ request type
  function onTypeChange() {
    var consult = typeIn.value === "consultation";
    $("knowledge").hidden = !consult;
    if (consult && !$("knowledge-q").value && desc.value) {
      $("knowledge-q").value = desc.value.slice(0, 30);
      searchKnowledge();
    }
  }
  typeIn.addEventListener("change", onTypeChange);

  // ------------------------------------------------------------------ categories
  function suggest() {
    var text = desc.value.trim();
    if (text.length < 2) { $("categories").innerHTML = ""; return; }
    getJSON("suggest", cfg.urls.suggest + "?" + qs({ text: text })).then(function (res) {
      if (!res.ok) return;
      var cats = res.body.categories;
      var keep = state.category && cats.some(function (c) { return c.id === state.category.id; });
      if (!keep && state.category && state.category.pinned) cats.unshift(state.category);
      $("categories").innerHTML = cats.map(function (c, i) {
        return '<label class="pick"><input type="radio" name="category" value="' + c.id + '" data-i="' + i + '"' +
          (state.category && state.category.id === c.id ? " checked" : "") + "> " + esc(c.name) +
          ' <span class="muted">' + esc(c.code) + " · " + esc(c.major_name) + "</span></label>";
      }).join("");
      form.dataset.suggestedFor = text;  // which text the list answers (tests wait on it)
      $("categories").querySelectorAll("input").forEach(function (input) {
        input.addEventListener("change", function () {
          var c = cats[Number(input.dataset.i)];
          c.pinned = true;
          chooseCategory(c);
        });
      });
    }).catch(ignoreStale);
  }
  function chooseCategory(c) {
    state.category = c;
    var sel = $("condition");
    sel.innerHTML = c.conditions.map(function (k) {
      return '<option value="' + k.id + '" data-v="' + k.limit_value + '" data-u="' + k.clock_type + '">' + esc(k.text) + "</option>";
    }).join("");
    $("condition-label").hidden = !c.conditions.length;
    showLimit();
    findDuplicates();
  }
  function showLimit() {
    var opt = $("condition").selectedOptions[0];
    $("condition-limit").textContent = opt
      ? fill(t.limit, { V: opt.dataset.v, U: t.units[opt.dataset.u] || opt.dataset.u }) : "";
  }
  $("condition").addEventListener("change", showLimit);
  desc.addEventListener("input", function () { debounce("suggest", 250, suggest); });

  // ------------------------------------------------------------------ knowledge base
  function searchKnowledge() {
    var q = $("knowledge-q").value.trim();
    getJSON("knowledge", cfg.urls.knowledge + "?" + qs({ q: q })).then(function (res) {
      if (!res.ok) return;
      var entries = res.body.entries;
      $("knowledge-list").innerHTML = entries.length ? entries.map(function (e, i) {
        return '<li><strong>' + esc(e.title) + "</strong><p>" + esc(e.answer) + '</p><button type="button" data-i="' +
          i + '" class="use-answer">' + esc(t.useAnswer) + "</button></li>";
      }).join("") : '<li class="muted">' + esc(t.noAnswers) + "</li>";
      $("knowledge-list").querySelectorAll("button").forEach(function (btn) {
        btn.addEventListener("click", function () {
          var e = entries[Number(btn.dataset.i)];
          state.knowledgeId = e.id;
          $("answer").value = e.answer;
          $("answer").focus();
        });
      });
    }).catch(ignoreStale);
  }
  $("knowledge-q").addEventListener("input", function () { debounce("knowledge", 200, searchKnowledge); });
  $("knowledge-q").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter") { ev.preventDefault(); searchKnowledge(); }
  });
  $("answer").addEventListener("input", function () { if (!$("answer").value.trim()) state.knowledgeId = null; });

  // ------------------------------------------------------------------ map
  var mapEl = $("desk-map");
  var map = L.map(mapEl, { zoomSnap: 0.25, maxZoom: 19, keyboard: false });
  window.__deskMap = map;  // for tests and the console
  if (mapEl.dataset.tileUrl) {
    L.tileLayer(mapEl.dataset.tileUrl, { attribution: mapEl.dataset.tileAttribution || "" }).addTo(map);
  }
  map.setView([26.89, 112.57], 12);
  fetch(mapEl.dataset.gridsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (fc) {
    var layer = L.geoJSON(fc, { style: { color: "#627d98", weight: 1, fillOpacity: 0.04 }, interactive: false }).addTo(map);
    if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
    mapEl.dataset.ready = "1";
  }).catch(function (e) { console.error(e); mapEl.dataset.ready = "1"; });
  var marker = null;
  map.on("click", function (ev) {
    setPoint(ev.latlng.lng, ev.latlng.lat, "wgs84", true);
  });

  // ------------------------------------------------------------------ where
  function setPoint(lng, lat, crs, fromMap) {
    state.point = { lng: lng, lat: lat, crs: crs };
    if (fromMap || crs === "wgs84") {
      lngIn.value = lng.toFixed(6);
      latIn.value = lat.toFixed(6);
      crsIn.value = crs;
    }
    locate();
    findDuplicates();
  }
  function showMarker(lng, lat) {
    if (marker) marker.setLatLng([lat, lng]);
    else marker = L.marker([lat, lng], { keyboard: false }).addTo(map);
    map.panTo([lat, lng]);
  }
  function locate() {
    var p = state.point, info = $("grid-info");
    if (!p) { info.textContent = t.noPlace; info.className = "muted"; return; }
    getJSON("locate", cfg.urls.locate + "?" + qs(p)).then(function (res) {
      if (!res.ok) { info.textContent = (res.body.error && res.body.error.message) || t.failed; return; }
      var b = res.body;
      showMarker(b.wgs84.lng, b.wgs84.lat);
      if (!b.grid) { info.textContent = t.outside; info.className = "warning"; return; }
      var officer = b.grid.officers[0];
      info.className = "grid-found";
      info.innerHTML = esc(t.grid) + ": <strong id=\"grid-name\">" + esc(b.grid.name) + "</strong> (" + esc(b.grid.code) + ")" +
        (b.approximate ? " · " + esc(t.approximate) : "") + "<br>" + esc(t.officer) + ": " +
        (officer ? '<span id="grid-officer">' + esc(officer.name) + " " + esc(officer.phone) + "</span>" : esc(t.noOfficer));
    }).catch(ignoreStale);
  }
  function typedPoint() {
    var lng = parseFloat(lngIn.value), lat = parseFloat(latIn.value);
    if (isFinite(lng) && isFinite(lat)) setPoint(lng, lat, crsIn.value, false);
  }
  [lngIn, latIn, crsIn].forEach(function (el) { el.addEventListener("change", typedPoint); });

  function renderPlaces() {
    var items = state.places;
    placeList.innerHTML = items.length ? items.map(function (p, i) {
      return '<li role="option" id="place-' + i + '" data-i="' + i + '"' + (i === state.active ? ' aria-selected="true" class="active"' : "") +
        "><strong>" + esc(p.name) + '</strong> <span class="muted">' + esc(p.parent) + "</span></li>";
    }).join("") : '<li class="muted" role="option" aria-disabled="true">' + esc(t.noPlaces) + "</li>";
    placeList.hidden = false;
    placeQ.setAttribute("aria-expanded", "true");
    if (state.active >= 0) placeQ.setAttribute("aria-activedescendant", "place-" + state.active);
    else placeQ.removeAttribute("aria-activedescendant");
  }
  function closePlaces() {
    placeList.hidden = true;
    placeQ.setAttribute("aria-expanded", "false");
    placeQ.removeAttribute("aria-activedescendant");
  }
  function searchPlaces() {
    var q = placeQ.value.trim();
    if (!q) { state.places = []; closePlaces(); return; }
    getJSON("places", cfg.urls.gazetteer + "?" + qs({ q: q })).then(function (res) {
      if (!res.ok) return;
      state.places = res.body.places;
      state.active = state.places.length ? 0 : -1;
      renderPlaces();
      placeQ.dataset.answered = q;
    }).catch(ignoreStale);
  }
  function pickPlace(i) {
    var p = state.places[i];
    if (!p) return;
    placeQ.value = p.name;
    var addr = $("address");
    addr.value = (p.parent ? p.parent.split(" ").slice(0, 2).join("") + " " : "") + p.name;
    closePlaces();
    setPoint(p.lng, p.lat, "wgs84", true);
  }
  placeQ.addEventListener("input", function () { debounce("places", 60, searchPlaces); });
  placeQ.addEventListener("keydown", function (ev) {
    if (placeList.hidden && ev.key === "ArrowDown") { searchPlaces(); ev.preventDefault(); return; }
    if (placeList.hidden) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      var n = state.places.length;
      if (!n) return;
      state.active = (state.active + (ev.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderPlaces();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (state.active >= 0) pickPlace(state.active);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      closePlaces();
    }
  });
  placeList.addEventListener("mousedown", function (ev) {
    var li = ev.target.closest("li[data-i]");
    if (li) { ev.preventDefault(); pickPlace(Number(li.dataset.i)); }
  });
  placeQ.addEventListener("blur", function () { setTimeout(closePlaces, 150); });

  // ------------------------------------------------------------------ duplicates
  function findDuplicates() {
    var p = state.point, box = $("dup-box");
    if (!p) { box.hidden = true; return; }
    var params = { lng: p.lng, lat: p.lat, crs: p.crs, category_id: state.category ? state.category.id : null };
    getJSON("dups", cfg.urls.duplicates + "?" + qs(params)).then(function (res) {
      if (!res.ok) return;
      var cases = res.body.cases;
      box.hidden = false;
      $("duplicates").innerHTML = cases.length ? cases.map(function (c) {
        return '<li><a href="' + esc(cfg.urls["case"].replace("NUMBER", c.number)) + '" target="_blank">' + esc(c.number) +
          "</a> " + esc(t.states[c.state] || c.state) + " · " + Math.round(c.distance_m) + " m · " + esc(c.category) +
          "<br>" + esc(c.description) + '<br><button type="button" class="attach-btn" id="attach-' + esc(c.number) +
          '" data-number="' + esc(c.number) + '">' + esc(t.attach) + "</button></li>";
      }).join("") : '<li class="muted">' + esc(t.noDuplicates) + "</li>";
      $("duplicates").querySelectorAll(".attach-btn").forEach(function (btn) {
        btn.addEventListener("click", function () { attach(btn.dataset.number); });
      });
    }).catch(ignoreStale);
  }
  function attach(number) {
    state.attachTo = number;
    var info = $("attach-info");
    if (!number) { info.hidden = true; info.innerHTML = ""; return; }
    info.hidden = false;
    info.innerHTML = esc(fill(t.attached, { N: number })) + ' <button type="button" id="cancel-attach">' + esc(t.cancelAttach) + "</button>";
    $("cancel-attach").addEventListener("click", function () { attach(null); });
    $("submit").focus();
  }

  // ------------------------------------------------------------------ submit
  function payload() {
    var answer = $("answer").value.trim();
    var consult = typeIn.value === "consultation";
    var body = {
      caller_phone: digits(phone.value),
      caller_name: $("caller-name").value,
      is_anonymous: $("anonymous").checked,
      request_type: typeIn.value,
      channel: $("channel").value,
      description: desc.value,
      address: $("address").value,
      seat: seatIn.value.trim(),
    };
    if (state.point) { body.lng = state.point.lng; body.lat = state.point.lat; body.crs = state.point.crs; }
    if (state.category) {
      body.category_id = state.category.id;
      var cond = $("condition").value;
      if (cond) body.filing_condition_id = Number(cond);
    }
    if (consult && answer) {
      body.answer = answer;
      if (state.knowledgeId) body.knowledge_entry_id = state.knowledgeId;
    } else if (state.attachTo) {
      body.attach_to = state.attachTo;
    }
    return body;
  }
  var sending = false;
  function submit() {
    if (sending) return;
    var err = $("form-error");
    err.hidden = true;
    sending = true;
    $("submit").disabled = true;
    fetch(cfg.urls.calls, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf, "Idempotency-Key": state.key },
      body: JSON.stringify(payload()),
    }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        if (!res.ok) {
          err.textContent = (res.body.error && res.body.error.message) || t.failed;
          err.hidden = false;
          return;
        }
        showResult(res.body);
      })
      .catch(function () { err.textContent = t.failed; err.hidden = false; })
      .then(function () { sending = false; $("submit").disabled = false; });
  }
  function showResult(b) {
    var label = b.outcome === "answered" ? t.toldAnswered : b.outcome === "attached" ? t.toldAttached : t.toldCase;
    var extra = "";
    if (b.case && b.case.check_code) extra += "<p>" + esc(t.checkCode) + ": <strong>" + esc(b.case.check_code) + "</strong></p>";
    if (b.case && b.case.placement === "pending" && b.outcome === "new_case") extra += '<p class="warning">' + esc(t.waitsPlacement) + "</p>";
    var el = $("result");
    el.innerHTML = "<p>" + esc(label) + ':</p><p class="number" id="told-number">' + esc(b.told_number) + "</p>" + extra;
    el.hidden = false;
    el.dataset.outcome = b.outcome;
    $("new-call").focus();
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
  form.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); submit(); return; }
    // A stray Enter in a field must not send a half-taken call: only Ctrl+Enter or the button.
    if (ev.key === "Enter" && ev.target.tagName === "INPUT") ev.preventDefault();
  });

  function reset() {
    form.reset();
    seatIn.value = localStorage.getItem("hotline-seat") || "";
    state = { point: null, category: null, attachTo: null, knowledgeId: null, key: newKey(), places: [], active: -1 };
    ["categories", "duplicates", "history", "knowledge-list", "condition"].forEach(function (id) { $(id).innerHTML = ""; });
    $("condition-label").hidden = true;
    $("condition-limit").textContent = "";
    $("dup-box").hidden = true;
    $("result").hidden = true;
    $("form-error").hidden = true;
    $("incoming").hidden = true;
    attach(null);
    closePlaces();
    $("grid-info").textContent = t.noPlace;
    $("grid-info").className = "muted";
    $("history-status").textContent = t.noHistory;
    if (marker) { map.removeLayer(marker); marker = null; }
    onTypeChange();
    phone.focus();
  }
  $("new-call").addEventListener("click", reset);
  // Esc starts a new call at once after a submit; mid-call it asks for a second Esc first.
  var discardUntil = 0;
  function untouched() { return !phone.value.trim() && !desc.value.trim() && !state.point; }
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape" || ev.defaultPrevented) return;
    ev.preventDefault();
    if (!$("result").hidden || untouched() || Date.now() < discardUntil) {
      discardUntil = 0;
      reset();
      return;
    }
    discardUntil = Date.now() + 3000;
    var err = $("form-error");
    err.textContent = t.discard;
    err.hidden = false;
  });

  // ------------------------------------------------------------------ incoming calls
  var source = null;
  function connectStream() {
    if (source) source.close();
    var url = cfg.urls.stream + (seatIn.value.trim() ? "?" + qs({ seat: seatIn.value.trim() }) : "");
    document.body.dataset.stream = "connecting";
    source = new EventSource(url);
    var seat = seatIn.value.trim();
    source.addEventListener("open", function () { document.body.dataset.stream = "open:" + seat; });
    source.addEventListener("incoming", function (ev) {
      var call = JSON.parse(ev.data);
      var box = $("incoming");
      box.textContent = fill(t.incoming, { P: call.phone, L: call.line });
      box.hidden = false;
      // A call in progress is never overwritten: the number goes in only when the form is fresh.
      if (!phone.value.trim() && !desc.value.trim()) {
        phone.value = call.phone;
        loadHistory();
        phone.focus();
      }
    });
  }
  connectStream();
  onTypeChange();
})();
