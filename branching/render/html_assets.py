"""The CSS and the one script of the interactive HTML flowchart (`html.py`).

The script is ours and fixed: it reads the scenes' figures from a JSON block
(`<script type="application/json" id="flow-data">`, parsed with
`JSON.parse`, never evaluated) and builds the side panel with `textContent`
only, so nothing a story or a database holds is ever read as HTML or code. It
gives the inline SVG pan (drag), zoom (wheel, + and - buttons, "Fit"), a
search box (a scene by title or id: highlighted, centred and opened) and a
click on a scene to show its numbers. No network, no libraries.
"""

from __future__ import annotations

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 1.5em auto; max-width: 96em; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 2em; }
p.meta, caption { color: #555; } p.note { color: #8a5a00; }
.tools { display: flex; gap: .5em; align-items: center; margin: .8em 0 .4em; flex-wrap: wrap; }
.tools input { font: inherit; padding: .25em .5em; width: 22em; }
.tools button { font: inherit; min-width: 2.2em; padding: .2em .6em; cursor: pointer; }
#found { color: #8a5a00; }
.split { display: flex; gap: 1em; align-items: stretch; }
.chart { flex: 1; overflow: hidden; border: 1px solid #ddd; border-radius: 6px;
         height: 75vh; position: relative; cursor: grab; background: #fff;
         touch-action: none; }
.chart.dragging { cursor: grabbing; }
#canvas { transform-origin: 0 0; position: absolute; left: 0; top: 0; }
#canvas svg { display: block; }
.chart g.node { cursor: pointer; }
.chart g.node.hit polygon, .chart g.node.hit ellipse, .chart g.node.hit path {
  stroke: #e6550d; stroke-width: 4px; }
.panel { width: 22em; border: 1px solid #ddd; border-radius: 6px; padding: .6em .9em;
         overflow-y: auto; height: 75vh; box-sizing: border-box; }
.panel h2 { margin-top: .2em; } .panel dl { margin: 0; }
.panel dt { color: #555; font-size: .9em; } .panel dd { margin: 0 0 .4em; }
.panel li { margin-bottom: .3em; }
.legend { display: flex; flex-wrap: wrap; gap: .4em 1.6em; font-size: .9em; color: #333;
          margin: .6em 0; padding: 0; list-style: none; }
.legend i { display: inline-block; width: 1.6em; height: 1em; vertical-align: middle;
            margin-right: .3em; border: 1px solid #888; border-radius: 3px; }
.legend i.thin { height: 0; border-width: 1px 0 0 0; border-color: #9ecae1; }
.legend i.thick { height: 0; border-width: 6px 0 0 0; border-color: #08306b; border-radius: 0; }
.legend i.dashed { border-style: dashed; } .legend i.dotted { border-style: dotted;
  background: #ececec; } .legend i.double { border: 3px double #555; }
.legend i.start { border-width: 3px; } .legend i.chapter { background: #fff3cc; }
.legend i.good { background: #c7e9c0; } .legend i.bad { background: #fcbba1; }
.legend i.secret { background: #dadaeb; } .legend i.neutral { background: #fdd0a2; }
.legend i.none { border-color: #b0b0b0; border-style: dashed; background: #f4f4f4; }
pre { font: 13px/1.3 ui-monospace, Menlo, Consolas, monospace; overflow-x: auto; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
caption { caption-side: bottom; text-align: left; font-size: .9em; padding-top: .3em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #e4e4e4; vertical-align: top; }
th { text-align: left; background: #f4f6f8; } td.n { text-align: right;
font-variant-numeric: tabular-nums; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("flow-data").textContent);
  var view = document.getElementById("chart"), canvas = document.getElementById("canvas");
  var panel = document.getElementById("panel"), found = document.getElementById("found");
  var find = document.getElementById("find");
  var svg = canvas.querySelector("svg");
  var k = 1, tx = 0, ty = 0;
  function apply() {
    canvas.style.transform = "translate(" + tx + "px," + ty + "px) scale(" + k + ")";
  }
  function zoomAt(factor, cx, cy) {
    var nk = Math.min(8, Math.max(0.05, k * factor));
    tx = cx - (cx - tx) * nk / k; ty = cy - (cy - ty) * nk / k; k = nk; apply();
  }
  function fit() {
    if (!svg) { return; }
    var w = svg.getBBox ? svg.width.baseVal.value : svg.clientWidth;
    var h = svg.getBBox ? svg.height.baseVal.value : svg.clientHeight;
    var vw = view.clientWidth, vh = view.clientHeight;
    k = Math.min(1, vw / w, vh / h); tx = (vw - w * k) / 2; ty = Math.max(0, (vh - h * k) / 2);
    apply();
  }
  function node(id) { return svg ? svg.querySelector("g.node[id='" + id + "']") : null; }
  function centre(id) {
    var g = node(id); if (!g) { return; }
    var box = g.getBBox(), m = g.getCTM(), s = svg.getCTM();
    var p = svg.createSVGPoint(); p.x = box.x + box.width / 2; p.y = box.y + box.height / 2;
    var q = p.matrixTransform(s.inverse().multiply(m));
    var scale = svg.width.baseVal.value / svg.viewBox.baseVal.width || 1;
    if (k < 0.6) { k = 0.9; }
    tx = view.clientWidth / 2 - (q.x - svg.viewBox.baseVal.x) * scale * k;
    ty = view.clientHeight / 2 - (q.y - svg.viewBox.baseVal.y) * scale * k;
    apply();
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function show(id) {
    var s = data.scenes[id]; if (!s) { return; }
    var hits = svg ? svg.querySelectorAll("g.node.hit") : [];
    for (var i = 0; i < hits.length; i++) { hits[i].classList.remove("hit"); }
    var g = node(id); if (g) { g.classList.add("hit"); }
    panel.textContent = "";
    panel.appendChild(el("h2", s.title));
    var dl = el("dl");
    s.facts.forEach(function (f) {
      dl.appendChild(el("dt", f[0])); dl.appendChild(el("dd", f[1]));
    });
    panel.appendChild(dl);
    if (s.ways.length) {
      panel.appendChild(el("h3", "Ways out"));
      var ul = el("ul");
      s.ways.forEach(function (w) {
        var li = el("li"); li.appendChild(el("strong", w[0]));
        li.appendChild(el("span", " \u2192 " + w[1] + ": " + w[2]));
        ul.appendChild(li);
      });
      panel.appendChild(ul);
    }
    panel.setAttribute("data-scene", s.id);
  }
  function search() {
    var q = find.value.trim().toLowerCase(); if (!q) { return; }
    var best = null, ids = Object.keys(data.scenes);
    for (var pass = 0; pass < 3 && best === null; pass++) {
      for (var i = 0; i < ids.length; i++) {
        var s = data.scenes[ids[i]], t = s.title.toLowerCase(), d = s.id.toLowerCase();
        if ((pass === 0 && (t === q || d === q)) || (pass === 1 && t.indexOf(q) === 0) ||
            (pass === 2 && (t.indexOf(q) >= 0 || d.indexOf(q) >= 0))) { best = ids[i]; break; }
      }
    }
    if (best === null) {
      found.textContent = "No scene matches \u201c" + find.value + "\u201d."; return;
    }
    found.textContent = ""; show(best); centre(best);
  }
  var drag = null, moved = false;
  view.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY, tx: tx, ty: ty }; moved = false;
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) { return; }
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4) { moved = true; view.classList.add("dragging"); }
    if (moved) { tx = drag.tx + dx; ty = drag.ty + dy; apply(); }
  });
  window.addEventListener("pointerup", function () {
    drag = null; view.classList.remove("dragging");
  });
  view.addEventListener("click", function (e) {
    if (moved) { return; }
    var g = e.target.closest ? e.target.closest("g.node") : null;
    if (g && data.scenes[g.id]) { show(g.id); }
  });
  view.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = view.getBoundingClientRect();
    zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  document.getElementById("zoom-in").addEventListener("click", function () {
    zoomAt(1.25, view.clientWidth / 2, view.clientHeight / 2);
  });
  document.getElementById("zoom-out").addEventListener("click", function () {
    zoomAt(0.8, view.clientWidth / 2, view.clientHeight / 2);
  });
  document.getElementById("fit").addEventListener("click", fit);
  document.getElementById("go").addEventListener("click", search);
  find.addEventListener("keydown", function (e) { if (e.key === "Enter") { search(); } });
  find.addEventListener("change", search);
  fit();
})();
"""
