/* The dashboard's charts (ECharts, from our static/vendor) and, on the wall screen, the refresh:
   every N seconds the figures are fetched again from /api/v1/insight/dashboard and redrawn in
   place (no page reload). The page gives the figures and the translated labels as JSON. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("insight-config").textContent);
  var data = JSON.parse(document.getElementById("insight-data").textContent);
  var L = config.labels;
  var wall = Boolean(config.wall);
  var charts = {};
  var big = wall ? 18 : 12;

  function chart(id) {
    if (!charts[id]) {
      var el = document.getElementById(id);
      if (!el) return null;
      charts[id] = echarts.init(el, wall ? "dark" : null, { renderer: "canvas" });
    }
    return charts[id];
  }

  function shortDay(day) {
    return day.slice(5); // MM-DD
  }

  function percent(rate) {
    return rate === null || rate === undefined ? "—" : (rate * 100).toFixed(1) + "%";
  }

  function base(extra) {
    var option = {
      backgroundColor: "transparent",
      textStyle: { fontSize: big },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { fontSize: big } },
      animation: !wall,
    };
    return Object.assign(option, extra);
  }

  function empty(rows) {
    return rows.length === 0 ? { text: L.none, left: "center", top: "middle", textStyle: { fontSize: big, color: "#829ab1" } } : undefined;
  }

  function stackedByDay(series, labels) {
    var days = data.days.map(shortDay);
    return base({
      xAxis: { type: "category", data: days, axisLabel: { fontSize: big } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: big } },
      series: Object.keys(series).map(function (key) {
        return { name: labels[key] || key, type: "bar", stack: "all", data: series[key], emphasis: { focus: "series" } };
      }),
    });
  }

  function rateBars(rows, horizontal) {
    var names = rows.map(function (r) { return r.name; });
    var values = rows.map(function (r) { return r.rate === null ? null : Math.round(r.rate * 1000) / 10; });
    var category = { type: "category", data: names, axisLabel: { fontSize: big, interval: 0, width: horizontal ? 140 : 90, overflow: "truncate" } };
    var value = { type: "value", max: 100, axisLabel: { fontSize: big, formatter: "{value}%" } };
    if (horizontal) category.inverse = true;
    return base({
      title: empty(rows),
      legend: { show: false },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        formatter: function (items) {
          var row = rows[items[0].dataIndex];
          return row.name + "<br>" + L.rate + ": " + percent(row.rate) + " (" + row.on_time + " / " + row.due + ")";
        },
      },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: [{ name: L.rate, type: "bar", data: values, label: { show: true, position: horizontal ? "right" : "top", formatter: "{c}%", fontSize: big } }],
    });
  }

  function countBars(rows, nameOf) {
    var names = rows.map(nameOf);
    return base({
      title: empty(rows),
      legend: { show: false },
      xAxis: { type: "value", minInterval: 1, axisLabel: { fontSize: big } },
      yAxis: { type: "category", inverse: true, data: names, axisLabel: { fontSize: big, width: 160, overflow: "truncate" } },
      series: [{ name: L.cases, type: "bar", data: rows.map(function (r) { return r.count; }), label: { show: true, position: "right", fontSize: big } }],
    });
  }

  function render() {
    var t = data.totals;
    var kpis = {
      intake: t.intake, open: t.open, closed: t.closed, open_now: t.open_now,
      on_time_rate: percent(t.on_time_rate), on_time: t.on_time, due: t.due,
    };
    Object.keys(kpis).forEach(function (key) {
      document.querySelectorAll('[data-kpi="' + key + '"]').forEach(function (el) { el.textContent = kpis[key]; });
    });
    var set = function (id, option) {
      var c = chart(id);
      if (c) c.setOption(option, true);
    };
    set("chart-intake", stackedByDay(data.intake_by_source, L.sources));
    set("chart-status", stackedByDay(data.status_by_day, L.statuses));
    set("chart-district", rateBars(data.on_time_by_district, false));
    set("chart-department", rateBars(data.on_time_by_department, true));
    set("chart-categories", countBars(data.top_categories, function (r) {
      return r.code ? r.code + " " + r.name : L.unclassified;
    }));
    set("chart-grids", countBars(data.hotspot_grids, function (r) { return r.name; }));
    var updated = document.getElementById("wall-updated");
    if (updated) {
      updated.setAttribute("datetime", data.generated_at);
      updated.textContent = new Date(data.generated_at).toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
    }
  }

  render();
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (id) { charts[id].resize(); });
  });

  if (!wall) return;

  var refreshes = 0;
  var status = document.getElementById("wall-status");
  function refresh() {
    fetch(config.api_url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (fresh) {
        data = fresh;
        render();
        status.textContent = "";
        refreshes += 1;
        document.body.setAttribute("data-refreshes", String(refreshes));
      })
      .catch(function () {
        status.textContent = L.refresh_failed;
      });
  }
  window.setInterval(refresh, config.refresh * 1000);

  var clock = document.getElementById("wall-clock");
  function tick() {
    clock.textContent = new Date().toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  }
  tick();
  window.setInterval(tick, 1000);

  var full = document.getElementById("wall-fullscreen");
  if (full && document.documentElement.requestFullscreen) {
    full.addEventListener("click", function () {
      document.documentElement.requestFullscreen().catch(function () { /* refused: stay as is */ });
    });
  } else if (full) {
    full.hidden = true;
  }
})();
