/* My reports and their states, and my figures for this month. */
(function () {
  "use strict";
  const S = window.Inspector.strings;
  const figures = document.getElementById("figures");
  const iso = (d) => d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  function loadFigures(period) {
    const url = new URL(figures.dataset.url, location.href);
    const now = new Date();
    if (period === "last") {
      url.searchParams.set("from", iso(new Date(now.getFullYear(), now.getMonth() - 1, 1)));
      url.searchParams.set("to", iso(new Date(now.getFullYear(), now.getMonth(), 0)));
    }
    document.querySelectorAll("[data-period]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.period === period)));
    return fetch(url, { headers: { Accept: "application/json" } }).then((r) => r.json()).then((data) => {
      document.getElementById("figures-period").textContent = data.from + " – " + data.to;
      figures.replaceChildren();
      for (const f of data.figures) {
        const dt = document.createElement("dt"); dt.textContent = f.label;
        const dd = document.createElement("dd"); dd.dataset.key = f.key;
        dd.textContent = f.rate == null ? "—" : Math.round(f.rate * 1000) / 10 + "% (" + f.numerator + "/" + f.denominator + ")";
        figures.append(dt, dd);
      }
    }).catch(() => null);
  }
  document.querySelectorAll("[data-period]").forEach((b) => b.addEventListener("click", () => loadFigures(b.dataset.period)));
  loadFigures("this");
  const list = document.getElementById("reports");
  fetch(list.dataset.url, { headers: { Accept: "application/json" } }).then((r) => r.json()).then((data) => {
    list.replaceChildren();
    if (!data.reports.length) {
      const li = document.createElement("li"); li.className = "muted"; li.textContent = S.none; list.append(li);
    }
    for (const rep of data.reports) {
      const li = document.createElement("li");
      li.className = "card"; li.dataset.number = rep.number;
      if (rep.thumbs.length) { const img = document.createElement("img"); img.src = rep.thumbs[0]; img.alt = ""; li.append(img); }
      const head = document.createElement("strong"); head.textContent = rep.number + " · " + rep.state_label;
      const desc = document.createElement("span"); desc.textContent = rep.description.slice(0, 80);
      li.append(head, desc);
      list.append(li);
    }
    list.setAttribute("aria-busy", "false");
  }).catch(() => null);
})();
