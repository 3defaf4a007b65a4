/* The report page: my grids and my position (with its accuracy circle) on the map, a pin that
   follows me until I drag it, photos, a category (my recent and frequent ones first, searchable),
   its filing condition and a description. Submitting puts the report in the outbox. */
(function () {
  "use strict";
  const I = window.Inspector;
  const S = I.strings;
  const mapEl = document.getElementById("map");
  const form = document.getElementById("report-form");
  const posText = document.getElementById("position");
  const errorEl = document.getElementById("form-error");

  // ------------------------------------------------------------------ map and position
  const map = L.map(mapEl, { zoomControl: true, tap: true }).setView([26.89, 112.57], 14);
  if (mapEl.dataset.tileUrl) {
    L.tileLayer(mapEl.dataset.tileUrl, { attribution: mapEl.dataset.tileAttribution, maxZoom: 19 }).addTo(map);
  }
  let fitted = false;
  /** Rings sent as integer deltas (see the API) back to Leaflet's [lat, lng] lists. */
  function rings(polygon, unit) {
    return polygon.map((flat) => {
      const out = [];
      let x = 0, y = 0;
      for (let i = 0; i < flat.length; i += 2) {
        x += flat[i]; y += flat[i + 1];
        out.push([y / unit, x / unit]);
      }
      return out;
    });
  }
  fetch(mapEl.dataset.gridsUrl, { headers: { Accept: "application/json" } })
    .then((r) => (r.ok ? r.json() : null))
    .then((data) => {
      if (!data || !data.grids.length) return;
      const layer = L.featureGroup();
      for (const g of data.grids) {
        L.polygon(g.polygons.map((p) => rings(p, data.unit)), { color: "#0b5394", weight: 1, fillOpacity: 0.04 })
          .bindTooltip(g.name, { sticky: true }).addTo(layer);
      }
      layer.addTo(map);
      if (!fitted) map.fitBounds(layer.getBounds());
    })
    .catch(() => null);

  const state = { device: null, accuracy: null, pin: null, pinMoved: false };
  const pin = L.marker(map.getCenter(), { draggable: true, autoPan: true, title: "pin" });
  let me = null;
  let circle = null;

  function placePin(latlng) {
    state.pin = latlng;
    if (!map.hasLayer(pin)) pin.addTo(map);
    pin.setLatLng(latlng);
  }
  pin.on("dragend", () => { state.pinMoved = true; state.pin = pin.getLatLng(); describe(); });
  map.on("click", (e) => { state.pinMoved = true; placePin(e.latlng); describe(); });

  function describe() {
    if (!state.pin) { posText.textContent = S.no_fix; return; }
    const acc = state.accuracy != null ? " · " + S.accuracy.replace("%(m)s", Math.round(state.accuracy)) : "";
    posText.textContent = state.pin.lat.toFixed(6) + ", " + state.pin.lng.toFixed(6) + acc
      + (state.pinMoved ? " · " + S.pin_moved : "");
  }

  function onFix(pos) {
    const ll = L.latLng(pos.coords.latitude, pos.coords.longitude);
    state.device = ll; state.accuracy = pos.coords.accuracy;
    if (!me) {
      circle = L.circle(ll, { radius: state.accuracy, weight: 1, color: "#1c7ed6", fillOpacity: 0.12, interactive: false }).addTo(map);
      me = L.circleMarker(ll, { radius: 7, weight: 2, color: "#fff", fillColor: "#1c7ed6", fillOpacity: 1 }).addTo(map);
    }
    me.setLatLng(ll); circle.setLatLng(ll); circle.setRadius(state.accuracy);
    if (!state.pinMoved) placePin(ll);
    if (!fitted) { fitted = true; map.setView(ll, 17); }
    describe();
  }
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition(onFix, () => describe(), { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
  }

  // ------------------------------------------------------------------ photos
  const photos = I.photoPicker(document.getElementById("photos"), document.getElementById("previews"));

  // ------------------------------------------------------------------ categories
  const search = document.getElementById("category-search");
  const select = document.getElementById("category");
  const condition = document.getElementById("condition");
  let catalogue = { categories: [], majors: {}, condition_texts: [], recent: [], frequent: [] };
  const byId = new Map();

  function option(c) {
    const o = document.createElement("option");
    o.value = c.id; o.textContent = c.name + " · " + (catalogue.majors[c.major] || "");
    return o;
  }
  function fillCategories() {
    const q = search.value.trim().toLowerCase();
    const chosen = select.value;
    select.replaceChildren();
    const match = (c) => !q || (c.name + " " + c.keywords + " " + c.code + " " + (catalogue.majors[c.major] || "")).toLowerCase().includes(q);
    const first = [...new Set([...catalogue.recent, ...catalogue.frequent])].map((id) => byId.get(id)).filter(Boolean).filter(match);
    if (first.length) {
      const g = document.createElement("optgroup"); g.label = S.recent;
      first.forEach((c) => g.append(option(c)));
      select.append(g);
    }
    const g = document.createElement("optgroup"); g.label = S.all;
    catalogue.categories.filter(match).forEach((c) => g.append(option(c)));
    select.append(g);
    if (chosen && [...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }
  function fillConditions() {
    const c = byId.get(Number(select.value));
    condition.replaceChildren(new Option("—", ""));
    if (!c) return;
    c.conditions.forEach(([id, text]) => condition.append(new Option(catalogue.condition_texts[text], id)));
    if (c.conditions.length === 1) condition.value = String(c.conditions[0][0]);
  }
  fetch(form.dataset.categoriesUrl, { headers: { Accept: "application/json" } })
    .then((r) => r.json())
    .then((data) => {
      catalogue = data;
      data.categories.forEach((c) => byId.set(c.id, c));
      fillCategories();
    })
    .catch(() => null);
  search.addEventListener("input", fillCategories);
  select.addEventListener("change", fillConditions);

  // ------------------------------------------------------------------ submit
  function fail(msg) { errorEl.textContent = msg; errorEl.hidden = false; }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errorEl.hidden = true;
    const description = form.description.value.trim();
    if (!photos.length) return fail(S.need_photo);
    if (!description) return fail(S.need_description);
    if (!state.pin) return fail(S.need_position);
    const fields = {
      description,
      address: form.address.value.trim(),
      lng: state.pin.lng.toFixed(7), lat: state.pin.lat.toFixed(7), crs: "wgs84",
      position_source: state.pinMoved ? "pin" : "gps",
      accuracy_m: state.accuracy != null ? String(state.accuracy) : "",
      device_lng: state.device ? state.device.lng.toFixed(7) : "",
      device_lat: state.device ? state.device.lat.toFixed(7) : "",
      category_id: select.value || "",
      filing_condition_id: condition.value || "",
    };
    const button = document.getElementById("submit");
    button.disabled = true;
    try {
      await I.enqueue(fields, photos.slice());
      photos.splice(0, photos.length);
      document.getElementById("previews").replaceChildren();
      form.description.value = ""; form.address.value = "";
      state.pinMoved = false;
      if (state.device) placePin(state.device);
      describe();
      posText.textContent = S.saved + " · " + posText.textContent;
    } catch (err) {
      fail(String(err.message || err));
    } finally {
      button.disabled = false;
    }
  });
})();
