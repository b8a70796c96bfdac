/* Draws every chart of a page: each <script type="application/json" data-chart="ID"> holds the
   ECharts option of the element ID. No inline script: the Content-Security-Policy forbids it. */
(function () {
  "use strict";
  var drawn = [];
  function draw(root) {
    var blocks = (root || document).querySelectorAll('script[type="application/json"][data-chart]');
    for (var i = 0; i < blocks.length; i++) {
      var block = blocks[i];
      var element = document.getElementById(block.getAttribute("data-chart"));
      if (!element || element.getAttribute("data-drawn")) { continue; }
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(block.textContent));
      element.setAttribute("data-drawn", "1");
      drawn.push(chart);
    }
    document.documentElement.setAttribute("data-charts-drawn", String(drawn.length));
  }
  window.addEventListener("resize", function () {
    for (var i = 0; i < drawn.length; i++) { drawn[i].resize(); }
  });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  } else {
    draw(document);
  }
})();
