/* 医鉴 console: progressive enhancement only. Loaded as a file (the CSP allows no inline script).
   Charts: every element with data-chart="<series key>" and data-src="<JSON endpoint>" becomes an ECharts line
   chart of that key; the dimension selector reloads them. */
"use strict";
(function () {
  function drawCharts(dimension, watched) {
    if (typeof window.echarts === "undefined") { return; }
    var nodes = document.querySelectorAll("[data-chart]");
    var bySrc = {};
    nodes.forEach(function (el) {
      var src = el.getAttribute("data-src") + "?dimension=" + encodeURIComponent(dimension || "institution") +
        (watched ? "&watched=true" : "");
      (bySrc[src] = bySrc[src] || []).push(el);
    });
    Object.keys(bySrc).forEach(function (src) {
      fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          bySrc[src].forEach(function (el) {
            var key = el.getAttribute("data-chart");
            var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
            chart.setOption({
              animation: false,
              tooltip: { trigger: "axis" },
              legend: { type: "scroll", top: 0 },
              grid: { left: 40, right: 20, top: 40, bottom: 30 },
              xAxis: { type: "category", data: data.days },
              yAxis: { type: "value", minInterval: 1 },
              series: (data[key] || []).map(function (s) { return { name: s.name, type: "line", data: s.data, smooth: false }; })
            }, true);
            el.setAttribute("data-ready", "1");
          });
        })
        .catch(function () { bySrc[src].forEach(function (el) { el.textContent = "图表数据加载失败"; }); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var control = document.querySelector("[data-chart-control]");
    var watched = document.querySelector("[data-chart-watched]");
    function redraw() { drawCharts(control ? control.value : "institution", watched ? watched.checked : false); }
    redraw();
    [control, watched].forEach(function (el) { if (el) { el.addEventListener("change", redraw); } });
  });
})();
