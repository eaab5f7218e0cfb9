/* Onus charts: draws every <figure data-chart> with the vendored Chart.js (static/vendor/chartjs).
 *
 * The page carries the data, this file all the code (the Content-Security-Policy allows no
 * inline script or style). Markup, as templates/parts/chart.html's `chart` macro renders it:
 *
 *   <figure class="chart" data-chart data-label-quota="Quota" data-label-total="Total">
 *     <div class="chart-box"><canvas role="img" aria-label="…" tabindex="0"></canvas></div>
 *     <p class="chart-status visually-hidden" aria-live="polite"></p>
 *     <figcaption>…</figcaption>
 *     <details class="chart-data" open>…the same numbers as a table…</details>
 *     <script type="application/json" class="chart-spec">{…spec…}</script>
 *   </figure>
 *
 * The spec (JSON):
 *
 *   {"type": "stacked-area" | "doughnut" | "bar",
 *    "title": "…",                 // the chart's name (the canvas's aria-label carries it too)
 *    "labels": ["…"],              // x labels, pre-formatted in the viewer's zone; or slice names
 *    "series": [{"key": "plugins", "label": "Plugins", "values": [bytes | null, …]}],
 *    "quota": bytes | null,        // a labelled horizontal line (stacked-area, bar)
 *    "forecast": {"label": "…", "values": [bytes | null, …]} | null,   // a dashed line
 *    "unit": "bytes"}
 *
 * A series' values run along "labels" (a shorter list leaves the rest empty). "stacked-area"
 * stacks the series as filled areas, "bar" as stacked bars; "doughnut" draws the first
 * series, one slice per label. Sizes are shown in binary units as panel/measure/units.py's
 * format_size writes them. Each series has a colour *and* a fill pattern, a dash and a point
 * style, so the chart reads without colour; the quota line is labelled in text. With
 * `prefers-reduced-motion` nothing animates. The focused canvas steps through the points
 * with the arrow keys (Home/End: first/last), each announced in the status line. When the
 * script or Chart.js is missing the table (open by default) holds everything; once the chart
 * is drawn the table is folded into its <details>.
 */
(function () {
  "use strict";

  var UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

  /* Bytes as a short binary-unit string: 157286400 → "150 MiB" (as format_size). */
  function formatSize(size) {
    if (size === null || size === undefined || isNaN(size)) {
      return "—";
    }
    var value = Number(size);
    for (var i = 0; i < UNITS.length; i++) {
      var unit = UNITS[i];
      if (Math.abs(value) < 1024 || unit === "TiB") {
        if (unit === "B") {
          return Math.trunc(value) + " B";
        }
        return value.toFixed(1).replace(/0+$/, "").replace(/\.$/, "") + " " + unit;
      }
      value /= 1024;
    }
    return String(size);
  }

  /* Colour-blind-safe colours (Okabe–Ito, then greys), each with a pattern, dash and point. */
  var LOOKS = [
    { color: "#0072b2", pattern: "diagonal", dash: [], point: "circle" },
    { color: "#e69f00", pattern: "dots", dash: [6, 3], point: "rect" },
    { color: "#009e73", pattern: "cross", dash: [2, 2], point: "triangle" },
    { color: "#cc79a7", pattern: "horizontal", dash: [8, 3, 2, 3], point: "rectRot" },
    { color: "#56b4e9", pattern: "vertical", dash: [1, 3], point: "star" },
    { color: "#d55e00", pattern: "back-diagonal", dash: [10, 4], point: "crossRot" },
    { color: "#b8a400", pattern: "grid", dash: [4, 2, 1, 2], point: "rectRounded" },
    { color: "#6b4fa3", pattern: "zigzag", dash: [3, 6], point: "cross" },
    { color: "#7b8794", pattern: "solid", dash: [12, 2], point: "dash" },
    { color: "#3b3f45", pattern: "big-dots", dash: [5, 5], point: "line" }
  ];
  var QUOTA_COLOR = "#a4161a";
  var FORECAST_COLOR = "#1d2430";

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  /* A repeating 12×12 tile: the colour, lightened, with a dark or white mark on it. */
  function pattern(look) {
    var size = 12;
    var tile = document.createElement("canvas");
    tile.width = size;
    tile.height = size;
    var c = tile.getContext("2d");
    if (!c) {
      return rgba(look.color, 0.6);
    }
    c.fillStyle = rgba(look.color, 0.55);
    c.fillRect(0, 0, size, size);
    c.strokeStyle = look.color;
    c.fillStyle = look.color;
    c.lineWidth = 2;
    c.beginPath();
    switch (look.pattern) {
      case "diagonal":
        c.moveTo(0, size); c.lineTo(size, 0);
        c.moveTo(-3, 3); c.lineTo(3, -3);
        c.moveTo(size - 3, size + 3); c.lineTo(size + 3, size - 3);
        break;
      case "back-diagonal":
        c.moveTo(0, 0); c.lineTo(size, size);
        c.moveTo(size - 3, -3); c.lineTo(size + 3, 3);
        c.moveTo(-3, size - 3); c.lineTo(3, size + 3);
        break;
      case "cross":
        c.moveTo(0, 0); c.lineTo(size, size);
        c.moveTo(0, size); c.lineTo(size, 0);
        break;
      case "horizontal":
        c.moveTo(0, size / 2); c.lineTo(size, size / 2);
        break;
      case "vertical":
        c.moveTo(size / 2, 0); c.lineTo(size / 2, size);
        break;
      case "grid":
        c.lineWidth = 1;
        c.moveTo(0, size / 2); c.lineTo(size, size / 2);
        c.moveTo(size / 2, 0); c.lineTo(size / 2, size);
        break;
      case "zigzag":
        c.moveTo(0, size * 0.75); c.lineTo(size / 2, size * 0.25); c.lineTo(size, size * 0.75);
        break;
      case "dots":
        c.arc(size / 2, size / 2, 2, 0, 2 * Math.PI);
        c.fill();
        break;
      case "big-dots":
        c.arc(size / 2, size / 2, 3.5, 0, 2 * Math.PI);
        c.fill();
        break;
      default: // "solid": the colour alone, fully opaque: distinct from the light tiles
        c.fillRect(0, 0, size, size);
    }
    c.stroke();
    var made = c.createPattern(tile, "repeat");
    return made || rgba(look.color, 0.6);
  }

  function lookOf(index) {
    return LOOKS[index % LOOKS.length];
  }

  /* A y-axis step of 1, 2, 2.5 or 5 × a power of ten of one binary unit: round labels. */
  function sizeStep(largest) {
    if (!(largest > 0)) {
      return undefined;
    }
    var unit = 1;
    while (largest / unit >= 1024 && unit < Math.pow(1024, 4)) {
      unit *= 1024;
    }
    var raw = largest / unit / 5;
    var power = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= raw) {
        return steps[i] * power * unit;
      }
    }
    return 10 * power * unit;
  }

  function numbers(list) {
    return (list || []).filter(function (v) { return typeof v === "number"; });
  }

  function largestStacked(spec) {
    var largest = 0;
    for (var i = 0; i < spec.labels.length; i++) {
      var sum = 0;
      spec.series.forEach(function (s) { sum += typeof s.values[i] === "number" ? s.values[i] : 0; });
      largest = Math.max(largest, sum);
    }
    if (typeof spec.quota === "number") {
      largest = Math.max(largest, spec.quota);
    }
    if (spec.forecast) {
      largest = Math.max.apply(null, [largest].concat(numbers(spec.forecast.values)));
    }
    return largest;
  }

  function reducedMotion() {
    return !!(window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  /* Draws the quota's words above its line, at the right, so it is named without the legend. */
  var quotaLabel = {
    id: "onusQuotaLabel",
    afterDatasetsDraw: function (chart) {
      chart.data.datasets.forEach(function (dataset, index) {
        if (!dataset.onusQuota || !chart.isDatasetVisible(index)) {
          return;
        }
        var meta = chart.getDatasetMeta(index);
        var point = meta.data[meta.data.length - 1];
        if (!point) {
          return;
        }
        var c = chart.ctx;
        var area = chart.chartArea;
        var text = dataset.label;
        c.save();
        c.font = "600 12px system-ui, sans-serif";
        c.fillStyle = QUOTA_COLOR;
        c.textAlign = "right";
        c.textBaseline = "bottom";
        var y = Math.max(point.y - 3, area.top + 14);
        var width = c.measureText(text).width;
        c.fillStyle = "rgba(255,255,255,0.85)";
        c.fillRect(area.right - width - 6, y - 14, width + 4, 14);
        c.fillStyle = QUOTA_COLOR;
        c.fillText(text, area.right - 4, y);
        c.restore();
      });
    }
  };

  function sizeTooltip(total) {
    return {
      mode: "index",
      intersect: false,
      filter: function (item) { return item.raw !== null && item.raw !== undefined; },
      callbacks: {
        label: function (item) {
          if (item.dataset.onusQuota) {
            return item.dataset.label;
          }
          return item.dataset.label + ": " + formatSize(item.raw);
        },
        footer: function (items) {
          var parts = items.filter(function (item) { return item.dataset.onusPart; });
          if (parts.length < 2) {
            return "";
          }
          var sum = 0;
          parts.forEach(function (item) { sum += item.raw; });
          return total + ": " + formatSize(sum);
        }
      }
    };
  }

  function axisConfig(spec, stacked) {
    var step = sizeStep(largestStacked(spec));
    return {
      x: { stacked: stacked, ticks: { autoSkip: true, maxRotation: 45 } },
      y: {
        stacked: stacked,
        beginAtZero: true,
        ticks: { stepSize: step, callback: function (value) { return formatSize(value); } }
      }
    };
  }

  function seriesDatasets(spec, asBars) {
    return spec.series.map(function (series, index) {
      var look = lookOf(index);
      var dataset = {
        label: series.label,
        data: series.values,
        backgroundColor: pattern(look),
        borderColor: look.color,
        borderWidth: asBars ? 1 : 2,
        stack: "parts",
        order: 2,
        onusPart: true
      };
      if (!asBars) {
        dataset.type = "line";
        dataset.fill = index === 0 ? "origin" : "-1";
        dataset.borderDash = look.dash;
        dataset.pointStyle = look.point;
        dataset.pointRadius = spec.labels.length > 40 ? 0 : 3;
        dataset.pointHoverRadius = 6;
        dataset.tension = 0;
      }
      return dataset;
    });
  }

  function lineDatasets(spec, texts) {
    var lines = [];
    if (typeof spec.quota === "number") {
      lines.push({
        type: "line",
        label: texts.quota + ": " + formatSize(spec.quota),
        data: spec.labels.map(function () { return spec.quota; }),
        borderColor: QUOTA_COLOR,
        backgroundColor: "rgba(255,255,255,0)", // the legend shows the dashed line alone
        borderDash: [10, 5],
        borderWidth: 2,
        pointRadius: 0,
        pointHoverRadius: 0,
        fill: false,
        stack: "quota",
        order: 0,
        onusQuota: true
      });
    }
    if (spec.forecast) {
      lines.push({
        type: "line",
        label: spec.forecast.label,
        data: spec.forecast.values,
        borderColor: FORECAST_COLOR,
        backgroundColor: "rgba(255,255,255,0)",
        pointBackgroundColor: FORECAST_COLOR,
        borderDash: [4, 4],
        borderWidth: 2,
        pointStyle: "triangle",
        pointRadius: 4,
        fill: false,
        spanGaps: true,
        stack: "forecast",
        order: 1
      });
    }
    return lines;
  }

  /* Phone-sized: smaller legend, flat and fewer x labels, so the plot keeps its height. */
  function fit(chart, width) {
    var narrow = width < 520;
    var labels = chart.options.plugins.legend.labels;
    labels.boxWidth = narrow ? 18 : 28;
    labels.boxHeight = narrow ? 10 : 14;
    labels.padding = narrow ? 6 : 10;
    labels.font = { size: narrow ? 11 : 12 };
    var x = chart.options.scales && chart.options.scales.x;
    if (x) {
      x.ticks.maxRotation = narrow ? 0 : 45;
      x.ticks.maxTicksLimit = narrow ? 3 : 12;
    }
  }

  function config(spec, texts) {
    var motion = reducedMotion() ? false : { duration: 400 };
    var legend = {
      position: "bottom",
      labels: {
        boxWidth: 28,
        boxHeight: 14,
        padding: 10,
        sort: function (a, b) { return a.datasetIndex - b.datasetIndex; }
      }
    };
    if (spec.type === "doughnut") {
      var first = spec.series[0] || { values: [] };
      var looks = spec.labels.map(function (_label, index) { return lookOf(index); });
      var sum = 0;
      numbers(first.values).forEach(function (v) { sum += v; });
      return {
        type: "doughnut",
        data: {
          labels: spec.labels,
          datasets: [{
            label: first.label,
            data: first.values,
            backgroundColor: looks.map(pattern),
            borderColor: looks.map(function (look) { return look.color; }),
            borderWidth: 2
          }]
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: motion,
          onResize: function (chart, size) { fit(chart, size.width); },
          plugins: {
            legend: legend,
            tooltip: {
              callbacks: {
                label: function (item) {
                  var share = sum ? Math.round((100 * item.raw) / sum) : 0;
                  return item.label + ": " + formatSize(item.raw) + " (" + share + " %)";
                }
              }
            }
          }
        }
      };
    }
    var bars = spec.type === "bar";
    return {
      type: bars ? "bar" : "line",
      data: {
        labels: spec.labels,
        datasets: seriesDatasets(spec, bars).concat(lineDatasets(spec, texts))
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: motion,
        onResize: function (chart, size) { fit(chart, size.width); },
        interaction: { mode: "index", intersect: false },
        scales: axisConfig(spec, true),
        plugins: { legend: legend, tooltip: sizeTooltip(texts.total) }
      },
      plugins: [quotaLabel]
    };
  }

  /* The words for one x position, for the status line the arrow keys update. */
  function describe(spec, index, texts) {
    if (spec.type === "doughnut") {
      var first = spec.series[0] || { values: [] };
      return spec.labels[index] + ": " + formatSize(first.values[index]);
    }
    var words = [];
    var sum = 0;
    var any = false;
    spec.series.forEach(function (series) {
      var value = series.values[index];
      if (typeof value === "number") {
        words.push(series.label + ": " + formatSize(value));
        sum += value;
        any = true;
      }
    });
    if (any && spec.series.length > 1) {
      words.push(texts.total + ": " + formatSize(sum));
    }
    if (spec.forecast && typeof spec.forecast.values[index] === "number") {
      words.push(spec.forecast.label + ": " + formatSize(spec.forecast.values[index]));
    }
    return spec.labels[index] + " — " + words.join("; ");
  }

  function keyboard(chart, canvas, spec, status, texts) {
    var index = -1;
    var count = spec.labels.length;
    canvas.addEventListener("keydown", function (event) {
      var next = index;
      if (event.key === "ArrowRight" || event.key === "ArrowDown") {
        next = Math.min(index + 1, count - 1);
      } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
        next = index < 0 ? count - 1 : Math.max(index - 1, 0);
      } else if (event.key === "Home") {
        next = 0;
      } else if (event.key === "End") {
        next = count - 1;
      } else if (event.key === "Escape") {
        next = -1;
      } else {
        return;
      }
      event.preventDefault();
      index = next;
      show(index);
    });
    canvas.addEventListener("blur", function () {
      index = -1;
      show(-1);
    });

    function show(at) {
      var active = [];
      if (at >= 0) {
        chart.data.datasets.forEach(function (dataset, datasetIndex) {
          var value = dataset.data[at];
          if (value !== null && value !== undefined && !dataset.onusQuota &&
              chart.isDatasetVisible(datasetIndex)) {
            active.push({ datasetIndex: datasetIndex, index: at });
          }
        });
      }
      chart.setActiveElements(active);
      if (chart.tooltip) {
        var meta = active.length ? chart.getDatasetMeta(active[0].datasetIndex).data[at] : null;
        chart.tooltip.setActiveElements(active, meta ? { x: meta.x, y: meta.y } : { x: 0, y: 0 });
      }
      chart.update("none");
      status.textContent = at >= 0 ? describe(spec, at, texts) : "";
    }
  }

  function fallBack(figure) {
    var details = figure.querySelector("details.chart-data");
    if (details) {
      details.open = true;
    }
    figure.classList.remove("chart-ready");
    figure.classList.add("chart-failed");
  }

  function draw(figure) {
    var source = figure.querySelector("script.chart-spec");
    var canvas = figure.querySelector("canvas");
    if (!source || !canvas) {
      return;
    }
    var spec = JSON.parse(source.textContent);
    if (!spec || !Array.isArray(spec.labels) || !Array.isArray(spec.series) || !spec.labels.length) {
      return fallBack(figure);
    }
    var texts = {
      quota: figure.getAttribute("data-label-quota") || "Quota",
      total: figure.getAttribute("data-label-total") || "Total"
    };
    figure.classList.add("chart-ready"); // shows the canvas's box before Chart.js measures it
    var chart = new window.Chart(canvas, config(spec, texts));
    fit(chart, canvas.parentNode.clientWidth);
    chart.update("none");
    var status = figure.querySelector(".chart-status");
    if (status) {
      keyboard(chart, canvas, spec, status, texts);
    }
    var details = figure.querySelector("details.chart-data");
    if (details && details.hasAttribute("data-fold")) {
      details.open = false;
    }
  }

  function drawAll() {
    var figures = document.querySelectorAll("figure[data-chart]");
    if (!figures.length) {
      return;
    }
    if (typeof window.Chart !== "function") {
      Array.prototype.forEach.call(figures, fallBack);
      return;
    }
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = getComputedStyle(document.body).color;
    Array.prototype.forEach.call(figures, function (figure) {
      try {
        draw(figure);
      } catch (error) {
        fallBack(figure);
        if (window.console) {
          window.console.warn("chart not drawn:", error);
        }
      }
    });
  }

  window.onusFormatSize = formatSize; // for the browser tests

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
