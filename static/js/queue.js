// The dispatcher's queue (dispatch a row to its proposed owner) and the placement queue
// (choose a case, click the map, confirm). Both POST workflow actions to the JSON API with the
// case version shown and the page's CSRF token; a handled case leaves its list.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // POST one action; resolves to {ok, status, body}.
  function postAction(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        return { ok: r.ok, status: r.status, body: body };
      });
    }, function () {
      return { ok: false, status: 0, body: {} };
    });
  }

  function errorText(t, res) {
    var err = (res.body && res.body.error) || {};
    var message = err.message || t.failed + (res.status ? " (" + res.status + ")" : "");
    return res.status === 409 ? t.conflict + ": " + message : message;
  }

  // ------------------------------------------------------------------ dispatch queue
  function dispatchQueue(root) {
    var t = JSON.parse(document.getElementById("queue-i18n").textContent);
    var status = document.getElementById("queue-status");
    var count = document.getElementById("to-dispatch-count");
    root.querySelectorAll(".dispatch-proposed").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var row = btn.closest("tr");
        var number = row.dataset.number;
        var data = {};
        // Send the owner the dispatcher saw: if the proposal changed meanwhile, the server
        // treats it as a different owner and asks for a reason instead of silently switching.
        if (btn.dataset.officerId) data.officer_id = Number(btn.dataset.officerId);
        if (btn.dataset.departmentId) data.department_id = Number(btn.dataset.departmentId);
        var errorBox = row.querySelector(".row-error");
        errorBox.textContent = "";
        btn.disabled = true;
        var url = root.dataset.actionUrl.replace("NUMBER", encodeURIComponent(number));
        postAction(url, { note: "", data: data, version: Number(row.dataset.version) }).then(function (res) {
          if (!res.ok) {
            btn.disabled = false;
            errorBox.textContent = errorText(t, res);
            return;
          }
          var next = row.nextElementSibling || row.previousElementSibling;
          row.parentNode.removeChild(row);
          status.textContent = t.dispatched.replace("NUMBER", number).replace("NAME", btn.dataset.ownerName);
          var left = root.querySelectorAll("#to-dispatch tbody tr").length;
          count.textContent = String(left);
          document.getElementById("to-dispatch-empty").hidden = left > 0;
          // Keep keyboard users in the list rather than at the top of the page.
          var focusable = next && next.querySelector("button, a");
          if (focusable) focusable.focus();
        });
      });
    });
  }

  // ------------------------------------------------------------------ placement queue
  function placementQueue(root) {
    var t = JSON.parse(document.getElementById("placement-i18n").textContent);
    var el = document.getElementById("placement-map");
    var form = document.getElementById("placement-form");
    var lngInput = document.getElementById("placement-lng");
    var latInput = document.getElementById("placement-lat");
    var result = document.getElementById("placement-result");
    var errorBox = document.getElementById("placement-error");
    var confirmBtn = document.getElementById("placement-confirm");
    var chosenText = document.getElementById("placement-chosen");
    var status = document.getElementById("placement-status");
    var chosen = null;  // the selected case's button
    var located = null;  // the last locate answer for the picked point

    var map = L.map(el, { zoomSnap: 0.25 });
    window.__placementMap = map;  // for tests and the console
    if (el.dataset.tileUrl) {
      L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "" }).addTo(map);
    }
    var gridLayer = null;
    var pick = null;
    var reported = null;

    function highlight(code) {
      if (!gridLayer) return;
      gridLayer.eachLayer(function (layer) {
        var on = layer.feature.properties.code === code;
        layer.setStyle(on ? { weight: 3, color: "#d64545", fillOpacity: 0.3 }
                          : { weight: 1, color: "#486581", fillOpacity: 0.12 });
      });
    }

    function updateConfirm() {
      confirmBtn.disabled = !(chosen && located && located.grid);
    }

    fetch(el.dataset.gridsUrl, { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (fc) {
        gridLayer = L.geoJSON(fc, {
          style: { weight: 1, color: "#486581", fillColor: "#9fb3c8", fillOpacity: 0.12 },
          onEachFeature: function (f, layer) {
            layer.bindTooltip(esc(f.properties.name) + "<br>" + esc(f.properties.code), { sticky: true });
          }
        }).addTo(map);
        map.fitBounds(gridLayer.getBounds());
        el.dataset.loaded = String(fc.features.length);
      });

    function locate() {
      var lng = parseFloat(lngInput.value);
      var lat = parseFloat(latInput.value);
      located = null;
      updateConfirm();
      if (!isFinite(lng) || !isFinite(lat)) return;
      if (pick) pick.setLatLng([lat, lng]);
      else pick = L.marker([lat, lng], { keyboard: false }).addTo(map);
      var url = el.dataset.locateUrl + "?lng=" + encodeURIComponent(lng) + "&lat=" +
        encodeURIComponent(lat) + "&crs=wgs84";
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (res) {
        result.hidden = false;
        if (res.error) {
          result.className = "result outside";
          result.dataset.status = "error";
          result.textContent = res.error.message;
          return;
        }
        located = res;
        result.className = "result " + res.status;
        result.dataset.status = res.status;
        result.innerHTML = "<strong>" + esc(t[res.status] || res.status) + "</strong>" +
          (res.grid ? '<div><span id="placement-grid-code">' + esc(res.grid.code) + "</span> " +
            esc(res.grid.name) + "</div>" : "");
        highlight(res.grid ? res.grid.code : null);
        updateConfirm();
      });
    }

    map.on("click", function (e) {
      lngInput.value = e.latlng.lng.toFixed(6);
      latInput.value = e.latlng.lat.toFixed(6);
      locate();
    });
    lngInput.addEventListener("change", locate);
    latInput.addEventListener("change", locate);

    function choose(btn) {
      root.querySelectorAll(".placement-case").forEach(function (b) {
        b.setAttribute("aria-pressed", b === btn ? "true" : "false");
      });
      chosen = btn;
      errorBox.hidden = true;
      chosenText.textContent = t.chosen.replace("NUMBER", btn.dataset.number);
      if (reported) { map.removeLayer(reported); reported = null; }
      if (btn.dataset.lng !== undefined) {
        // The point the report came with lies outside every grid: show it as a hint.
        var ll = [parseFloat(btn.dataset.lat), parseFloat(btn.dataset.lng)];
        reported = L.circleMarker(ll, { radius: 6, color: "#616e7c", dashArray: "3" })
          .bindTooltip(esc(t.reportedPoint)).addTo(map);
        map.panTo(ll);
      }
      updateConfirm();
    }

    root.querySelectorAll(".placement-case").forEach(function (btn) {
      btn.addEventListener("click", function () { choose(btn); });
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!chosen) return;
      var btn = chosen;
      var number = btn.dataset.number;
      var grid = located && located.grid ? located.grid.code + " " + located.grid.name : "";
      confirmBtn.disabled = true;
      errorBox.hidden = true;
      var url = root.dataset.actionUrl.replace("NUMBER", encodeURIComponent(number));
      var payload = {
        note: "",
        data: { lng: parseFloat(lngInput.value), lat: parseFloat(latInput.value), crs: "wgs84" },
        version: Number(btn.dataset.version)
      };
      postAction(url, payload).then(function (res) {
        if (!res.ok) {
          errorBox.hidden = false;
          errorBox.textContent = errorText(t, res);
          updateConfirm();
          return;
        }
        var item = btn.closest("li");
        var next = item.nextElementSibling || item.previousElementSibling;
        item.parentNode.removeChild(item);
        status.textContent = t.placed.replace("NUMBER", number).replace("GRID", grid);
        chosen = null;
        chosenText.textContent = t.none;
        if (reported) { map.removeLayer(reported); reported = null; }
        document.getElementById("placement-empty").hidden =
          root.querySelectorAll(".placement-case").length > 0;
        updateConfirm();
        if (next) next.querySelector("button").focus();
      });
    });
  }

  var queue = document.getElementById("dispatch-queue");
  if (queue) dispatchQueue(queue);
  var placement = document.getElementById("placement-page");
  if (placement) placementQueue(placement);
})();
