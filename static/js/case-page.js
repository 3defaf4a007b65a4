// The case page: a small map of the case and its grid, and the action forms.
// Every action is a POST to the JSON API with the case version shown (409 when someone else
// acted first) and the page's CSRF token; on success the page reloads to show the new state.
(function () {
  "use strict";
  var root = document.getElementById("case-page");
  if (!root) return;
  var t = JSON.parse(document.getElementById("case-i18n").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function getJson(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      });
  }

  function option(value, text) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    return o;
  }

  // ------------------------------------------------------------------ the map
  var mapEl = document.getElementById("case-map");
  var map = null;
  var pickMarker = null;
  var placeForm = null;  // the open "place" form, if any: map clicks fill it

  function setupMap() {
    var d = mapEl.dataset;
    var hasPoint = d.lng !== undefined && d.lat !== undefined;
    if (!d.gridUrl && !d.gridsUrl && !hasPoint) {
      mapEl.hidden = true;
      return;
    }
    map = L.map(mapEl, { zoomSnap: 0.25 });
    window.__caseMap = map;  // for tests and the console
    if (d.tileUrl) L.tileLayer(d.tileUrl, { attribution: d.tileAttribution || "" }).addTo(map);
    var point = hasPoint ? L.latLng(parseFloat(d.lat), parseFloat(d.lng)) : null;
    if (point) {
      L.circleMarker(point, { radius: 7, color: "#d64545", fillOpacity: 0.8 })
        .bindTooltip(esc(t.reportedPoint)).addTo(map);
      map.setView(point, 16);
    }
    var pending = [];
    if (d.gridsUrl) {
      // Unplaced case: every community grid, to click into.
      pending.push(getJson(d.gridsUrl).then(function (fc) {
        var layer = L.geoJSON(fc, {
          style: { weight: 1, color: "#486581", fillColor: "#9fb3c8", fillOpacity: 0.12 },
          onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.name) + "<br>" + esc(f.properties.code), { sticky: true }); }
        }).addTo(map);
        if (!point) map.fitBounds(layer.getBounds());
      }));
    }
    if (d.gridUrl) {
      pending.push(getJson(d.gridUrl).then(function (feature) {
        var layer = L.geoJSON(feature, {
          interactive: false,
          style: { weight: 2, color: "#0b6bcb", fillColor: "#0b6bcb", fillOpacity: 0.1 }
        }).addTo(map);
        var bounds = layer.getBounds();
        if (point) bounds.extend(point);
        map.fitBounds(bounds, { padding: [12, 12], maxZoom: 17 });
      }));
    }
    Promise.all(pending).then(function () { mapEl.dataset.loaded = "1"; }, function () {
      mapEl.dataset.loaded = "error";
    });
    map.on("click", function (e) {
      if (!placeForm) return;
      placeForm.querySelector(".place-lng").value = e.latlng.lng.toFixed(6);
      placeForm.querySelector(".place-lat").value = e.latlng.lat.toFixed(6);
      showPick(placeForm);
    });
  }

  function showPick(form) {
    var lng = parseFloat(form.querySelector(".place-lng").value);
    var lat = parseFloat(form.querySelector(".place-lat").value);
    var out = form.querySelector(".place-result");
    if (!isFinite(lng) || !isFinite(lat)) return;
    if (map) {
      if (pickMarker) pickMarker.setLatLng([lat, lng]);
      else pickMarker = L.marker([lat, lng], { keyboard: false }).addTo(map);
    }
    var url = mapEl.dataset.locateUrl + "?lng=" + encodeURIComponent(lng) + "&lat=" +
      encodeURIComponent(lat) + "&crs=wgs84";
    getJson(url).then(function (res) {
      out.dataset.status = res.status;
      out.textContent = (t[res.status] || res.status) +
        (res.grid ? ": " + res.grid.code + " " + res.grid.name : "");
    }, function () { out.textContent = t.failed; });
  }

  if (mapEl) setupMap();

  // ------------------------------------------------------------------ action forms
  var actionUrl = root.dataset.actionUrl;
  var categoriesUrl = root.dataset.categoriesUrl;
  var buttons = Array.prototype.slice.call(root.querySelectorAll(".action-button"));
  var forms = Array.prototype.slice.call(root.querySelectorAll(".action-form"));

  function buttonFor(form) {
    return document.getElementById("btn-" + form.dataset.action);
  }

  function closeForm(form) {
    form.hidden = true;
    buttonFor(form).setAttribute("aria-expanded", "false");
    if (form === placeForm) placeForm = null;
  }

  function openForm(name) {
    forms.forEach(function (f) { if (f.dataset.action !== name && !f.hidden) closeForm(f); });
    var form = document.getElementById("form-" + name);
    form.hidden = false;
    buttonFor(form).setAttribute("aria-expanded", "true");
    if (form.dataset.kind === "place") placeForm = form;
    var first = form.querySelector("input:not([type=hidden]):not([disabled]), select, textarea");
    if (first) first.focus();
  }

  buttons.forEach(function (btn) {
    btn.addEventListener("click", function () {
      var form = document.getElementById("form-" + btn.dataset.action);
      if (form.hidden) openForm(btn.dataset.action);
      else closeForm(form);
    });
  });

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var box = form.querySelector(".form-error");
    box.hidden = true;
    box.textContent = "";
  }

  function showError(form, status, body) {
    var err = (body && body.error) || {};
    var box = form.querySelector(".form-error");
    var message = err.message || t.failed + " (" + status + ")";
    box.hidden = false;
    if (status === 409) {
      box.innerHTML = "<strong>" + esc(t.conflict) + "</strong>: " + esc(message) +
        ' <button type="button" class="secondary reload">' + esc(t.reload) + "</button>";
      box.querySelector(".reload").addEventListener("click", function () { window.location.reload(); });
      box.dataset.status = "409";
    } else {
      box.textContent = message;
      box.dataset.status = String(status);
    }
    var firstBad = null;
    Object.keys(err.fields || {}).forEach(function (name) {
      var holder = form.querySelector('[data-field~="' + name + '"]');
      if (!holder) return;
      var slot = holder.querySelector(".field-error");
      if (slot) slot.textContent = err.fields[name];
      var control = holder.querySelector("input, select, textarea");
      if (control) {
        control.setAttribute("aria-invalid", "true");
        firstBad = firstBad || control;
      }
    });
    if (firstBad) firstBad.focus();
    else (box.querySelector("button") || form.querySelector(".submit")).focus();
  }

  function ownerData(form) {
    var choice = form.querySelector("input[name=owner_choice]:checked");
    var data = {};
    if (choice && choice.value === "proposal") {
      if (choice.dataset.officerId) data.officer_id = Number(choice.dataset.officerId);
      if (choice.dataset.departmentId) data.department_id = Number(choice.dataset.departmentId);
    } else {
      var parts = form.querySelector(".owner-select").value.split(":");
      data[parts[0] === "officer" ? "officer_id" : "department_id"] = Number(parts[1]);
      var reason = form.querySelector(".owner-reason").value.trim();
      if (reason) data.reason = reason;
    }
    return data;
  }

  function collect(form) {
    switch (form.dataset.kind) {
      case "file":
        return {
          category_id: Number(form.querySelector(".category-select").value),
          filing_condition_id: Number(form.querySelector(".condition-select").value)
        };
      case "dispatch":
        return ownerData(form);
      case "extension":
        return { due_at: form.elements.due_at.value };
      case "merge":
        return { duplicate_of: form.elements.duplicate_of.value.trim() };
      case "callback":
        return { satisfaction: form.querySelector(".satisfaction-select").value };
      case "place":
        return {
          lng: parseFloat(form.querySelector(".place-lng").value),
          lat: parseFloat(form.querySelector(".place-lat").value),
          crs: "wgs84"
        };
      default:
        return {};
    }
  }

  function submit(form) {
    clearErrors(form);
    var submitBtn = form.querySelector(".submit");
    submitBtn.disabled = true;
    submitBtn.dataset.label = submitBtn.dataset.label || submitBtn.textContent;
    submitBtn.textContent = t.saving;
    var body = {
      note: form.elements.note.value,
      data: collect(form),
      version: Number(root.dataset.version)
    };
    fetch(actionUrl.replace("ACTION", encodeURIComponent(form.dataset.action)), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        if (r.ok) {
          window.location.reload();
          return;
        }
        showError(form, r.status, json);
      });
    }).catch(function () {
      showError(form, 0, { error: { message: t.failed } });
    }).then(function () {
      submitBtn.disabled = false;
      submitBtn.textContent = submitBtn.dataset.label;
    });
  }

  function setupFile(form) {
    var q = form.querySelector(".category-q");
    var sel = form.querySelector(".category-select");
    var cond = form.querySelector(".condition-select");
    var timer = null;
    var seq = 0;

    function limitText(c) {
      return c.limit_value + " " + (t.clock[c.clock_type] || c.clock_type);
    }

    function loadConditions(id) {
      var mine = ++seq;
      cond.innerHTML = "";
      cond.appendChild(option("", t.chooseCondition));
      if (!id) return;
      getJson(categoriesUrl + "/" + encodeURIComponent(id)).then(function (c) {
        if (mine !== seq) return;
        c.conditions.forEach(function (x) {
          cond.appendChild(option(x.id, x.text + " · " + limitText(x)));
        });
        if (!c.conditions.length) cond.firstChild.textContent = t.noConditions;
        if (c.conditions.length === 1) cond.value = String(c.conditions[0].id);
        cond.dataset.loaded = String(id);
      });
    }

    function search() {
      var term = q.value.trim();
      if (!term) return;
      var mine = ++seq;
      getJson(categoriesUrl + "?q=" + encodeURIComponent(term)).then(function (res) {
        if (mine !== seq) return;
        sel.innerHTML = "";
        res.categories.forEach(function (c) {
          sel.appendChild(option(c.id, c.code + " " + c.name + " · " + c.major_name));
        });
        if (!res.categories.length) {
          var none = option("", t.noCategories);
          none.disabled = true;
          sel.appendChild(none);
        }
        sel.dataset.loaded = term;
        if (res.categories.length === 1) {
          sel.value = String(res.categories[0].id);
          loadConditions(sel.value);
        }
      });
    }

    q.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
    q.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); clearTimeout(timer); search(); }
      if (ev.key === "ArrowDown" && sel.options.length) { ev.preventDefault(); sel.focus(); }
    });
    sel.addEventListener("change", function () { loadConditions(sel.value); });
  }

  function setupDispatch(form) {
    var select = form.querySelector(".owner-select");
    var reason = form.querySelector(".owner-reason");
    function sync() {
      var choice = form.querySelector("input[name=owner_choice]:checked");
      var other = !choice || choice.value === "other";
      select.required = other;
      reason.required = other;
    }
    form.querySelectorAll("input[name=owner_choice]").forEach(function (r) {
      r.addEventListener("change", sync);
    });
    // Picking another owner from the list chooses "another owner".
    select.addEventListener("focus", function () {
      var other = form.querySelector("input[name=owner_choice][value=other]");
      if (!other.checked) { other.checked = true; sync(); }
    });
    sync();
  }

  forms.forEach(function (form) {
    if (form.dataset.kind === "file") setupFile(form);
    if (form.dataset.kind === "dispatch") setupDispatch(form);
    if (form.dataset.kind === "place") {
      form.querySelectorAll(".place-lng, .place-lat").forEach(function (input) {
        input.addEventListener("change", function () { showPick(form); });
      });
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submit(form);
    });
    form.querySelector(".cancel").addEventListener("click", function () {
      closeForm(form);
      buttonFor(form).focus();
    });
    form.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") {
        closeForm(form);
        buttonFor(form).focus();
      }
    });
  });
  // A masked caller's number, shown in full on request to roles that may (the server logs it).
  root.querySelectorAll("button.reveal-phone").forEach(function (btn) {
    btn.addEventListener("click", function () {
      btn.disabled = true;
      fetch(btn.dataset.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
        body: JSON.stringify({ reason: "case page" })
      }).then(function (r) {
        if (!r.ok) throw new Error(String(r.status));
        return r.json();
      }).then(function (data) {
        btn.previousElementSibling.textContent = data.phone;
        btn.remove();
      }).catch(function () {
        btn.disabled = false;
        btn.textContent = t.failed;
      });
    });
  });
})();
