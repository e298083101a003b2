/* vigil's dashboard: draws the charts a page describes.
 *
 * Each chart is an element `<div class="chart" data-chart="ID">` and a
 * `<script type="application/json" id="ID">` holding what to draw (the server writes it, see
 * vigil/service/ui/charts.py). Kinds: "series" (lines over time, with bands, thresholds and
 * control limits, points coloured by status), "heatmap" (rows x time steps coloured by status,
 * a cell opens a page), "bars" (reference vs window), "timeline" (alerts as spans per row).
 * Every text drawn comes from that JSON and is drawn as text by ECharts; nothing is HTML.
 * The chart object is kept on its element as `vigilChart` (the browser tests read positions).
 */
(function () {
  "use strict";
  var STATUS_COLORS = {
    critical: "#c62828", warning: "#e08e0b", ok: "#2e7d32", pending: "#8d8d8d", none: "#b0b7c3",
  };
  var STATUSES = ["none", "pending", "ok", "warning", "critical"];
  var PALETTE = ["#2457c5", "#8e44ad", "#16a085", "#d35400", "#2c3e50", "#c0392b", "#7f8c8d"];

  function escapeText(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function when(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }

  // Where a level line's label goes: the highest line's above it, the lowest's below it, any
  // between at the line's start; so two close lines (a card's "warning below 0.9" and
  // "critical below 0.8") keep their labels apart.
  function levelPlace(spec, level) {
    var values = (spec.thresholds || []).map(function (t) { return t.value; });
    if (values.length < 2 || level.value === Math.max.apply(null, values)) return "insideEndTop";
    if (level.value === Math.min.apply(null, values)) return "insideEndBottom";
    return "insideStartTop";
  }

  function fmt(value) {
    if (value === null || value === undefined || !isFinite(value)) return "–";
    var a = Math.abs(value);
    if (a !== 0 && (a < 0.001 || a >= 1e6)) return value.toExponential(2);
    return String(Math.round(value * 1000) / 1000);
  }

  function seriesOption(spec) {
    var series = [];
    var legend = [];
    (spec.lines || []).forEach(function (line, i) {
      var color = line.color || PALETTE[i % PALETTE.length];
      legend.push(line.name);
      if (line.band && line.band.length) {
        // a band as a stacked pair: the lower edge (invisible) and the height above it
        var stack = "band-" + i;
        series.push({
          name: line.name + " band", type: "line", stack: stack, symbol: "none",
          lineStyle: { opacity: 0 }, silent: true, tooltip: { show: false },
          data: line.band.map(function (b) { return [b[0], b[1]]; }),
        });
        series.push({
          name: line.name + " band", type: "line", stack: stack, symbol: "none",
          lineStyle: { opacity: 0 }, areaStyle: { color: color, opacity: 0.15 }, silent: true,
          tooltip: { show: false },
          data: line.band.map(function (b) {
            return [b[0], b[1] === null || b[2] === null ? null : b[2] - b[1]];
          }),
        });
      }
      series.push({
        name: line.name, type: "line", showSymbol: line.points.length <= 400, symbolSize: 6,
        connectNulls: false, lineStyle: { color: color, width: 1.6 }, itemStyle: { color: color },
        data: line.points.map(function (p) {
          var status = p[4] || "none";
          var item = { value: [p[0], p[1]], status: status, href: p[5] || null };
          if (status === "warning" || status === "critical") {
            item.itemStyle = { color: STATUS_COLORS[status] };
            item.symbolSize = 9;
          }
          return item;
        }),
        markLine: {
          silent: true, symbol: "none",
          data: (spec.thresholds || []).map(function (t) {
            return {
              yAxis: t.value, name: t.name,
              lineStyle: { color: STATUS_COLORS[t.severity] || "#555", type: "dashed" },
              label: { formatter: t.name + " " + fmt(t.value), position: levelPlace(spec, t) },
            };
          }).concat(i > 0 ? [] : (spec.marks || []).map(function (m) {
            // where a stream detector fired: a thin vertical line, drawn once per chart
            return {
              xAxis: m.at, name: m.name,
              lineStyle: { color: "#7b3fb5", type: "solid", width: 1 },
              label: { formatter: m.name, position: "insideEndTop", color: "#7b3fb5" },
            };
          })),
        },
        markArea: {
          silent: true,
          data: (spec.limits || []).map(function (l) {
            return [
              { yAxis: l.lower, name: l.name, itemStyle: { color: "rgba(36,87,197,0.06)" },
                label: { position: "insideTopLeft", color: "#5f6877" } },
              { yAxis: l.upper },
            ];
          }),
        },
      });
    });
    return {
      animation: false,
      grid: { left: 56, right: 24, top: legend.length > 1 ? 34 : 16, bottom: 36 },
      legend: legend.length > 1 ? { data: legend, top: 0 } : undefined,
      tooltip: {
        trigger: "axis",
        formatter: function (items) {
          var lines = items.filter(function (it) { return it.seriesName.slice(-5) !== " band"; });
          if (!lines.length) return "";
          var out = escapeText(when(lines[0].value[0]));
          lines.forEach(function (it) {
            out += "<br>" + escapeText(it.seriesName) + ": " + escapeText(fmt(it.value[1])) +
              (it.data.status && it.data.status !== "none" ? " (" + escapeText(it.data.status) + ")" : "");
          });
          return out;
        },
      },
      xAxis: { type: "time", axisLabel: { hideOverlap: true } },  // small cards: no labels run together
      yAxis: { type: "value", name: spec.unit || "", scale: !spec.zero, max: levelsInView(spec) },
      series: series,
    };
  }

  // a chart that asks for it ("levelsInView") stretches its axis to show every threshold line,
  // so a level the values never reached is still drawn (ECharts leaves marks off the axis)
  function levelsInView(spec) {
    if (!spec.levelsInView || !(spec.thresholds || []).length) return undefined;
    var top = Math.max.apply(null, spec.thresholds.map(function (t) { return t.value; }));
    var highest = -Infinity;
    (spec.lines || []).forEach(function (line) {
      line.points.forEach(function (p) { if (p[1] !== null && p[1] > highest) highest = p[1]; });
      (line.band || []).forEach(function (b) { if (b[2] !== null && b[2] > highest) highest = b[2]; });
    });
    return highest >= top ? undefined : top * 1.1;  // above the values: the axis rounds itself
  }

  function heatmapOption(spec) {
    var rows = spec.rows, columns = spec.columns;
    return {
      animation: false,
      grid: { left: spec.labelWidth || 160, right: 16, top: 8, bottom: 56 },
      tooltip: {
        formatter: function (p) {
          var d = p.data;
          return escapeText(rows[d.value[1]]) + "<br>" + escapeText(when(columns[d.value[0]])) +
            "<br>" + escapeText(STATUSES[d.value[2]]) + " · " + escapeText(d.metric) + " " +
            escapeText(fmt(d.measure)) + (d.windows > 1 ? "<br>worst of " + d.windows + " windows" : "");
        },
      },
      xAxis: {
        type: "category", data: columns.map(when), splitArea: { show: false },
        // two lines a label (date, time): the line height keeps them apart
        axisLabel: { lineHeight: 15, formatter: function (v) { return v.slice(0, 10) + "\n" + v.slice(11, 16); } },
      },
      yAxis: {
        type: "category", data: rows, inverse: true,
        axisLabel: { width: (spec.labelWidth || 160) - 12, overflow: "truncate" },
      },
      visualMap: {
        type: "piecewise", show: false, dimension: 2,
        pieces: STATUSES.map(function (s, i) { return { value: i, color: STATUS_COLORS[s] }; }),
      },
      series: [{
        type: "heatmap", progressive: 20000,
        itemStyle: { borderColor: "#fff", borderWidth: columns.length > 120 ? 0 : 1 },
        data: spec.cells.map(function (c) {
          return { value: [c[0], c[1], c[2]], metric: c[3], measure: c[4], windows: c[5],
            href: c[6] || cellHref(spec, c) };
        }),
      }],
    };
  }

  // a heatmap may give one link per row ("rowHrefs", ending in `window=`) instead of one per
  // cell: the cell's start is appended, so a year of hourly cells does not carry a URL each
  function cellHref(spec, cell) {
    if (!spec.rowHrefs) return null;
    var start = new Date(spec.columns[cell[0]]).toISOString().slice(0, 19) + "Z";
    return spec.rowHrefs[cell[1]] + encodeURIComponent(start);
  }

  function barsOption(spec) {
    return {
      animation: false,
      grid: { left: 56, right: 16, top: 30, bottom: 60 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: {
        type: "category", data: spec.categories,
        axisLabel: { interval: spec.categories.length > 20 ? "auto" : 0, rotate: spec.rotate || 0,
          width: 90, overflow: "truncate" },
      },
      yAxis: { type: "value", name: spec.unit || "" },
      series: spec.series.map(function (s, i) {
        return { name: s.name, type: "bar", data: s.values,
          itemStyle: { color: s.color || PALETTE[i % PALETTE.length] } };
      }),
    };
  }

  function timelineOption(spec) {
    var rows = spec.rows;
    return {
      animation: false,
      grid: { left: spec.labelWidth || 180, right: 16, top: 8, bottom: 36 },
      tooltip: {
        formatter: function (p) {
          var d = p.data;
          return escapeText(rows[d.value[0]]) + "<br>" + escapeText(d.label) + "<br>" +
            escapeText(when(d.value[1])) + " → " + (d.open ? "now" : escapeText(when(d.value[2])));
        },
      },
      // the page's range when it gives one (min/max, epoch ms), else the items' own
      xAxis: { type: "time", min: spec.min, max: spec.max },
      yAxis: {
        type: "category", data: rows, inverse: true,
        axisLabel: { width: (spec.labelWidth || 180) - 12, overflow: "truncate" },
      },
      series: [{
        type: "custom", clip: true,
        renderItem: function (params, api) {
          var row = api.value(0);
          var start = api.coord([api.value(1), row]);
          var end = api.coord([api.value(2), row]);
          var height = api.size([0, 1])[1] * 0.6;
          var width = Math.max(end[0] - start[0], 3);
          return {
            type: "rect",
            shape: { x: start[0], y: start[1] - height / 2, width: width, height: height },
            style: { fill: STATUS_COLORS[spec.items[params.dataIndex][3]] || "#555" },
          };
        },
        encode: { x: [1, 2], y: 0 },
        data: spec.items.map(function (it) {
          return { value: [it[0], it[1], it[2]], label: it[4], href: it[5], open: !!it[6] };
        }),
      }],
    };
  }

  var BUILDERS = { series: seriesOption, heatmap: heatmapOption, bars: barsOption, timeline: timelineOption };

  function draw(el) {
    var source = document.getElementById(el.getAttribute("data-chart"));
    if (!source || typeof echarts === "undefined") return;
    var spec = JSON.parse(source.textContent);
    var build = BUILDERS[spec.kind];
    if (!build) return;
    // a chart whose size follows its data (a heatmap's rows) says so; set through the CSSOM,
    // which the page's Content-Security-Policy allows (a style attribute it would not)
    if (spec.height) el.style.height = spec.height + "px";
    var chart = echarts.init(el, null, { renderer: "canvas" });
    // "finished" fires once every progressive chunk is drawn: the page is then complete
    chart.on("finished", function () {
      if (el.getAttribute("data-finished") === "true") return;
      el.setAttribute("data-finished", "true");
      var pending = document.querySelectorAll("[data-chart][data-drawn]:not([data-finished])");
      if (!pending.length && document.documentElement.hasAttribute("data-charts-drawn")) {
        document.documentElement.setAttribute("data-charts-finished", String(performance.now()));
      }
    });
    chart.setOption(build(spec));
    chart.on("click", function (p) {
      var target = p.data && p.data.href;
      if (target && target.charAt(0) === "/" && target.charAt(1) !== "/") window.location.href = target;
    });
    el.vigilChart = chart;
    el.setAttribute("data-drawn", "true");
  }

  function drawAll() {
    var charts = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < charts.length; i++) draw(charts[i]);
    document.documentElement.setAttribute("data-charts-drawn", String(charts.length));
    if (!document.querySelector("[data-chart][data-drawn]:not([data-finished])")) {
      document.documentElement.setAttribute("data-charts-finished", String(performance.now()));
    }
    window.addEventListener("resize", function () {
      for (var j = 0; j < charts.length; j++) if (charts[j].vigilChart) charts[j].vigilChart.resize();
    });
  }

  // confirm buttons that ask for it (a silence, a verdict) without inline script
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
