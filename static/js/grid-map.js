// The grid map: community grids with names and codes, district outlines, click to locate.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el) return;
  var t = JSON.parse(document.getElementById("i18n").textContent);
  var map = L.map(el, { preferCanvas: false, zoomSnap: 0.25 });
  window.__gridMap = map;  // for tests and the console
  if (el.dataset.tileUrl) {
    L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "" }).addTo(map);
  }
  var gridLayer = null;
  var marker = null;
  var byCode = {};

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function officersHtml(list) {
    if (!list || !list.length) return "<dd>" + esc(t.none) + "</dd>";
    return "<dd><ul class=\"officers\">" + list.map(function (o) {
      return "<li><span class=\"role role-" + esc(o.role) + "\">" + esc(t[o.role] || o.role) +
        "</span> " + esc(o.name) + " <span class=\"muted\">" + esc(o.phone) + "</span></li>";
    }).join("") + "</ul></dd>";
  }

  function highlight(code) {
    if (!gridLayer) return;
    gridLayer.eachLayer(function (layer) {
      var selected = layer.feature.properties.code === code;
      layer.setStyle(selected ? { weight: 3, color: "#d64545", fillOpacity: 0.35 }
                              : { weight: 1, color: "#486581", fillOpacity: 0.12 });
    });
  }

  function showGrid(code) {
    var box = document.getElementById("grid-info");
    fetch(el.dataset.gridUrl.replace("CODE", encodeURIComponent(code)))
      .then(function (r) { return r.json(); })
      .then(function (f) {
        var p = f.properties;
        box.hidden = false;
        box.className = "result";
        box.innerHTML = "<strong id=\"grid-info-name\">" + esc(p.name) + "</strong>" +
          "<dl><dt>" + esc(t.code) + "</dt><dd id=\"grid-info-code\">" + esc(p.code) + "</dd>" +
          "<dt>" + esc(t.area) + "</dt><dd>" + (p.area_m2 / 1e6).toFixed(2) + " " + esc(t.km2) + "</dd>" +
          "<dt>" + esc(t.officers) + "</dt>" + officersHtml(p.officers) + "</dl>";
        highlight(code);
      });
  }

  function locate(lng, lat, crs) {
    var url = el.dataset.locateUrl + "?lng=" + encodeURIComponent(lng) + "&lat=" +
      encodeURIComponent(lat) + "&crs=" + encodeURIComponent(crs || "wgs84");
    var box = document.getElementById("locate-result");
    return fetch(url).then(function (r) { return r.json(); }).then(function (res) {
      box.hidden = false;
      if (res.error) {
        box.className = "result outside";
        box.textContent = t.error + ": " + res.error.message;
        return;
      }
      box.className = "result " + res.status;
      box.dataset.status = res.status;
      var html = "<strong>" + esc(t[res.status]) + "</strong>";
      if (res.grid) {
        html += "<dl><dt>" + esc(t.code) + "</dt><dd id=\"locate-code\">" + esc(res.grid.code) + "</dd>" +
          "<dt></dt><dd id=\"locate-name\">" + esc(res.grid.name) + "</dd>";
        if (res.approximate) {
          html += "<dt>" + esc(t.distance) + "</dt><dd>" + res.distance_m.toFixed(1) + " " + esc(t.m) + "</dd>";
        }
        html += "<dt>" + esc(t.officers) + "</dt>" + officersHtml(res.grid.officers) + "</dl>";
        highlight(res.grid.code);
      } else {
        highlight(null);
      }
      box.innerHTML = html;
      var ll = [res.wgs84.lat, res.wgs84.lng];
      if (marker) { marker.setLatLng(ll); } else { marker = L.circleMarker(ll, { radius: 7, color: "#d64545" }).addTo(map); }
    });
  }

  fetch(el.dataset.gridsUrl).then(function (r) { return r.json(); }).then(function (fc) {
    gridLayer = L.geoJSON(fc, {
      style: { weight: 1, color: "#486581", fillColor: "#9fb3c8", fillOpacity: 0.12 },
      onEachFeature: function (feature, layer) {
        byCode[feature.properties.code] = layer;
        layer.bindTooltip(feature.properties.name + "<br>" + feature.properties.code, { sticky: true });
        // The click also bubbles to the map, which locates the point.
        layer.on("click", function () { showGrid(feature.properties.code); });
      }
    }).addTo(map);
    map.fitBounds(gridLayer.getBounds());
    updateLabels();
    el.dataset.loaded = String(fc.features.length);
  });
  fetch(el.dataset.districtsUrl).then(function (r) { return r.json(); }).then(function (fc) {
    L.geoJSON(fc, {
      interactive: false,
      style: { weight: 2.5, color: "#102a43", fill: false },
      onEachFeature: function (feature, layer) {
        // District names stay on screen; community names appear once zoomed in enough.
        L.tooltip({ permanent: true, direction: "center", className: "district-label" })
          .setLatLng(layer.getBounds().getCenter()).setContent(esc(feature.properties.name)).addTo(map);
      }
    }).addTo(map);
  });

  var labels = L.layerGroup();
  function updateLabels() {
    if (!gridLayer) return;
    if (map.getZoom() >= 15) {
      if (!map.hasLayer(labels)) {
        labels.clearLayers();
        gridLayer.eachLayer(function (layer) {
          var p = layer.feature.properties;
          labels.addLayer(L.tooltip({ permanent: true, direction: "center", className: "grid-label" })
            .setLatLng(layer.getBounds().getCenter())
            .setContent(esc(p.name) + "<br><small>" + esc(p.code) + "</small>"));
        });
        labels.addTo(map);
      }
    } else if (map.hasLayer(labels)) {
      map.removeLayer(labels);
    }
  }
  map.on("zoomend", updateLabels);

  map.on("click", function (e) {
    // Clicks outside every grid (the river, beyond the city) still locate.
    document.getElementById("locate-lng").value = e.latlng.lng.toFixed(6);
    document.getElementById("locate-lat").value = e.latlng.lat.toFixed(6);
    locate(e.latlng.lng, e.latlng.lat, "wgs84");
  });

  document.getElementById("locate-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target;
    locate(f.lng.value, f.lat.value, f.crs.value);
  });
})();
