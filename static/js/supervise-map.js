// The supervision map: community grids coloured by their open or overdue cases (one grouped
// query on the server), every open case as a marker, clustered by Leaflet.markercluster. The
// cases arrive as one compact array [number, lng, lat, level]; the markers share three icons
// and are added in chunks, so ten thousand of them keep the page responsive (only the markers
// not in a cluster are ever in the page). One shared popup serves every marker.
(function () {
  "use strict";
  var el = document.getElementById("supervise-map");
  if (!el) return;
  var t = JSON.parse(document.getElementById("map-i18n").textContent);
  var links = JSON.parse(document.getElementById("map-links").textContent);
  // markercluster needs a maxZoom, which a map without a tile layer does not have.
  var map = L.map(el, { preferCanvas: true, zoomSnap: 0.25, maxZoom: 19 });
  window.__superviseMap = map;  // for tests and the console
  if (el.dataset.tileUrl) {
    L.tileLayer(el.dataset.tileUrl, { attribution: el.dataset.tileAttribution || "" }).addTo(map);
  }
  var CLASS_COLOURS = ["#fdd49e", "#fdbb84", "#fc8d59", "#e34a33", "#b30000"];
  var figures = {};  // grid code -> {open, overdue, near_due}
  var gridLayer = null;
  var selected = null;
  var metric = "overdue";
  var breaks = [];

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); });
  }

  function valueOf(code) {
    var f = figures[code];
    return f ? f[metric] : 0;
  }

  // Up to five classes from 1 to the largest value (0 stays uncoloured): equal steps of whole
  // numbers, their colours spread over the whole ramp (so one class alone is still visible).
  function computeBreaks() {
    var max = 0;
    Object.keys(figures).forEach(function (code) { max = Math.max(max, figures[code][metric]); });
    var n = CLASS_COLOURS.length;
    var step = Math.max(1, Math.ceil(max / n));
    var ranges = [];
    for (var lo = 1; lo <= Math.max(max, 1); lo += step) ranges.push([lo, Math.min(lo + step - 1, Math.max(max, 1))]);
    breaks = ranges.map(function (r, i) {
      var at = ranges.length === 1 ? n - 2 : Math.round(i * (n - 1) / (ranges.length - 1));
      return [r[0], r[1], CLASS_COLOURS[at]];
    });
  }

  function colourOf(value) {
    if (!value) return null;
    for (var i = breaks.length - 1; i >= 0; i--) {
      if (value >= breaks[i][0]) return breaks[i][2];
    }
    return CLASS_COLOURS[0];
  }

  function style(feature) {
    var code = feature.properties.code;
    var fill = colourOf(valueOf(code));
    var on = code === selected;
    return {
      weight: on ? 3 : 1,
      color: on ? "#102a43" : "#829ab1",
      fillColor: fill || "#f0f4f8",
      fillOpacity: fill ? 0.7 : 0.25
    };
  }

  function drawLegend() {
    var box = document.getElementById("legend");
    var items = ['<li><span class="swatch" style="background:#f0f4f8"></span> 0</li>'];
    breaks.forEach(function (b) {
      items.push('<li><span class="swatch" style="background:' + b[2] + '"></span> ' +
        (b[0] === b[1] ? b[0] : b[0] + "–" + b[1]) + "</li>");
    });
    box.innerHTML = items.join("");
    box.dataset.metric = metric;
  }

  function restyle() {
    computeBreaks();
    drawLegend();
    if (gridLayer) gridLayer.setStyle(style);
  }

  function officersHtml(list) {
    if (!list || !list.length) return "<dd>" + esc(t.none) + "</dd>";
    return '<dd><ul class="officers">' + list.map(function (o) {
      return '<li><span class="role role-' + esc(o.role) + '">' + esc(t[o.role] || o.role) +
        "</span> " + esc(o.name) + "</li>";
    }).join("") + "</ul></dd>";
  }

  function showGrid(code, name) {
    selected = code;
    if (gridLayer) gridLayer.setStyle(style);
    var f = figures[code] || { open: 0, overdue: 0, near_due: 0 };
    var box = document.getElementById("grid-info");
    box.hidden = false;
    box.dataset.code = code;
    var head = '<strong id="grid-info-name">' + esc(name) + "</strong>" +
      "<dl><dt>" + esc(t.code) + '</dt><dd id="grid-info-code">' + esc(code) + "</dd>" +
      "<dt>" + esc(t.open) + '</dt><dd id="grid-info-open">' + f.open + "</dd>" +
      "<dt>" + esc(t.overdue) + '</dt><dd id="grid-info-overdue">' + f.overdue + "</dd>" +
      "<dt>" + esc(t.nearDue) + '</dt><dd id="grid-info-near">' + f.near_due + "</dd>";
    var list = f.overdue ? '<p><a id="grid-info-list" href="' +
      esc(links.overdueList.replace("GRID", encodeURIComponent(code))) + '">' + esc(t.listLink) + "</a></p>" : "";
    box.innerHTML = head + "<dt>" + esc(t.officers) + '</dt><dd class="muted">…</dd></dl>' + list;
    getJSON(el.dataset.gridUrl.replace("CODE", encodeURIComponent(code))).then(function (g) {
      if (selected !== code) return;
      var officers = (g.properties && g.properties.officers) || [];
      box.innerHTML = head + "<dt>" + esc(t.officers) + '</dt><div id="grid-info-officers">' +
        officersHtml(officers) + "</div></dl>" + list;
      box.dataset.loaded = "1";
    });
  }

  Promise.all([getJSON(el.dataset.gridsUrl), getJSON(el.dataset.figuresUrl)]).then(function (res) {
    var fc = res[0];
    (res[1].grids || []).forEach(function (g) { figures[g.code] = g; });
    computeBreaks();
    drawLegend();
    gridLayer = L.geoJSON(fc, {
      style: style,
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindTooltip(function () {
          var f = figures[p.code];
          return esc(p.name) + "<br>" + esc(p.code) + "<br>" + (f
            ? esc(t.open) + " " + f.open + " · " + esc(t.overdue) + " " + f.overdue
            : esc(t.noCases));
        }, { sticky: true });
        layer.on("click", function () { showGrid(p.code, p.name); });
      }
    }).addTo(map);
    gridLayer.bringToBack();
    map.fitBounds(gridLayer.getBounds());
    el.dataset.loaded = String(fc.features.length);
  });

  getJSON(el.dataset.districtsUrl).then(function (fc) {
    L.geoJSON(fc, {
      interactive: false,
      style: { weight: 2.5, color: "#102a43", fill: false },
      onEachFeature: function (feature, layer) {
        L.tooltip({ permanent: true, direction: "center", className: "district-label" })
          .setLatLng(layer.getBounds().getCenter()).setContent(esc(feature.properties.name)).addTo(map);
      }
    }).addTo(map);
  });

  // ------------------------------------------------------------------ case markers
  // Markers live in the marker pane, above the grids' canvas, and catch only their own clicks.
  var icons = [0, 1, 2].map(function (level) {
    return L.divIcon({ className: "case-marker level-" + level, iconSize: [14, 14] });
  });
  var popup = L.popup({ autoPanPadding: [24, 24] });
  var received = false;  // the cases' answer has come: progress reports from then on count
  var clusters = L.markerClusterGroup({
    chunkedLoading: true,
    chunkInterval: 100,
    chunkDelay: 30,
    showCoverageOnHover: false,
    maxClusterRadius: 50,
    spiderfyOnMaxZoom: true,
    iconCreateFunction: function (cluster) {
      var worst = 0;
      var children = cluster.getAllChildMarkers();
      for (var i = 0; i < children.length && worst < 2; i++) {
        worst = Math.max(worst, children[i].options.level);
      }
      var n = cluster.getChildCount();
      var size = n < 100 ? "small" : n < 1000 ? "medium" : "large";
      return L.divIcon({
        html: "<div><span>" + n + "</span></div>",
        className: "marker-cluster marker-cluster-" + size + " worst-" + worst,
        iconSize: L.point(40, 40)
      });
    },
    chunkProgress: function (processed, total) {
      // Also called (0 of 0) when the layer joins the map, before any case has arrived.
      if (received && processed === total) el.dataset.cases = String(total);
    }
  });
  clusters.on("click", function (e) {
    var o = e.layer.options;
    var url = el.dataset.caseUrl.replace("NUMBER", encodeURIComponent(o.number));
    popup.setLatLng(e.layer.getLatLng()).setContent(
      '<strong class="number">' + esc(o.number) + "</strong><br>" +
      '<span class="dot level-' + o.level + '"></span> ' + esc(t.levels[o.level]) + "<br>" +
      '<a class="case-link" href="' + esc(url) + '">' + esc(t.openCase) + "</a>"
    ).openOn(map);
  });
  map.addLayer(clusters);

  getJSON(el.dataset.casesUrl).then(function (data) {
    var f = data.fields;
    var iN = f.indexOf("number"), iX = f.indexOf("lng"), iY = f.indexOf("lat"), iL = f.indexOf("level");
    var overdue = 0;
    var markers = new Array(data.cases.length);
    for (var i = 0; i < data.cases.length; i++) {
      var c = data.cases[i];
      if (c[iL] === 2) overdue++;
      markers[i] = L.marker([c[iY], c[iX]], {
        icon: icons[c[iL]],
        keyboard: false,  // ten thousand tab stops help nobody: the lists are the keyboard way
        title: c[iN],
        number: c[iN],
        level: c[iL]
      });
    }
    document.getElementById("map-totals").textContent = t.totals
      .replace("CASES", String(data.cases.length)).replace("OVERDUE", String(overdue));
    received = true;
    if (!markers.length) el.dataset.cases = "0";
    clusters.addLayers(markers);
  });

  document.getElementById("metric").addEventListener("change", function (ev) {
    if (ev.target.name !== "metric") return;
    metric = ev.target.value;
    restyle();
  });
})();
