// The loragossip dashboard: polls /api/state and draws what it holds.
// State: {title, status, error?, x_label, refresh_s, updated,
//         charts: [{id, title, y_label, y_range, series: [{name, points: [[x, y], ...]}]}],
//         graph: {nodes: [{id, label, state}], edges: [[id, id]]} | null,
//         tables: [{title, columns, rows, empty}]}
// Every string from the state goes through textContent: peer ids and reasons come from the network.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
const NODE_COLOURS = {up: "#2ca02c", down: "#9aa0a6", stranger: "#ff7f0e"};
const colourOf = new Map();  // one colour per series name, the same on every chart and every refresh

function colour(name) {
  if (!colourOf.has(name)) colourOf.set(name, PALETTE[colourOf.size % PALETTE.length]);
  return colourOf.get(name);
}

function html(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

// about `count` round-numbered ticks covering [lo, hi]
function ticks(lo, hi, count) {
  const span = hi - lo || 1;
  const raw = span / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * magnitude).find(s => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

function label(value) {
  const a = Math.abs(value);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return value.toExponential(1);
  return String(+value.toPrecision(4));
}

function drawChart(spec, xLabel) {
  const W = 520, H = 230, L = 50, R = 12, T = 8, B = 34;
  const card = html("figure", {class: "card chart", id: "chart-" + spec.id});
  card.style.margin = "0";
  card.appendChild(html("h2", {}, spec.title + (spec.y_label ? " (" + spec.y_label + ")" : "")));
  const points = spec.series.flatMap(s => s.points);
  if (!points.length) {
    card.appendChild(html("div", {class: "empty"}, "no points yet"));
    return card;
  }
  const xs = points.map(p => p[0]), ys = points.map(p => p[1]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  let [y0, y1] = spec.y_range || [Math.min(...ys), Math.max(...ys)];
  if (!spec.y_range) { const pad = (y1 - y0) * 0.05 || Math.abs(y0) * 0.05 || 1; y0 -= pad; y1 += pad; }
  const px = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const py = y => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const plot = svg("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`});
  for (const t of ticks(y0, y1, 5)) {
    plot.appendChild(svg("line", {x1: L, x2: W - R, y1: py(t), y2: py(t), stroke: "#eceff3"}));
    plot.appendChild(svg("text", {x: L - 4, y: py(t) + 3, "text-anchor": "end"}, label(t)));
  }
  for (const t of ticks(x0, x1, 6)) {
    plot.appendChild(svg("text", {x: px(t), y: H - B + 13, "text-anchor": "middle"}, label(t)));
  }
  plot.appendChild(svg("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle"}, xLabel || ""));
  plot.appendChild(svg("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#c8ced6"}));
  for (const s of spec.series) {
    const d = s.points.map((p, i) => (i ? "L" : "M") + px(p[0]).toFixed(1) + "," + py(p[1]).toFixed(1)).join("");
    const line = svg("path", {d: d, fill: "none", stroke: colour(s.name), "stroke-width": 1.6, class: "line"});
    line.appendChild(svg("title", {}, s.name));
    plot.appendChild(line);
    if (s.points.length === 1) {
      const [x, y] = s.points[0];
      plot.appendChild(svg("circle", {cx: px(x), cy: py(y), r: 2.5, fill: colour(s.name)}));
    }
  }
  card.appendChild(plot);
  const legend = html("div", {class: "legend"});
  for (const s of spec.series.slice(0, 24)) {
    const item = html("span", {}, s.name);
    item.style.setProperty("--c", colour(s.name));
    legend.appendChild(item);
  }
  if (spec.series.length > 24) legend.appendChild(html("span", {}, `+${spec.series.length - 24} more`));
  card.appendChild(legend);
  return card;
}

// peers on a circle, sorted by label so that a peer keeps its place between refreshes
function drawGraph(graph) {
  const S = 380, C = S / 2, radius = S / 2 - 70;
  const card = html("figure", {class: "card", id: "neighbour-graph"});
  card.style.margin = "0";
  card.appendChild(html("h2", {}, `neighbours (${graph.nodes.length} peers, ${graph.edges.length} links)`));
  const nodes = [...graph.nodes].sort((a, b) => a.label.localeCompare(b.label));
  const at = new Map(nodes.map((n, i) => {
    const angle = 2 * Math.PI * i / Math.max(1, nodes.length) - Math.PI / 2;
    return [n.id, [C + radius * Math.cos(angle), C + radius * Math.sin(angle)]];
  }));
  const plot = svg("svg", {width: S, height: S, viewBox: `0 0 ${S} ${S}`});
  for (const [a, b] of graph.edges) {
    if (!at.has(a) || !at.has(b)) continue;
    plot.appendChild(svg("line", {x1: at.get(a)[0], y1: at.get(a)[1], x2: at.get(b)[0], y2: at.get(b)[1],
                                  stroke: "#9fb3c8", "stroke-width": 1.4, class: "edge"}));
  }
  for (const n of nodes) {
    const [x, y] = at.get(n.id);
    const dot = svg("circle", {cx: x, cy: y, r: 9, fill: NODE_COLOURS[n.state] || "#444", class: "node"});
    dot.appendChild(svg("title", {}, `${n.label} (${n.state}) ${n.id}`));
    plot.appendChild(dot);
    const outward = x >= C ? "start" : "end";
    plot.appendChild(svg("text", {x: x + (x >= C ? 12 : -12), y: y + 3, "text-anchor": outward}, n.label));
  }
  card.appendChild(plot);
  const legend = html("div", {class: "legend"});
  for (const [state, c] of Object.entries(NODE_COLOURS)) {
    const item = html("span", {}, state);
    item.style.setProperty("--c", c);
    legend.appendChild(item);
  }
  card.appendChild(legend);
  return card;
}

function drawTable(spec) {
  const card = html("div", {class: "card", "data-table": spec.title});
  card.appendChild(html("h2", {}, spec.title));
  if (!spec.rows.length) {
    card.appendChild(html("div", {class: "empty"}, spec.empty || "none"));
    return card;
  }
  const table = html("table");
  const head = html("tr");
  for (const c of spec.columns) head.appendChild(html("th", {}, c));
  table.appendChild(html("thead")).appendChild(head);
  const body = table.appendChild(html("tbody"));
  for (const row of spec.rows) {
    const tr = body.appendChild(html("tr"));
    for (const cell of row) tr.appendChild(html("td", {}, String(cell)));
  }
  card.appendChild(table);
  return card;
}

function render(state) {
  document.getElementById("title").textContent = state.title || "loragossip dashboard";
  document.title = state.title || "loragossip dashboard";
  document.getElementById("status").textContent = state.status || "";
  document.getElementById("updated").textContent = state.updated ? "updated " + state.updated : "";
  const error = document.getElementById("error");
  error.textContent = state.error || "";
  error.style.display = state.error ? "block" : "none";
  document.getElementById("charts").replaceChildren(...(state.charts || []).map(c => drawChart(c, state.x_label)));
  document.getElementById("graph").replaceChildren(...(state.graph ? [drawGraph(state.graph)] : []));
  document.getElementById("tables").replaceChildren(...(state.tables || []).map(drawTable));
}

async function refresh() {
  let wait = 2;
  try {
    const response = await fetch("api/state", {cache: "no-store"});
    const state = await response.json();
    render(state);
    wait = state.refresh_s || wait;
    document.body.dataset.rendered = String(Number(document.body.dataset.rendered || 0) + 1);
  } catch (exc) {
    const error = document.getElementById("error");
    error.textContent = "the dashboard server does not answer (" + exc + "); retrying";
    error.style.display = "block";
  }
  setTimeout(refresh, wait * 1000);
}

refresh();
