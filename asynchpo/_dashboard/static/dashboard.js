/* asynchpo dashboard: the studies page, a study's page (live or as a self-contained report)
   and a trial's page. Plain JavaScript, no build step; charts through the vendored uPlot.
   The contract with the server is docs: the JSON API in the dashboard spec.
   Every user string reaches the DOM through textContent or attribute setters only. */
(function () {
  "use strict";

  const T0 = performance.now();
  const TIMES = (window.__asynchpoTimes = []); // [what, ms since the script started], for benchmarks
  function mark(what) { TIMES.push([what, Math.round(performance.now() - T0)]); }
  const STATES = ["queued", "running", "ok", "fail", "interrupted", "pruned"];
  const STATE_CODE = { queued: 0, running: 1, ok: 2, fail: 3, interrupted: 4, pruned: 5 };
  const OK = 2, FAIL = 3, PRUNED = 5;
  const PAGE_ROWS = 50;
  const MAX_LINES = 20000; // parallel coordinates: lines drawn at most (about; see drawParallel)
  const COLOR = {
    ok: "#2f6db5", pruned: "#a3a9b0", fail: "#d62728", best: "#e8590c",
    running: "#2a9d8f", grid: "rgba(0,0,0,0.07)", axis: "#333", infeasible: "#8d6e63",
  };
  const VIRIDIS = [ // best (dark) ... worst (light); perceptually uniform
    "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
  ];

  // ---------------------------------------------------------------- small helpers

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === null || v === undefined || v === false) continue;
        if (k === "text") e.textContent = String(v);
        else if (k === "class") e.className = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function fmtNum(v, digits) {
    if (v === null || v === undefined) return "";
    if (typeof v !== "number") return String(v);
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    const a = Math.abs(v);
    const d = digits || 4;
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) {
      return v.toExponential(Math.max(1, d - 2)).replace(/\.?0+e/, "e");
    }
    return String(parseFloat(v.toPrecision(d)));
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  function fmtDate(sec) {
    if (sec === null || sec === undefined) return "";
    const d = new Date(sec * 1000);
    return d.getFullYear() + "-" + pad2(d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " +
      pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  function fmtClock(sec) {
    const d = new Date(sec * 1000);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  function fmtDuration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "";
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 60) return (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.round((s % 86400) / 3600) + " h";
  }

  function fmtAgo(sec, now) {
    if (sec === null || sec === undefined) return "never";
    const s = Math.max(0, now - sec);
    if (s < 60) return Math.round(s) + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return (s / 3600).toFixed(1) + " h ago";
    return (s / 86400).toFixed(1) + " d ago";
  }

  function display(v) { // a JSON value as a person reads it, on one line
    if (v === null || v === undefined) return "";
    if (typeof v === "string") return v;
    if (typeof v === "number") return fmtNum(v, 6);
    return JSON.stringify(v);
  }

  function firstLine(s) {
    if (s === null || s === undefined) return "";
    const i = s.indexOf("\n");
    return i < 0 ? s : s.slice(0, i);
  }

  function truncate(s, n) { return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  function studyURL(name) { return "/study?name=" + encodeURIComponent(name); }
  function trialURL(study, id) {
    return "/trial?study=" + encodeURIComponent(study) + "&id=" + encodeURIComponent(String(id));
  }

  const errorBanner = { el: null };
  function showError(msg) {
    if (!errorBanner.el) return;
    errorBanner.el.textContent = msg;
    errorBanner.el.hidden = false;
  }
  function clearError() {
    if (errorBanner.el && !errorBanner.el.hidden) {
      errorBanner.el.hidden = true;
      errorBanner.el.textContent = "";
    }
  }

  async function getJSON(url) {
    let resp;
    try {
      resp = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    } catch (e) {
      throw new Error("the dashboard server does not answer (" + e.message + ")");
    }
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) {
      const why = body && typeof body.error === "string" ? body.error : resp.status + " " + resp.statusText;
      throw new Error(why);
    }
    if (body === null) throw new Error("the server sent something that is not JSON");
    return body;
  }

  // Poll `fn` every `ms` while the page is visible; `fn` returns false to stop.
  function poll(fn, ms) {
    let timer = null, busy = false, stopped = false;
    async function tick() {
      timer = null;
      if (stopped || busy) return;
      if (document.visibilityState === "hidden") return;
      busy = true;
      let again = true;
      try { again = (await fn()) !== false; } finally { busy = false; }
      if (!again) { stopped = true; return; }
      if (!stopped) timer = setTimeout(tick, ms);
    }
    document.addEventListener("visibilitychange", () => {
      if (!stopped && document.visibilityState === "visible" && timer === null && !busy) tick();
    });
    timer = setTimeout(tick, ms);
  }

  // ---------------------------------------------------------------- ticks and scales

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  }

  function linTicks(min, max, count) {
    if (!(max > min)) return [min];
    const step = niceStep(max - min, count);
    const out = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
      out.push(Math.abs(v) < step * 1e-9 ? 0 : parseFloat(v.toPrecision(12)));
    }
    return out;
  }

  function logTicks(min, max, maxCount) {
    if (!(min > 0) || !(max > min)) return [min];
    const lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
    for (const mants of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      const out = [];
      for (let e = lo; e <= hi; e++) {
        for (const m of mants) {
          const v = parseFloat((m * Math.pow(10, e)).toPrecision(12));
          if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
        }
      }
      if (out.length >= 3 || mants.length === 9) {
        if (out.length > maxCount) {
          const k = Math.ceil(out.length / maxCount);
          return out.filter((_, i) => i % k === 0);
        }
        if (out.length >= 2) return out;
      }
    }
    return linTicks(min, max, 4);
  }

  function padRange(min, max, frac, log) {
    if (!isFinite(min) || !isFinite(max)) return log ? [1, 10] : [0, 1];
    if (log) {
      if (!(min > 0)) return [1, 10];
      if (max <= min) return [min / 2, min * 2];
      const f = Math.pow(max / min, frac);
      return [min / f, max * f];
    }
    if (max <= min) {
      const d = min === 0 ? 1 : Math.abs(min) * 0.1;
      return [min - d, max + d];
    }
    const d = (max - min) * frac;
    return [min - d, max + d];
  }

  // ---------------------------------------------------------------- chart wrapper over uPlot

  // A chart is a uPlot for scales, axes and grid, fed only its ranges ([[x0, x1], [y0, y1]]);
  // `spec.draw(u, ctx)` draws the marks from the page's own typed arrays in a draw hook and
  // returns how many it drew. spec.x / spec.y: {kind: "lin"|"log"|"time"|"choice", options,
  // label, range: () => [min, max]}.
  // Tick steps 1, 2 and 5 times every power of ten a float holds.
  const WIDE_INCRS = [];
  for (let e = -300; e <= 300; e++) for (const m of [1, 2, 5]) WIDE_INCRS.push(m * Math.pow(10, e));

  function makeChart(holder, spec) {
    const chart = { holder, spec, ticks: [[], []], u: null };
    function axis(i) {
      const ax = i === 0 ? spec.x : spec.y;
      const a = {
        stroke: COLOR.axis,
        grid: { stroke: COLOR.grid, width: 1 },
        ticks: { stroke: COLOR.grid, width: 1, size: 4 },
        font: "11px system-ui, sans-serif",
        labelFont: "12px system-ui, sans-serif",
        label: ax.label || undefined,
        labelSize: ax.label ? 18 : 0,
        size: i === 0 ? (ax.kind === "time" ? 34 : 28) : 58,
      };
      if (ax.kind === "time") a.space = 90; // room for "11-30 06h"
      if (ax.kind === "choice") {
        a.splits = (u) => {
          const k = ax.options.length;
          const room = Math.max(1, Math.floor((i === 0 ? u.bbox.width / uPlot.pxRatio : 1e9) / 60));
          const every = Math.max(1, Math.ceil(k / room));
          const out = [];
          for (let j = 0; j < k; j += every) out.push(j);
          return out;
        };
        a.values = (u, splits) => {
          const labels = splits.map((s) => truncate(ax.options[Math.round(s)] ?? "", 18));
          chart.ticks[i] = labels;
          return labels;
        };
      } else if (ax.kind === "log") {
        a.splits = (u, axisIdx, min, max) => logTicks(min, max, i === 0 ? 7 : 6);
        a.filter = (u, splits) => splits;
        a.values = (u, splits) => {
          const labels = splits.map((s) => fmtNum(s, 3));
          chart.ticks[i] = labels;
          return labels;
        };
      } else if (ax.kind === "time") {
        a.values = (u, splits) => {
          const r = u.scales.x;
          const span = (r.max ?? 0) - (r.min ?? 0);
          const labels = splits.map((s) => {
            const d = new Date(s * 1000);
            if (span > 2 * 86400) return (d.getMonth() + 1) + "-" + pad2(d.getDate()) + " " + pad2(d.getHours()) + "h";
            if (span > 600) return pad2(d.getHours()) + ":" + pad2(d.getMinutes());
            return fmtClock(s);
          });
          chart.ticks[i] = labels;
          return labels;
        };
      } else {
        a.incrs = WIDE_INCRS; // uPlot's own steps stop at 1e16: losses of diverged runs go further
        a.values = (u, splits) => {
          const labels = splits.map((s) => fmtNum(s, 4));
          chart.ticks[i] = labels;
          return labels;
        };
      }
      return a;
    }
    function scale(ax) {
      const s = { auto: true, range: (u, min, max) => ax.range(min, max) };
      if (ax.kind === "log") { s.distr = 3; s.log = 10; }
      if (ax.kind === "time") s.time = true; else s.time = false;
      return s;
    }
    const opts = {
      width: spec.width,
      height: spec.height,
      legend: { show: false },
      cursor: { show: false },
      select: { show: false },
      scales: { x: scale(spec.x), y: scale(spec.y) },
      axes: [axis(0), axis(1)],
      series: [{}, { stroke: "transparent", paths: () => null, points: { show: false } }],
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.beginPath();
          ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
          ctx.clip();
          let n = 0;
          try { n = spec.draw(u, ctx); } finally { ctx.restore(); }
          holder.dataset.points = String(n);
          mark("drew " + (holder.dataset.chart || "chart"));
          holder.dataset.xTicks = chart.ticks[0].filter((t) => t !== null && t !== "").join("|");
          holder.dataset.yTicks = chart.ticks[1].filter((t) => t !== null && t !== "").join("|");
        }],
      },
    };
    chart.u = new uPlot(opts, spec.data(), holder);
    chart.update = () => chart.u.setData(spec.data());
    chart.resize = (w) => chart.u.setSize({ width: w, height: spec.height });
    return chart;
  }

  // The range data handed to uPlot: two x values and two y values.
  function rangeData(xr, yr) {
    const ok = (r) => isFinite(r[0]) && isFinite(r[1]);
    if (!ok(xr)) xr = [0, 1];
    if (!ok(yr)) yr = [0, 1];
    return [[xr[0], xr[1]], [yr[0], yr[1]]];
  }

  function pxSize(n) { // marker size in CSS px, smaller when there are many
    return n > 20000 ? 1.6 : n > 2000 ? 2.4 : 3.6;
  }

  // From data to canvas pixels, without a function call per point: px = a + b * f(v), where f
  // is the identity, or log10 for a log scale.
  function mapper(u, key) {
    const sc = u.scales[key], log = sc.distr === 3;
    const f = log ? Math.log10 : (v) => v;
    const lo = f(sc.min), hi = f(sc.max), bb = u.bbox;
    if (key === "x") {
      const b = bb.width / (hi - lo);
      return { log, a: bb.left - lo * b, b };
    }
    const b = -bb.height / (hi - lo);
    return { log, a: bb.top + bb.height - lo * b, b };
  }

  // Points are splatted into a pixel buffer (blended by hand) and put on the chart's canvas in
  // one drawImage: 100,000 fillRect calls would cost the browser far more to raster.
  function hexRGB(c) { return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)]; }

  function beginSplat(u, chart) {
    const w = Math.max(1, Math.round(u.bbox.width)), hgt = Math.max(1, Math.round(u.bbox.height));
    let sp = chart.splat;
    if (!sp || sp.w !== w || sp.h !== hgt) {
      const canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = hgt;
      const c2 = canvas.getContext("2d");
      sp = chart.splat = { w, h: hgt, canvas, c2, img: c2.createImageData(w, hgt) };
    } else sp.img.data.fill(0);
    return sp;
  }

  function endSplat(u, ctx, sp) {
    sp.c2.putImageData(sp.img, 0, 0);
    ctx.drawImage(sp.canvas, Math.round(u.bbox.left), Math.round(u.bbox.top));
  }

  // Points (x[i], y[i]) for i in idx as small squares of `color` at opacity `alpha`.
  function fillPoints(u, sp, xs, ys, idx, count, color, alpha, size) {
    if (count === 0) return 0;
    const r = Math.max(1, Math.round(size * uPlot.pxRatio)), half = r / 2;
    const mx = mapper(u, "x"), my = mapper(u, "y");
    const ax = mx.a - u.bbox.left - half, bx = mx.b, ay = my.a - u.bbox.top - half, by = my.b, xlog = mx.log;
    const [cr, cg, cb] = hexRGB(color);
    const data = sp.img.data, W = sp.w, H = sp.h;
    let n = 0;
    for (let k = 0; k < count; k++) {
      const i = idx[k];
      let x = xs[i];
      const y = ys[i];
      if (x !== x || y !== y) continue;
      if (xlog) x = Math.log10(x);
      n++;
      const px = Math.round(ax + bx * x), py = Math.round(ay + by * y);
      if (px + r <= 0 || py + r <= 0 || px >= W || py >= H) continue;
      const x0 = px < 0 ? 0 : px, x1 = px + r > W ? W : px + r;
      const y0 = py < 0 ? 0 : py, y1 = py + r > H ? H : py + r;
      for (let yy = y0; yy < y1; yy++) {
        let o = (yy * W + x0) * 4;
        for (let xx = x0; xx < x1; xx++, o += 4) {
          const da = data[o + 3] / 255, oa = alpha + da * (1 - alpha);
          const keep = (da * (1 - alpha)) / oa, put = alpha / oa;
          data[o] = cr * put + data[o] * keep;
          data[o + 1] = cg * put + data[o + 1] * keep;
          data[o + 2] = cb * put + data[o + 2] * keep;
          data[o + 3] = oa * 255;
        }
      }
    }
    return n;
  }

  function ring(u, ctx, x, y, color) {
    if (x !== x || y !== y) return;
    const px = u.valToPos(x, "x", true), py = u.valToPos(y, "y", true);
    ctx.strokeStyle = color;
    ctx.lineWidth = 2 * uPlot.pxRatio;
    ctx.beginPath();
    ctx.arc(px, py, 5 * uPlot.pxRatio, 0, 2 * Math.PI);
    ctx.stroke();
  }

  function crossesAtTop(u, ctx, xs, idx, count, color) {
    if (count === 0) return 0;
    const r = 3 * uPlot.pxRatio, py = u.bbox.top + 6 * uPlot.pxRatio;
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.3 * uPlot.pxRatio;
    ctx.beginPath();
    let n = 0;
    for (let k = 0; k < count; k++) {
      const x = xs[idx[k]];
      if (x !== x) continue;
      const px = u.valToPos(x, "x", true);
      ctx.moveTo(px - r, py - r); ctx.lineTo(px + r, py + r);
      ctx.moveTo(px - r, py + r); ctx.lineTo(px + r, py - r);
      n++;
    }
    ctx.stroke();
    return n;
  }

  // Small crosses at (xs[i], ys[i]) for i in idx: trials drawn apart (infeasible ones).
  function crossesAt(u, ctx, xs, ys, idx, color) {
    const r = 2.5 * uPlot.pxRatio;
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.2 * uPlot.pxRatio;
    ctx.beginPath();
    let n = 0;
    for (const i of idx) {
      const x = xs[i], y = ys[i];
      if (x !== x || y !== y) continue;
      const px = u.valToPos(x, "x", true), py = u.valToPos(y, "y", true);
      ctx.moveTo(px - r, py - r); ctx.lineTo(px + r, py + r);
      ctx.moveTo(px - r, py + r); ctx.lineTo(px + r, py - r);
      n++;
    }
    ctx.stroke();
    return n;
  }

  // The Pareto front of two objectives: a step line through its points in x order (each
  // corner at the worse value of both neighbours, the edge of what the front dominates) when
  // `steps`, and its points as large squares on top. Returns the ids drawn.
  function frontMarks(u, ctx, xs, ys, idx, ids, dirs, steps) {
    const pts = [];
    for (const i of idx) if (xs[i] === xs[i] && ys[i] === ys[i]) pts.push(i);
    pts.sort((a, b) => xs[a] - xs[b] || ys[a] - ys[b]);
    const worse = (dir, a, b) => (dir === "maximize" ? Math.min(a, b) : Math.max(a, b));
    if (steps && pts.length > 1) {
      ctx.strokeStyle = COLOR.best;
      ctx.lineWidth = 1.5 * uPlot.pxRatio;
      ctx.beginPath();
      ctx.moveTo(u.valToPos(xs[pts[0]], "x", true), u.valToPos(ys[pts[0]], "y", true));
      for (let k = 1; k < pts.length; k++) {
        const p = pts[k - 1], q = pts[k];
        const cx = worse(dirs[0], xs[p], xs[q]), cy = worse(dirs[1], ys[p], ys[q]);
        ctx.lineTo(u.valToPos(cx, "x", true), u.valToPos(cy, "y", true));
        ctx.lineTo(u.valToPos(xs[q], "x", true), u.valToPos(ys[q], "y", true));
      }
      ctx.stroke();
    }
    const r = 3.5 * uPlot.pxRatio;
    ctx.fillStyle = COLOR.best;
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1 * uPlot.pxRatio;
    for (const i of pts) {
      const px = u.valToPos(xs[i], "x", true), py = u.valToPos(ys[i], "y", true);
      ctx.fillRect(px - r, py - r, 2 * r, 2 * r);
      ctx.strokeRect(px - r, py - r, 2 * r, 2 * r);
    }
    return pts.map((i) => ids[i]);
  }

  // A step line through (xs[idx[k]], best[k]) in x order.
  function stepLine(u, ctx, xs, best, idx, count, color) {
    if (count === 0) return 0;
    ctx.strokeStyle = color;
    ctx.lineWidth = 2 * uPlot.pxRatio;
    ctx.beginPath();
    let prevY = null;
    for (let k = 0; k < count; k++) {
      const px = u.valToPos(xs[idx[k]], "x", true), py = u.valToPos(best[k], "y", true);
      if (prevY === null) ctx.moveTo(px, py);
      else { ctx.lineTo(px, prevY); ctx.lineTo(px, py); }
      prevY = py;
    }
    ctx.lineTo(u.bbox.left + u.bbox.width, prevY);
    ctx.stroke();
    return count;
  }

  // ---------------------------------------------------------------- the study model (page side)

  function emptyColumns() {
    return { id: [], state: [], loss: [], created: [], started: [], finished: [],
      params: {}, metrics: {}, error: [], reports: [], values: [], cons: [] };
  }

  // The page's columns, from the trials as the server sends them (one row per trial):
  // {t0, labels, rows: [[id, state, loss, started - t0, finished - t0, [values by label],
  // {metrics} | null, error line | null, reports(, [values] | null, [constraints] | null)], ...]}:
  // the last two only for a trial of several objectives or with constraints.
  function asColumns(trials) {
    if (!trials || !Array.isArray(trials.rows)) return emptyColumns();
    const t0 = trials.t0 || 0, labels = trials.labels || [], rows = trials.rows, n = rows.length;
    const c = emptyColumns();
    for (const l of labels) c.params[l] = new Array(n);
    const at = (t) => (t === null || t === undefined ? null : t0 + t);
    for (let i = 0; i < n; i++) {
      const r = rows[i];
      c.id.push(r[0]); c.state.push(r[1]); c.loss.push(r[2]);
      c.started.push(at(r[3])); c.finished.push(at(r[4])); c.created.push(at(r[3]));
      const vals = r[5] || [];
      for (let j = 0; j < labels.length; j++) c.params[labels[j]][i] = vals[j] === undefined ? null : vals[j];
      const m = r[6];
      if (m) {
        for (const k of Object.keys(m)) {
          if (!(k in c.metrics)) c.metrics[k] = new Array(n).fill(null);
          c.metrics[k][i] = m[k];
        }
      }
      c.error.push(r[7] === undefined ? null : r[7]);
      c.reports.push(r[8] || 0);
      c.values.push(Array.isArray(r[9]) ? r[9] : null);
      c.cons.push(Array.isArray(r[10]) ? r[10] : null);
    }
    return c;
  }

  class StudyModel {
    constructor(payload) {
      this.name = payload.name;
      this.storage = payload.storage;
      this.algo = payload.algo;
      this.seed = payload.seed;
      this.created = payload.created;
      this.params = payload.params || [];
      this.summary = payload.summary;
      // "minimize" or "maximize" per objective; several objectives: a Pareto front, no best
      this.directions = Array.isArray(payload.directions) && payload.directions.length ? payload.directions.map(String) : ["minimize"];
      this.front = new Set(Array.isArray(payload.front) ? payload.front : []);
      this.cursor = payload.cursor;
      this.cols = emptyColumns();
      for (const p of this.params) this.cols.params[p.label] = [];
      this.metricKeys = [];
      this.rowOf = new Map();
      this.curves = new Map();
      this.curvesMax = 500;
      this.version = 0;
      this.merge(payload.trials, payload.curves, true);
    }

    // Replace or append the trials of `cols` (COLUMNS), and the curves.
    merge(cols, curves, initial) {
      cols = asColumns(cols);
      const c = this.cols;
      const n = cols && cols.id ? cols.id.length : 0;
      if (initial && n > 0) { // the whole study at once: adopt the arrays
        c.id = cols.id.slice(); c.state = cols.state.slice(); c.loss = cols.loss.slice();
        c.created = cols.created.slice(); c.started = cols.started.slice();
        c.finished = cols.finished.slice(); c.error = cols.error.slice();
        c.reports = cols.reports ? cols.reports.slice() : new Array(n).fill(0);
        c.values = cols.values.slice(); c.cons = cols.cons.slice();
        for (const p of this.params) {
          const col = cols.params ? cols.params[p.label] : null;
          c.params[p.label] = col ? col.slice() : new Array(n).fill(null);
        }
        for (const k of Object.keys(cols.metrics || {})) {
          this.metricKeys.push(k);
          c.metrics[k] = cols.metrics[k].slice();
        }
        for (let i = 0; i < n; i++) this.rowOf.set(c.id[i], i);
        let sorted = true;
        for (let i = 1; i < n; i++) if (c.id[i] <= c.id[i - 1]) { sorted = false; break; }
        if (!sorted) this.sortById();
      } else if (n > 0) {
        for (const k of Object.keys(cols.metrics || {})) {
          if (!(k in c.metrics)) {
            this.metricKeys.push(k);
            c.metrics[k] = new Array(c.id.length).fill(null);
          }
        }
        let needSort = false;
        for (let j = 0; j < n; j++) {
          const id = cols.id[j];
          let r = this.rowOf.get(id);
          if (r === undefined) {
            const last = c.id.length ? c.id[c.id.length - 1] : -Infinity;
            if (id < last) needSort = true;
            r = c.id.length;
            c.id.push(id); c.state.push(null); c.loss.push(null); c.created.push(null);
            c.started.push(null); c.finished.push(null); c.error.push(null); c.reports.push(0);
            c.values.push(null); c.cons.push(null);
            for (const p of this.params) c.params[p.label].push(null);
            for (const k of this.metricKeys) c.metrics[k].push(null);
            this.rowOf.set(id, r);
          }
          c.state[r] = cols.state[j]; c.loss[r] = cols.loss[j]; c.created[r] = cols.created[j];
          c.started[r] = cols.started[j]; c.finished[r] = cols.finished[j];
          c.error[r] = cols.error[j]; c.reports[r] = cols.reports ? cols.reports[j] : 0;
          c.values[r] = cols.values[j]; c.cons[r] = cols.cons[j];
          for (const p of this.params) {
            const col = cols.params ? cols.params[p.label] : null;
            c.params[p.label][r] = col ? col[j] : null;
          }
          for (const k of this.metricKeys) {
            const col = cols.metrics ? cols.metrics[k] : null;
            c.metrics[k][r] = col ? col[j] : null;
          }
        }
        if (needSort) this.sortById();
      }
      if (curves) {
        if (curves.max) this.curvesMax = curves.max;
        for (const k of Object.keys(curves.trials || {})) this.curves.set(Number(k), curves.trials[k]);
        this.trimCurves();
      }
      this.version++;
      this.derive();
    }

    sortById() {
      const c = this.cols, n = c.id.length;
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => c.id[a] - c.id[b]);
      const perm = (arr) => order.map((i) => arr[i]);
      for (const k of ["id", "state", "loss", "created", "started", "finished", "error", "reports", "values", "cons"]) c[k] = perm(c[k]);
      for (const p of this.params) c.params[p.label] = perm(c.params[p.label]);
      for (const k of this.metricKeys) c.metrics[k] = perm(c.metrics[k]);
      this.rowOf = new Map();
      for (let i = 0; i < n; i++) this.rowOf.set(c.id[i], i);
    }

    trimCurves() {
      if (this.curves.size <= this.curvesMax) return;
      const ids = Array.from(this.curves.keys());
      const lossOf = (id) => { const r = this.rowOf.get(id); const l = r === undefined ? null : this.cols.loss[r]; return l === null ? Infinity : l; };
      const keep = new Set(ids.slice().sort((a, b) => lossOf(a) - lossOf(b) || a - b).slice(0, 50));
      const recent = ids.filter((id) => !keep.has(id)).sort((a, b) => b - a);
      for (const id of recent.slice(Math.max(0, this.curvesMax - keep.size))) this.curves.delete(id);
    }

    // Typed arrays the charts and the table read; recomputed once per merge (O(n), plus sorts).
    derive() {
      const c = this.cols, n = c.id.length;
      const id = new Float64Array(n), loss = new Float64Array(n), state = new Uint8Array(n);
      const finished = new Float64Array(n), started = new Float64Array(n);
      // one maximised objective: the best is the highest loss
      const sign = this.directions.length === 1 && this.directions[0] === "maximize" ? -1 : 1;
      let okN = 0, prunedN = 0, failN = 0, best = -1;
      for (let i = 0; i < n; i++) {
        id[i] = c.id[i];
        const l = c.loss[i];
        loss[i] = l === null || l === undefined ? NaN : l;
        const s = STATE_CODE[c.state[i]];
        state[i] = s === undefined ? 0 : s;
        finished[i] = c.finished[i] === null ? NaN : c.finished[i];
        started[i] = c.started[i] === null ? NaN : c.started[i];
        if (state[i] === OK) { okN++; if (loss[i] === loss[i] && (best < 0 || sign * loss[i] < sign * loss[best])) best = i; }
        else if (state[i] === PRUNED) prunedN++;
        else if (state[i] === FAIL) failN++;
      }
      const okIdx = new Int32Array(okN), prIdx = new Int32Array(prunedN), failIdx = new Int32Array(failN);
      let a = 0, b = 0, f = 0;
      for (let i = 0; i < n; i++) {
        if (state[i] === OK) okIdx[a++] = i;
        else if (state[i] === PRUNED) prIdx[b++] = i;
        else if (state[i] === FAIL) failIdx[f++] = i;
      }
      // best so far by trial number (ok trials in id order)
      const bestByNum = new Float64Array(okN);
      let m = sign * Infinity;
      for (let k = 0; k < okN; k++) { const l = loss[okIdx[k]]; if (sign * l < sign * m) m = l; bestByNum[k] = m; }
      // ... and by finishing time
      const okByTime = Int32Array.from(okIdx).sort((p, q) => finished[p] - finished[q]);
      const bestByTime = new Float64Array(okN);
      m = sign * Infinity;
      for (let k = 0; k < okN; k++) { const l = loss[okByTime[k]]; if (sign * l < sign * m) m = l; bestByTime[k] = m; }
      let lmin = Infinity, lmax = -Infinity, tmin = Infinity, tmax = -Infinity;
      for (let i = 0; i < n; i++) {
        const l = loss[i];
        if (l === l && (state[i] === OK || state[i] === PRUNED)) { if (l < lmin) lmin = l; if (l > lmax) lmax = l; }
        const t = finished[i];
        if (t === t) { if (t < tmin) tmin = t; if (t > tmax) tmax = t; }
      }
      if (!(tmax >= tmin)) { tmax = Date.now() / 1000; tmin = tmax - 60; }
      const params = this.params.map((p) => {
        const col = c.params[p.label];
        const v = new Float64Array(n);
        let lo = Infinity, hi = -Infinity;
        for (let i = 0; i < n; i++) {
          const x = col[i];
          if (x === null || x === undefined || typeof x !== "number" || (p.log && !(x > 0))) { v[i] = NaN; continue; }
          v[i] = x;
          if (x < lo) lo = x;
          if (x > hi) hi = x;
        }
        return { values: v, min: lo, max: hi };
      });
      this.d = { n, id, loss, state, finished, started, okIdx, prIdx, failIdx, bestByNum, okByTime,
        bestByTime, best, lmin, lmax, tmin, tmax, params, idMin: n ? id[0] : 0, idMax: n ? id[n - 1] : 1,
        sign, ...this.objectives(n, state) };
    }

    // Several objectives: a column per objective (NaN but for ok trials), each trial's
    // violation (the sum of its positive constraints), the front (ids the server sent), and
    // the ok trials split: feasible off the front, infeasible, on the front.
    objectives(n, state) {
      const c = this.cols;
      let k = this.directions.length, constrained = false;
      for (let i = 0; i < n; i++) {
        const v = c.values[i];
        if (Array.isArray(v) && v.length > k) k = v.length;
        if (Array.isArray(c.cons[i]) && c.cons[i].length) constrained = true;
      }
      const obj = [], omin = [], omax = [];
      for (let j = 0; j < (k > 1 ? k : 0); j++) {
        const col = new Float64Array(n);
        let lo = Infinity, hi = -Infinity;
        for (let i = 0; i < n; i++) {
          const v = c.values[i], x = state[i] === OK && Array.isArray(v) && v.length === k ? v[j] : null;
          col[i] = typeof x === "number" ? x : NaN;
          if (col[i] === col[i]) { if (col[i] < lo) lo = col[i]; if (col[i] > hi) hi = col[i]; }
        }
        obj.push(col); omin.push(lo); omax.push(hi);
      }
      const viol = new Float64Array(n), onFront = new Uint8Array(n);
      const feasIdx = [], infIdx = [], frontIdx = [];
      for (let i = 0; i < n; i++) {
        const cs = c.cons[i];
        if (Array.isArray(cs)) for (const x of cs) if (typeof x === "number" && x > 0) viol[i] += x;
        if (state[i] !== OK) continue;
        if (this.front.has(c.id[i])) { onFront[i] = 1; frontIdx.push(i); }
        else if (viol[i] > 0) infIdx.push(i);
        else feasIdx.push(i);
      }
      return { k, obj, omin, omax, viol, constrained, onFront, feasIdx: Int32Array.from(feasIdx),
        infIdx: Int32Array.from(infIdx), frontIdx: Int32Array.from(frontIdx) };
    }

    get several() { return this.d.k > 1; }

    objectiveName(j) { return "objective " + (j + 1) + " (" + (this.directions[j] || "minimize") + ")"; }
  }

  // ---------------------------------------------------------------- the study page

  function jitter(id) { // deterministic, in [-0.28, 0.28]
    let x = (id * 2654435761) >>> 0;
    x ^= x >>> 15;
    return ((x % 1000) / 1000 - 0.5) * 0.56;
  }

  class StudyPage {
    constructor(root, payload, report) {
      this.root = root;
      this.report = report; // {written} or null
      this.model = new StudyModel(payload);
      mark("model");
      this.charts = [];
      this.table = { sortCol: "id", sortDir: 1, filter: "all", page: 0, cache: null };
      this.build();
    }

    link(text, href) {
      return this.report ? h("span", { text }) : h("a", { href, text });
    }

    build() {
      const M = this.model;
      document.title = M.name + " · asynchpo";
      this.headerBox = h("section", { class: "header" });
      this.root.append(this.headerBox);
      this.renderHeader();

      if (M.several) this.buildPareto();

      const hist = h("section", { class: "panel" }, h("h2", { text: "History" }));
      const row = h("div", { class: "chart-row" });
      if (M.several) { // one chart per objective, by trial number
        this.histObj = [];
        for (let j = 0; j < M.d.k; j++) {
          const box = h("div", { class: "chart", "data-chart": "history-objective-" + j });
          this.histObj.push(box);
          row.append(h("figure", null, h("figcaption", { text: M.objectiveName(j) + " by trial number" }), box));
        }
        this.histNum = this.histObj[0];
      } else {
        this.histNum = h("div", { class: "chart", "data-chart": "history-number" });
        this.histTime = h("div", { class: "chart", "data-chart": "history-time" });
        row.append(h("figure", null, h("figcaption", { text: "loss by trial number" }), this.histNum),
          h("figure", null, h("figcaption", { text: "loss by time" }), this.histTime));
      }
      hist.append(row, M.several ? this.frontLegend() : this.legendLine());
      this.root.append(hist);

      const pp = h("section", { class: "panel" }, h("h2", { text: "Loss against each parameter" }));
      if (M.several) pp.hidden = true; // several objectives: the Pareto front and parallel coordinates
      this.paramGrid = h("div", { class: "param-grid" });
      this.paramBoxes = M.params.map((p, i) => {
        const box = h("div", { class: "chart", "data-chart": "param-" + i });
        this.paramGrid.append(h("figure", null,
          h("figcaption", null, h("span", { class: "label", text: p.label }), " ", h("span", { class: "kind", text: p.kind + (p.log ? ", log axis" : "") })), box));
        return box;
      });
      if (!M.params.length) this.paramGrid.append(h("p", { class: "muted", text: "the space has no parameters" }));
      pp.append(this.paramGrid);
      this.root.append(pp);

      this.parNote = h("p", { class: "muted" });
      const par = h("section", { class: "panel" }, h("h2", { text: "Parallel coordinates" }), this.parNote);
      this.parBox = h("div", { class: "chart parallel", "data-chart": "parallel" });
      this.parCanvas = h("canvas");
      this.parBox.append(this.parCanvas);
      this.parLegend = h("div", { class: "color-legend" });
      par.append(this.parBox, this.parLegend);
      this.root.append(par);

      const cur = h("section", { class: "panel" }, h("h2", { text: "Learning curves" }));
      this.curBox = h("div", { class: "chart", "data-chart": "curves" });
      this.curNote = h("p", { class: "muted" });
      cur.append(this.curNote, this.curBox);
      this.root.append(cur);

      const tab = h("section", { class: "panel" }, h("h2", { text: "Trials" }));
      this.buildTable(tab);
      this.root.append(tab);

      this.width = this.measure();
      mark("layout");
      this.buildCharts();
      mark("charts");
      this.renderTable();
      mark("table");
      let pending = null;
      window.addEventListener("resize", () => {
        clearTimeout(pending);
        pending = setTimeout(() => this.resize(), 150);
      });
    }

    // Several objectives: the Pareto chart (2) or a scatter matrix of every pair (3+).
    buildPareto() {
      const M = this.model, k = M.d.k;
      const sec = h("section", { class: "panel", id: "pareto" }, h("h2", { text: "Pareto front" }));
      this.paretoNote = h("p", { class: "muted" });
      sec.append(this.paretoNote);
      this.paretoBoxes = [];
      const grid = h("div", { class: k > 2 ? "param-grid" : "pareto-one" });
      for (let a = 0; a < k; a++) {
        for (let b = a + 1; b < k; b++) {
          const name = k === 2 ? "pareto" : "pareto-" + a + "-" + b;
          const box = h("div", { class: "chart", "data-chart": name });
          this.paretoBoxes.push({ box, a, b });
          grid.append(h("figure", null, h("figcaption", { text: M.objectiveName(b) + " against " + M.objectiveName(a) }), box));
        }
      }
      sec.append(grid, this.frontLegend());
      this.root.append(sec);
      this.paretoGrid = grid;
    }

    frontLegend() {
      const sw = (cls, text) => h("span", { class: "key" }, h("span", { class: "swatch " + cls }), text);
      const cross = h("span", { class: "key" }, h("span", { class: "swatch-x", text: "×" }), "infeasible (a constraint > 0)");
      return h("div", { class: "legend" }, sw("ok", "ok"), cross,
        sw("front", "Pareto front"), sw("fail", "failed (marked along the top)"));
    }

    paretoNoteText() {
      const d = this.model.d, n = d.frontIdx.length;
      const all = d.feasIdx.length + d.infIdx.length + n;
      let t = n + " trial" + (n === 1 ? "" : "s") + " on the Pareto front, of " + all + " ok";
      if (d.constrained) {
        t += "; " + d.infIdx.length + " infeasible, drawn as crosses";
        let feasibleFront = false;
        for (const i of d.frontIdx) if (d.viol[i] === 0) feasibleFront = true;
        if (n && !feasibleFront) t += " (no trial is feasible yet: the front is of the least violation)";
      }
      return t;
    }

    legendLine() {
      const sw = (cls, text) => h("span", { class: "key" }, h("span", { class: "swatch " + cls }), text);
      return h("div", { class: "legend" }, sw("ok", "ok"), sw("pruned", "pruned (last reported loss)"),
        sw("fail", "failed (no loss, marked along the top)"), sw("best", "best so far"));
    }

    measure() {
      const w = this.histNum.parentElement.clientWidth;
      const pg = this.paretoGrid ? this.paretoGrid.clientWidth : 0;
      return { half: Math.max(260, Math.floor(w)), full: Math.max(300, this.parBox.clientWidth || 600),
        pareto: this.model.d.k > 2 ? Math.max(220, Math.floor(pg / Math.max(1, Math.floor(pg / 330))) - 14)
          : Math.max(300, Math.min(760, pg || 600)),
        param: Math.max(220, Math.floor(this.paramGrid.clientWidth / Math.max(1, Math.floor(this.paramGrid.clientWidth / 330))) - 14) };
    }

    lossAxis() {
      const M = this;
      return { kind: "lin", label: "loss", range: () => padRange(M.model.d.lmin, M.model.d.lmax, 0.05, false) };
    }

    // The loss of every trial against `x` (trial number or time): ok and pruned trials as
    // points, failed ones as crosses along the top, the best so far as a step line.
    historyChart(box, lossY, x) {
      const self = this;
      return makeChart(box, {
        width: this.width.half, height: 260,
        x: { kind: x.kind, label: x.label, range: () => padRange(x.lo(), x.hi(), 0.02, false) },
        y: lossY,
        data: () => rangeData([x.lo(), x.hi()], [0, 1]),
        draw(u, ctx) {
          const d = self.model.d, xs = x.xs(d), sz = pxSize(d.n), sp = beginSplat(u, this);
          let n = fillPoints(u, sp, xs, d.loss, d.prIdx, d.prIdx.length, COLOR.pruned, 0.6, sz);
          n += fillPoints(u, sp, xs, d.loss, d.okIdx, d.okIdx.length, COLOR.ok, d.n > 20000 ? 0.5 : 0.8, sz);
          endSplat(u, ctx, sp);
          n += crossesAtTop(u, ctx, xs, d.failIdx, d.failIdx.length, COLOR.fail);
          const [best, order] = x.best(d);
          stepLine(u, ctx, xs, best, order, order.length, COLOR.best);
          box.dataset.bestSoFar = best.length ? String(best[best.length - 1]) : "";
          if (d.best >= 0) ring(u, ctx, xs[d.best], d.loss[d.best], COLOR.best);
          return n;
        },
      });
    }

    // Objective b against objective a: ok trials as points, infeasible ones as crosses, the
    // front on top (joined by a step line for two objectives).
    paretoChart(box, a, b) {
      const self = this, M = this.model;
      const axis = (j) => ({ kind: "lin", label: M.objectiveName(j),
        range: () => padRange(self.model.d.omin[j], self.model.d.omax[j], 0.05, false) });
      const chart = makeChart(box, {
        width: this.width.pareto, height: M.d.k > 2 ? 240 : 360,
        x: axis(a), y: axis(b),
        data: () => { const d = self.model.d; return rangeData([d.omin[a], d.omax[a]], [d.omin[b], d.omax[b]]); },
        draw(u, ctx) {
          const d = self.model.d, xs = d.obj[a], ys = d.obj[b], sp = beginSplat(u, this);
          let n = fillPoints(u, sp, xs, ys, d.feasIdx, d.feasIdx.length, COLOR.ok, d.n > 20000 ? 0.5 : 0.75, pxSize(d.n));
          endSplat(u, ctx, sp);
          n += crossesAt(u, ctx, xs, ys, d.infIdx, COLOR.infeasible);
          const ids = frontMarks(u, ctx, xs, ys, d.frontIdx, d.id, [M.directions[a], M.directions[b]], d.k === 2);
          box.dataset.front = String(ids.length);
          box.dataset.frontIds = ids.slice().sort((p, q) => p - q).join("|");
          box.dataset.infeasible = String(d.infIdx.length);
          return n + ids.length;
        },
      });
      chart.kind = "pareto";
      return chart;
    }

    // Objective j by trial number (several objectives): ok trials, infeasible ones apart,
    // the front highlighted, failed trials along the top.
    objectiveHistory(box, j) {
      const self = this, M = this.model;
      const chart = makeChart(box, {
        width: this.width.half, height: 260,
        x: { kind: "lin", label: "trial", range: () => padRange(self.model.d.idMin, self.model.d.idMax, 0.02, false) },
        y: { kind: "lin", label: M.objectiveName(j), range: () => padRange(self.model.d.omin[j], self.model.d.omax[j], 0.05, false) },
        data: () => { const d = self.model.d; return rangeData([d.idMin, d.idMax], [d.omin[j], d.omax[j]]); },
        draw(u, ctx) {
          const d = self.model.d, ys = d.obj[j], sp = beginSplat(u, this);
          let n = fillPoints(u, sp, d.id, ys, d.feasIdx, d.feasIdx.length, COLOR.ok, d.n > 20000 ? 0.5 : 0.8, pxSize(d.n));
          endSplat(u, ctx, sp);
          n += crossesAt(u, ctx, d.id, ys, d.infIdx, COLOR.infeasible);
          n += crossesAtTop(u, ctx, d.id, d.failIdx, d.failIdx.length, COLOR.fail);
          const ids = frontMarks(u, ctx, d.id, ys, d.frontIdx, d.id, ["minimize", M.directions[j]], false);
          box.dataset.front = String(ids.length);
          return n + ids.length;
        },
      });
      chart.kind = "half";
      return chart;
    }

    buildCharts() {
      const self = this, W = this.width;
      const lossY = this.lossAxis();
      const d = () => self.model.d;
      if (this.model.several) {
        for (const { box, a, b } of this.paretoBoxes) this.charts.push(this.paretoChart(box, a, b));
        this.histObj.forEach((box, j) => this.charts.push(this.objectiveHistory(box, j)));
        this.paretoNote.textContent = this.paretoNoteText();
        mark("uplots");
        this.drawParallel();
        mark("parallel");
        this.drawCurves();
        return;
      }
      this.charts.push(this.historyChart(this.histNum, lossY, {
        kind: "lin", label: "trial", lo: () => d().idMin, hi: () => d().idMax,
        xs: (m) => m.id, best: (m) => [m.bestByNum, m.okIdx],
      }));
      this.charts.push(this.historyChart(this.histTime, lossY, {
        kind: "time", label: "finished", lo: () => d().tmin, hi: () => d().tmax,
        xs: (m) => m.finished, best: (m) => [m.bestByTime, m.okByTime],
      }));
      // one per parameter
      this.model.params.forEach((p, pi) => {
        const choice = Array.isArray(p.options);
        const kind = choice ? "choice" : p.log ? "log" : "lin";
        const jit = { xs: null, version: -1 };
        const chart = makeChart(this.paramBoxes[pi], {
          width: W.param, height: 200,
          x: {
            kind, options: p.options, label: p.label,
            range: () => {
              const s = self.model.d.params[pi];
              if (choice) return [-0.5, Math.max(1, p.options.length) - 0.5];
              return padRange(s.min, s.max, 0.04, p.log);
            },
          },
          y: lossY,
          data: () => {
            const s = self.model.d.params[pi];
            const xr = choice ? [-0.5, p.options.length - 0.5] : isFinite(s.min) ? [s.min, s.max] : (p.log ? [1, 10] : [0, 1]);
            return rangeData(xr, [0, 1]);
          },
          draw(u, ctx) {
            const d = self.model.d, s = d.params[pi];
            let xs = s.values;
            if (choice) { // spread a choice's points around its index
              if (jit.version !== self.model.version) {
                jit.xs = new Float64Array(d.n);
                for (let i = 0; i < d.n; i++) jit.xs[i] = s.values[i] + jitter(d.id[i]);
                jit.version = self.model.version;
              }
              xs = jit.xs;
            }
            const sz = pxSize(d.n), sp = beginSplat(u, this);
            let n = fillPoints(u, sp, xs, d.loss, d.prIdx, d.prIdx.length, COLOR.pruned, 0.6, sz);
            n += fillPoints(u, sp, xs, d.loss, d.okIdx, d.okIdx.length, COLOR.ok, d.n > 20000 ? 0.45 : 0.75, sz);
            endSplat(u, ctx, sp);
            if (d.best >= 0) ring(u, ctx, xs[d.best], d.loss[d.best], COLOR.best);
            return n;
          },
        });
        this.charts.push(chart);
      });
      mark("uplots");
      this.drawParallel();
      mark("parallel");
      this.drawCurves();
    }

    resize() {
      this.width = this.measure();
      const W = this.width;
      if (this.model.several) for (const c of this.charts) c.resize(W[c.kind]);
      else {
        this.charts[0].resize(W.half);
        this.charts[1].resize(W.half);
        for (let i = 2; i < this.charts.length; i++) this.charts[i].resize(W.param);
      }
      if (this.curChart) this.curChart.resize(W.full);
      this.drawParallel();
    }

    // ------------------------------------------------ parallel coordinates (own canvas)

    drawParallel() {
      const M = this.model, d = M.d;
      const box = this.parBox, cv = this.parCanvas;
      const W = Math.max(300, box.clientWidth || this.width.full), H = 340;
      const pr = window.devicePixelRatio || 1;
      cv.width = Math.round(W * pr); cv.height = Math.round(H * pr);
      cv.style.width = W + "px"; cv.style.height = H + "px";
      const ctx = cv.getContext("2d");
      ctx.setTransform(pr, 0, 0, pr, 0, 0);
      ctx.clearRect(0, 0, W, H);
      const top = 34, bottom = H - 22, left = 70, right = W - 70;
      // axes: every parameter, then loss
      const axes = M.params.map((p, pi) => {
        const s = d.params[pi];
        if (Array.isArray(p.options)) {
          const k = Math.max(1, p.options.length);
          return { name: p.label, kind: "choice", options: p.options, values: s.values,
            t: (v) => (k === 1 ? 0.5 : v / (k - 1)) };
        }
        const [lo, hi] = padRange(s.min, s.max, 0.0, p.log);
        if (p.log) {
          const a = Math.log(lo), b = Math.log(hi);
          return { name: p.label, kind: "log", lo, hi, values: s.values, t: (v) => (Math.log(v) - a) / (b - a) };
        }
        return { name: p.label, kind: "lin", lo, hi, values: s.values, t: (v) => (v - lo) / (hi - lo) };
      });
      if (M.several) { // an axis per objective
        for (let j = 0; j < d.k; j++) {
          const [lo, hi] = padRange(d.omin[j], d.omax[j], 0.0, false);
          axes.push({ name: "objective " + (j + 1), kind: "lin", lo, hi, values: d.obj[j], t: (v) => (v - lo) / (hi - lo), loss: true });
        }
      } else {
        // the loss axis spans the lines drawn: ok trials (a pruned trial's partial loss is not one)
        let okMin = Infinity, okMax = -Infinity;
        for (let k = 0; k < d.okIdx.length; k++) {
          const v = d.loss[d.okIdx[k]];
          if (v < okMin) okMin = v;
          if (v > okMax) okMax = v;
        }
        const [lo, hi] = okMin <= okMax ? padRange(okMin, okMax, 0.0, false) : padRange(d.lmin, d.lmax, 0.0, false);
        axes.push({ name: "loss", kind: "lin", lo, hi, values: d.loss, t: (v) => (v - lo) / (hi - lo), loss: true });
      }
      const nA = axes.length;
      const xOf = (a) => (nA === 1 ? (left + right) / 2 : left + (a * (right - left)) / (nA - 1));
      // an axis whose label is inactive in some ok trials keeps its bottom tenth for "n/a"
      const NA = 0.1;
      for (const ax of axes) {
        ax.na = false;
        if (ax.loss) continue;
        for (let k = 0; k < d.okIdx.length; k++) if (ax.values[d.okIdx[k]] !== ax.values[d.okIdx[k]]) { ax.na = true; break; }
      }
      const yAt = (ax, t) => bottom - (ax.na ? (t !== t ? 0 : NA + t * (1 - NA)) : t) * (bottom - top);
      // colour by loss rank among ok trials: 10 bins, best bin darkest, drawn last
      const ok = d.okIdx, nOk = ok.length;
      const byLoss = Int32Array.from(ok).sort((p, q) => d.sign * (d.loss[p] - d.loss[q]) || p - q);
      const bins = VIRIDIS.length;
      const edges = [];
      for (let b = 0; b < bins; b++) {
        const from = Math.floor((b * nOk) / bins), to = Math.floor(((b + 1) * nOk) / bins);
        edges.push({ from, to, lo: nOk ? d.loss[byLoss[Math.min(from, nOk - 1)]] : NaN, hi: to > from ? d.loss[byLoss[to - 1]] : NaN });
      }
      const lineFor = (i) => {
        let pen = false;
        for (let a = 0; a < nA; a++) {
          const ax = axes[a], v = ax.values[i];
          if (v !== v && !ax.na) { pen = false; continue; }
          const x = xOf(a), y = yAt(ax, v !== v ? NaN : ax.t(v));
          if (pen) ctx.lineTo(x, y); else { ctx.moveTo(x, y); pen = true; }
        }
      };
      if (M.several) { this.drawParallelFront(ctx, axes, lineFor, xOf, yAt, box, NA, top, bottom); return; }
      ctx.lineWidth = 1;
      // Rastering a line costs the browser far more than drawing it: past MAX_LINES, the best
      // bin is drawn whole and the others as an even sample (every stride-th by loss).
      const stride = nOk > MAX_LINES ? Math.ceil(nOk / MAX_LINES) : 1;
      let drawn = 0;
      for (let b = bins - 1; b >= 0; b--) {
        const e = edges[b];
        if (e.to <= e.from) continue;
        const step = b === 0 ? 1 : stride;
        ctx.strokeStyle = VIRIDIS[b];
        // fainter the more lines share a bin, and the worse the bin
        const inBin = Math.ceil((e.to - e.from) / step);
        ctx.globalAlpha = Math.max(0.02, Math.min(0.85, 3 / Math.sqrt(inBin)) * (0.45 + (0.55 * (bins - 1 - b)) / (bins - 1)));
        ctx.beginPath();
        for (let k = e.from; k < e.to; k += step) { lineFor(byLoss[k]); drawn++; }
        ctx.stroke();
      }
      this.parNote.textContent = stride > 1
        ? "ok trials, coloured by loss; the best trial drawn thick; drawn: the best tenth whole and every " +
          stride + "th of the others (" + drawn + " of " + nOk + " ok trials)"
        : "ok trials, coloured by loss; the best trial drawn thick";
      ctx.globalAlpha = 1;
      if (d.best >= 0) {
        ctx.strokeStyle = COLOR.best;
        ctx.lineWidth = 3;
        ctx.beginPath();
        lineFor(d.best);
        ctx.stroke();
      }
      const allTicks = this.parallelAxes(ctx, axes, xOf, yAt, top, bottom, NA);
      box.dataset.points = String(drawn);
      box.dataset.axes = axes.map((a) => a.name).join("|");
      box.dataset.xTicks = "";
      box.dataset.yTicks = allTicks.join("|");
      // the colour legend, as text
      const items = [];
      for (let b = 0; b < bins; b++) {
        const e = edges[b];
        if (e.to <= e.from) continue;
        const sw = h("span", { class: "swatch" });
        sw.style.background = VIRIDIS[b];
        items.push(h("span", { class: "key" }, sw, fmtNum(e.lo, 4) + " – " + fmtNum(e.hi, 4)));
      }
      const bestSw = h("span", { class: "swatch" });
      bestSw.style.background = COLOR.best;
      const key = nOk ? [h("span", { class: "key" }, bestSw, "best trial")] : [];
      this.parLegend.replaceChildren(h("span", { class: "muted", text: nOk ? "loss, best first: " : "no ok trial yet" }),
        ...items, ...key);
    }

    // Several objectives: every ok trial faint, the trials of the Pareto front on top.
    drawParallelFront(ctx, axes, lineFor, xOf, yAt, box, NA, top, bottom) {
      const d = this.model.d;
      let drawn = 0;
      const stride = d.okIdx.length > MAX_LINES ? Math.ceil(d.okIdx.length / MAX_LINES) : 1;
      ctx.lineWidth = 1;
      ctx.strokeStyle = COLOR.ok;
      ctx.globalAlpha = Math.max(0.03, Math.min(0.5, 3 / Math.sqrt(Math.max(1, d.okIdx.length / stride))));
      ctx.beginPath();
      for (let k = 0; k < d.okIdx.length; k += stride) { const i = d.okIdx[k]; if (!d.onFront[i]) { lineFor(i); drawn++; } }
      ctx.stroke();
      ctx.globalAlpha = 0.9;
      ctx.strokeStyle = COLOR.best;
      ctx.lineWidth = 2;
      ctx.beginPath();
      for (const i of d.frontIdx) { lineFor(i); drawn++; }
      ctx.stroke();
      ctx.globalAlpha = 1;
      this.parNote.textContent = "ok trials" + (stride > 1 ? " (every " + stride + "th)" : "") +
        "; the trials of the Pareto front drawn thick";
      const allTicks = this.parallelAxes(ctx, axes, xOf, yAt, top, bottom, NA);
      box.dataset.points = String(drawn);
      box.dataset.front = String(d.frontIdx.length);
      box.dataset.axes = axes.map((a) => a.name).join("|");
      box.dataset.xTicks = "";
      box.dataset.yTicks = allTicks.join("|");
      const sw = h("span", { class: "swatch" });
      sw.style.background = COLOR.best;
      this.parLegend.replaceChildren(d.okIdx.length ? h("span", { class: "key" }, sw, "Pareto front") : h("span", { class: "muted", text: "no ok trial yet" }));
    }

    // The axes of parallel coordinates, drawn on top; returns every tick label.
    parallelAxes(ctx, axes, xOf, yAt, top, bottom, NA) {
      ctx.font = "11px system-ui, sans-serif";
      ctx.lineWidth = 1;
      const allTicks = [];
      axes.forEach((ax, a) => {
        const x = xOf(a);
        ctx.strokeStyle = COLOR.axis;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
        ctx.fillStyle = COLOR.axis;
        ctx.textAlign = "center"; ctx.textBaseline = "bottom";
        ctx.font = "bold 12px system-ui, sans-serif";
        ctx.fillText(truncate(ax.name, 18), x, top - 12);
        ctx.font = "11px system-ui, sans-serif";
        let ticks;
        if (ax.kind === "choice") {
          const k = ax.options.length, every = Math.max(1, Math.ceil(k / 12));
          ticks = [];
          for (let j = 0; j < k; j += every) ticks.push([ax.t(j), truncate(ax.options[j], 14)]);
        } else if (ax.kind === "log") {
          ticks = logTicks(ax.lo, ax.hi, 6).map((v) => [ax.t(v), fmtNum(v, 3)]);
        } else {
          ticks = linTicks(ax.lo, ax.hi, 5).map((v) => [ax.t(v), fmtNum(v, 4)]);
        }
        ticks = ticks.filter(([t]) => t >= -1e-9 && t <= 1 + 1e-9);
        if (ax.na) ticks.push([NaN, "n/a"]);
        ctx.textAlign = "right"; ctx.textBaseline = "middle";
        for (const [t, label] of ticks) {
          const y = yAt(ax, t);
          ctx.beginPath(); ctx.moveTo(x - 4, y); ctx.lineTo(x, y); ctx.stroke();
          // a halo so labels stay readable over the lines
          ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.85)";
          ctx.strokeText(label, x - 6, y);
          ctx.lineWidth = 1; ctx.strokeStyle = COLOR.axis;
          ctx.fillText(label, x - 6, y);
          allTicks.push(label);
        }
      });
      return allTicks;
    }

    // ------------------------------------------------ learning curves

    curveRanges() {
      let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
      for (const pts of this.model.curves.values()) {
        for (const [s, l] of pts) {
          if (typeof s !== "number" || typeof l !== "number") continue;
          if (s < xmin) xmin = s; if (s > xmax) xmax = s;
          if (l < ymin) ymin = l; if (l > ymax) ymax = l;
        }
      }
      return { xmin, xmax, ymin, ymax };
    }

    drawCurves() {
      const M = this.model;
      if (M.curves.size === 0) {
        this.curNote.textContent = "no trial reports";
        this.curBox.dataset.points = "0";
        this.curBox.hidden = true;
        return;
      }
      this.curNote.textContent = M.curves.size + " trials that report (pruned ones grey, the best one thick)";
      this.curBox.hidden = false;
      if (this.curChart) { this.curChart.update(); return; }
      const self = this;
      this.curChart = makeChart(this.curBox, {
        width: this.width.full, height: 260,
        x: { kind: "lin", label: "step", range: () => { const r = self.curveRanges(); return padRange(r.xmin, r.xmax, 0.01, false); } },
        y: { kind: "lin", label: "loss", range: () => { const r = self.curveRanges(); return padRange(r.ymin, r.ymax, 0.05, false); } },
        data: () => { const r = self.curveRanges(); return rangeData([r.xmin, r.xmax], [r.ymin, r.ymax]); },
        draw(u, ctx) {
          const m = self.model, d = m.d;
          const bestId = d.best >= 0 ? d.id[d.best] : null;
          const groups = { pruned: [], other: [] };
          for (const [id, pts] of m.curves) {
            if (id === bestId) continue;
            const r = m.rowOf.get(id);
            (r !== undefined && d.state[r] === PRUNED ? groups.pruned : groups.other).push(pts);
          }
          let n = 0;
          const path = (list, color, width, alpha) => {
            ctx.strokeStyle = color; ctx.lineWidth = width * uPlot.pxRatio; ctx.globalAlpha = alpha;
            ctx.beginPath();
            for (const pts of list) {
              let first = true;
              for (const [s, l] of pts) {
                if (typeof s !== "number" || typeof l !== "number") continue;
                const x = u.valToPos(s, "x", true), y = u.valToPos(l, "y", true);
                if (first) { ctx.moveTo(x, y); first = false; } else ctx.lineTo(x, y);
                n++;
              }
            }
            ctx.stroke();
            ctx.globalAlpha = 1;
          };
          path(groups.pruned, COLOR.pruned, 1, 0.7);
          path(groups.other, COLOR.ok, 1.2, 0.7);
          if (bestId !== null && m.curves.has(bestId)) path([m.curves.get(bestId)], COLOR.best, 3, 1);
          return n;
        },
      });
    }

    // ------------------------------------------------ header

    renderHeader() {
      const M = this.model, s = M.summary || {};
      const counts = s.counts || {};
      const now = this.report ? (this.report.written || Date.now() / 1000) : Date.now() / 1000;
      const stateList = h("span", { class: "counts" });
      for (const st of STATES) {
        if (!counts[st]) continue;
        stateList.append(h("span", { class: "state " + st, text: st + " " + counts[st] }), " ");
      }
      const best = s.best_trial === null || s.best_trial === undefined ? h("span", { class: "muted", text: "none yet" })
        : h("span", null, fmtNum(s.best_loss, 6), " (", this.link("trial " + s.best_trial, trialURL(M.name, s.best_trial)), ")");
      const drivers = (s.drivers || []).map((dr) => dr.host + ":" + dr.pid + " (" + dr.running + " running)").join(", ");
      const live = this.report
        ? h("span", { id: "live", class: "report-line", text: "Report written " + fmtDate(this.report.written) + "; data embedded, not live" })
        : h("span", { id: "live", class: "live", text: "live, updated " + fmtClock(Date.now() / 1000) });
      const dl = h("dl", { class: "facts" });
      const fact = (k, v) => dl.append(h("dt", { text: k }), h("dd", null, v));
      fact("storage", M.storage || "");
      fact("algo", (M.algo || "") + (M.seed !== null && M.seed !== undefined ? ", seed " + M.seed : ""));
      fact("trials", h("span", null, String(s.total ?? M.cols.id.length), " ", stateList));
      if (M.several) {
        fact("objectives", Array.from({ length: M.d.k }, (_, j) => M.objectiveName(j)).join(", "));
        const n = s.front ?? M.front.size;
        fact("Pareto front", n ? n + " trial" + (n === 1 ? "" : "s") : h("span", { class: "muted", text: "none yet" }));
      } else {
        if (M.directions[0] === "maximize") fact("direction", "maximize (the best is the highest loss)");
        fact("best loss", best);
      }
      fact("drivers", drivers || "none live");
      if (s.stale) fact("stale", s.stale + " running trial(s) whose driver was last seen " + fmtAgo(s.stale_seen, now));
      fact("last activity", s.last_activity ? fmtAgo(s.last_activity, now) + " (" + fmtDate(s.last_activity) + ")" : "none");
      const nav = this.report ? null : h("nav", null, h("a", { href: "/", text: "← all studies" }));
      this.headerBox.replaceChildren(...[nav, h("h1", { text: M.name }), live, dl].filter(Boolean));
    }

    // ------------------------------------------------ the trial table

    columns() {
      const M = this.model, c = M.cols;
      const cols = [
        { key: "id", title: "id", get: (r) => c.id[r], cell: (r) => this.link(String(c.id[r]), trialURL(M.name, c.id[r])) },
        { key: "state", title: "state", get: (r) => c.state[r], cell: (r) => h("span", { class: "state " + c.state[r], text: c.state[r] }) },
        ...this.objectiveColumns(),
        { key: "duration", title: "duration", num: true,
          get: (r) => (c.finished[r] !== null && c.started[r] !== null ? c.finished[r] - c.started[r] : null),
          text: (r) => (c.finished[r] !== null && c.started[r] !== null ? fmtDuration(c.finished[r] - c.started[r]) : "") },
        { key: "started", title: "started", num: true, get: (r) => c.started[r], text: (r) => fmtDate(c.started[r]) },
      ];
      M.params.forEach((p) => {
        const col = c.params[p.label];
        const choice = Array.isArray(p.options);
        cols.push({ key: "p:" + p.label, title: p.label, num: !choice, get: (r) => col[r],
          text: (r) => (col[r] === null || col[r] === undefined ? "" : choice ? (p.options[col[r]] ?? String(col[r])) : fmtNum(col[r], 6)) });
      });
      for (const k of M.metricKeys) {
        const col = c.metrics[k];
        cols.push({ key: "m:" + k, title: k, get: (r) => col[r], text: (r) => display(col[r]) });
      }
      cols.push({ key: "error", title: "error", get: (r) => c.error[r], text: (r) => firstLine(c.error[r]), cls: "error-cell" });
      return cols;
    }

    // The loss, or a column per objective; with constraints, one per constraint and feasible.
    objectiveColumns() {
      const M = this.model, c = M.cols, d = M.d;
      if (!M.several && !d.constrained) {
        return [{ key: "loss", title: "loss", num: true, get: (r) => c.loss[r], text: (r) => fmtNum(c.loss[r], 6) }];
      }
      const cols = [];
      if (M.several) {
        for (let j = 0; j < d.k; j++) {
          const get = (r) => { const v = c.values[r]; return Array.isArray(v) && typeof v[j] === "number" ? v[j] : null; };
          cols.push({ key: "o:" + j, title: M.objectiveName(j), num: true, get, text: (r) => fmtNum(get(r), 6) });
        }
      } else cols.push({ key: "loss", title: "loss", num: true, get: (r) => c.loss[r], text: (r) => fmtNum(c.loss[r], 6) });
      let nc = 0;
      for (const cs of c.cons) if (Array.isArray(cs) && cs.length > nc) nc = cs.length;
      for (let j = 0; j < nc; j++) {
        const get = (r) => { const v = c.cons[r]; return Array.isArray(v) && typeof v[j] === "number" ? v[j] : null; };
        cols.push({ key: "c:" + j, title: "c[" + j + "]", num: true, get, text: (r) => fmtNum(get(r), 6) });
      }
      if (nc) {
        const get = (r) => (d.state[r] === OK && Array.isArray(c.cons[r]) && c.cons[r].length ? (d.viol[r] > 0 ? "no" : "yes") : null);
        cols.push({ key: "feasible", title: "feasible", get, text: (r) => get(r) || "" });
      }
      return cols;
    }

    buildTable(section) {
      const t = this.table;
      this.filterSel = h("select", { id: "state-filter", "aria-label": "filter by state",
        onchange: () => { t.filter = this.filterSel.value; t.page = 0; this.renderTable(); } });
      const btn = (name, label, fn) => h("button", { type: "button", "data-page": name, text: label, onclick: () => { fn(); this.renderTable(); } });
      this.pageInfo = h("span", { id: "page-info" });
      this.countInfo = h("span", { id: "trial-count" });
      this.pager = h("div", { class: "pager" },
        h("label", null, "state ", this.filterSel), " ",
        btn("first", "« first", () => { t.page = 0; }),
        btn("prev", "‹ previous", () => { t.page = Math.max(0, t.page - 1); }),
        this.pageInfo,
        btn("next", "next ›", () => { t.page += 1; }),
        btn("last", "last »", () => { t.page = 1e9; }),
        this.countInfo);
      this.thead = h("thead");
      this.tbody = h("tbody");
      this.tableEl = h("table", { id: "trials", class: "trials" }, this.thead, this.tbody);
      section.append(this.pager, h("div", { class: "table-wrap" }, this.tableEl));
    }

    sortedRows(cols) {
      const t = this.table, M = this.model, d = M.d;
      const key = M.version + "|" + t.sortCol + "|" + t.sortDir + "|" + t.filter;
      if (t.cache && t.cache.key === key) return t.cache.rows;
      const want = t.filter === "all" ? -1 : STATE_CODE[t.filter];
      let rows;
      if (want < 0) { rows = new Int32Array(d.n); for (let i = 0; i < d.n; i++) rows[i] = i; }
      else {
        let k = 0;
        for (let i = 0; i < d.n; i++) if (d.state[i] === want) k++;
        rows = new Int32Array(k); k = 0;
        for (let i = 0; i < d.n; i++) if (d.state[i] === want) rows[k++] = i;
      }
      const col = cols.find((c) => c.key === t.sortCol) || cols[0];
      const dir = t.sortDir;
      if (col.key === "id") { if (dir < 0) rows.reverse(); }
      else if (col.num) {
        const keys = new Float64Array(d.n);
        for (let j = 0; j < rows.length; j++) { const r = rows[j]; const v = col.get(r); keys[r] = v === null || v === undefined ? NaN : v; }
        rows.sort((a, b) => {
          const x = keys[a], y = keys[b];
          if (x !== x) return y !== y ? a - b : 1;
          if (y !== y) return -1;
          return (x - y) * dir || a - b;
        });
      } else {
        const keys = new Array(d.n);
        for (let j = 0; j < rows.length; j++) { const r = rows[j]; keys[r] = col.get(r); }
        const rank = (v) => (v === null || v === undefined ? 3 : typeof v === "number" || typeof v === "boolean" ? 0 : typeof v === "string" ? 1 : 2);
        rows.sort((a, b) => {
          const x = keys[a], y = keys[b], rx = rank(x), ry = rank(y);
          if (rx === 3 || ry === 3) return rx === ry ? a - b : rx === 3 ? 1 : -1;
          if (rx !== ry) return (rx - ry) * dir;
          let c;
          if (rx === 0) c = Number(x) - Number(y);
          else { const sx = rx === 1 ? x : JSON.stringify(x), sy = ry === 1 ? y : JSON.stringify(y); c = sx < sy ? -1 : sx > sy ? 1 : 0; }
          return c * dir || a - b;
        });
      }
      t.cache = { key, rows };
      return rows;
    }

    renderTable() {
      const t = this.table, M = this.model, d = M.d;
      const cols = this.columns();
      // the filter's options, with counts
      const counts = new Array(STATES.length).fill(0);
      for (let i = 0; i < d.n; i++) counts[d.state[i]]++;
      const opts = [h("option", { value: "all", text: "all (" + d.n + ")" })];
      STATES.forEach((s, i) => { if (counts[i] || t.filter === s) opts.push(h("option", { value: s, text: s + " (" + counts[i] + ")" })); });
      this.filterSel.replaceChildren(...opts);
      this.filterSel.value = t.filter;
      // header
      const tr = h("tr");
      for (const c of cols) {
        const active = c.key === t.sortCol;
        const th = h("th", { "data-col": c.key, class: (c.num ? "num " : "") + (active ? "sorted" : ""),
          "aria-sort": active ? (t.sortDir > 0 ? "ascending" : "descending") : null,
          title: "sort by " + c.title },
        c.title, active ? (t.sortDir > 0 ? " ▲" : " ▼") : "");
        th.addEventListener("click", () => {
          if (t.sortCol === c.key) t.sortDir = -t.sortDir; else { t.sortCol = c.key; t.sortDir = 1; }
          t.page = 0;
          this.renderTable();
        });
        tr.append(th);
      }
      this.thead.replaceChildren(tr);
      // the page of rows
      const rows = this.sortedRows(cols);
      const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
      t.page = Math.min(Math.max(0, t.page), pages - 1);
      const from = t.page * PAGE_ROWS, to = Math.min(rows.length, from + PAGE_ROWS);
      const body = [];
      for (let j = from; j < to; j++) {
        const r = rows[j];
        const row = h("tr", { "data-id": M.cols.id[r] });
        if (r === d.best) row.className = "best";
        else if (d.onFront[r]) row.className = "best front";
        for (const c of cols) {
          const td = h("td", c.num ? { class: "num" } : c.cls ? { class: c.cls } : null);
          if (c.cell) td.append(c.cell(r));
          else {
            const text = c.text(r);
            td.textContent = truncate(text, 120);
            if (text.length > 120) td.title = text;
          }
          row.append(td);
        }
        body.push(row);
      }
      if (!body.length) body.push(h("tr", null, h("td", { colspan: cols.length, class: "muted", text: "no trials" })));
      this.tbody.replaceChildren(...body);
      this.pageInfo.textContent = "page " + (t.page + 1) + " of " + pages;
      this.countInfo.textContent = rows.length === d.n ? d.n + " trials" : rows.length + " of " + d.n + " trials";
      for (const b of this.pager.querySelectorAll("button")) {
        const p = b.dataset.page;
        b.disabled = (p === "first" || p === "prev") ? t.page === 0 : t.page >= pages - 1;
      }
    }

    // ------------------------------------------------ live updates

    apply(change) {
      const M = this.model;
      change.trials = asColumns(change.trials);
      const changed = change.trials && change.trials.id && change.trials.id.length;
      const curvesChanged = change.curves && change.curves.trials && Object.keys(change.curves.trials).length;
      if (change.summary) M.summary = change.summary;
      if (Array.isArray(change.front)) M.front = new Set(change.front);
      if (change.cursor !== undefined) M.cursor = change.cursor;
      if (changed || curvesChanged) {
        M.merge(changed ? change.trials : null, change.curves, false);
        for (const c of this.charts) c.update();
        this.drawParallel();
        this.drawCurves();
        this.renderTable();
        if (this.paretoNote) this.paretoNote.textContent = this.paretoNoteText();
      }
      this.renderHeader();
      this.root.dataset.cursor = String(M.cursor);
    }
  }

  // ---------------------------------------------------------------- studies page

  function renderStudies(root, data) {
    const now = data.now || Date.now() / 1000;
    const rows = data.studies.map((s) => {
      if (s.error) { // a study that cannot be read: its name, and why
        return h("tr", { "data-study": s.name },
          h("td", null, h("a", { href: studyURL(s.name), text: s.name })),
          h("td", { colspan: 7, class: "error", text: s.error }));
      }
      const counts = h("span", { class: "counts" });
      for (const st of STATES) if (s.counts && s.counts[st]) counts.append(h("span", { class: "state " + st, text: st + " " + s.counts[st] }), " ");
      const several = Array.isArray(s.directions) && s.directions.length > 1;
      const best = several ? h("a", { href: studyURL(s.name), text: "front of " + (s.front || 0) })
        : s.best_trial === null || s.best_trial === undefined ? ""
        : h("a", { href: trialURL(s.name, s.best_trial), text: fmtNum(s.best_loss, 6) + " (trial " + s.best_trial + ")" });
      const drivers = (s.drivers || []).map((d) => d.host + ":" + d.pid + " (" + d.running + ")").join(", ");
      const stale = s.stale ? s.stale + " (driver last seen " + fmtAgo(s.stale_seen, now) + ")" : "0";
      return h("tr", { "data-study": s.name },
        h("td", null, h("a", { href: studyURL(s.name), text: s.name })),
        h("td", { text: s.algo || "" }),
        h("td", null, h("span", { class: "total", text: String(s.total) }), " ", counts),
        h("td", { class: "num" }, best),
        h("td", { class: "num", text: String(s.live || 0) }),
        h("td", { text: stale }),
        h("td", { text: drivers || "none" }),
        h("td", { text: fmtAgo(s.last_activity, now) }));
    });
    if (!rows.length) rows.push(h("tr", null, h("td", { colspan: 8, class: "muted", text: "no studies in this storage yet" })));
    return rows;
  }

  async function studiesPage(root) {
    document.title = "asynchpo dashboard";
    const storage = h("p", { class: "muted" });
    const live = h("span", { id: "live", class: "live" });
    const tbody = h("tbody");
    const head = h("tr");
    for (const t of ["study", "algo", "trials by state", "best loss", "running (live)", "stale", "live drivers", "last activity"]) head.append(h("th", { text: t }));
    root.append(h("section", { class: "header" }, h("h1", { text: "Studies" }), storage, live),
      h("section", { class: "panel" }, h("div", { class: "table-wrap" }, h("table", { id: "studies", class: "trials" }, h("thead", null, head), tbody))));
    let first = true;
    const load = async () => {
      try {
        const data = await getJSON("/api/studies");
        storage.textContent = data.storage || "";
        tbody.replaceChildren(...renderStudies(root, data));
        live.textContent = "live, updated " + fmtClock(Date.now() / 1000);
        clearError();
      } catch (e) {
        showError("Could not load the studies: " + e.message);
      }
      if (first) { first = false; document.body.dataset.ready = "1"; }
    };
    await load();
    poll(load, 2000);
  }

  // ---------------------------------------------------------------- study page (live)

  async function liveStudyPage(root, name) {
    if (name === null) { showError("No study named in the address (expected /study?name=...)"); return; }
    let page = null;
    const start = async () => {
      const payload = await getJSON("/api/study?name=" + encodeURIComponent(name));
      root.replaceChildren();
      page = new StudyPage(root, payload, null);
      root.dataset.cursor = String(payload.cursor);
    };
    try { await start(); clearError(); } catch (e) { showError("Could not load study " + JSON.stringify(name) + ": " + e.message); }
    markReady();
    poll(async () => {
      try {
        if (!page) { await start(); clearError(); return true; }
        const ch = await getJSON("/api/changes?name=" + encodeURIComponent(name) + "&since=" + encodeURIComponent(String(page.model.cursor)));
        if (ch.reset) { await start(); clearError(); return true; }
        page.apply(ch);
        clearError();
      } catch (e) {
        showError("Could not update: " + e.message);
      }
      return true;
    }, 1000);
  }

  // ---------------------------------------------------------------- trial page

  function jsonBlock(v) {
    if (v !== null && typeof v === "object") return h("pre", { class: "json", text: JSON.stringify(v, null, 2) });
    return h("span", { text: display(v) });
  }

  function renderTrial(root, t, reportsBox) {
    const kv = (obj) => {
      const dl = h("dl", { class: "facts" });
      for (const k of Object.keys(obj || {})) dl.append(h("dt", { text: k }), h("dd", null, jsonBlock(obj[k])));
      if (!Object.keys(obj || {}).length) dl.append(h("dd", { class: "muted", text: "none" }));
      return dl;
    };
    const facts = h("dl", { class: "facts" });
    const fact = (k, v) => facts.append(h("dt", { text: k }), h("dd", null, v));
    fact("state", h("span", { class: "state " + t.state, text: t.state }));
    if (Array.isArray(t.values) && t.values.length > 1) fact("values", t.values.map((v) => fmtNum(v, 8)).join(", "));
    else fact("loss", t.loss === null ? "" : fmtNum(t.loss, 8));
    if (Array.isArray(t.constraints) && t.constraints.length) {
      const ok = t.constraints.every((v) => typeof v === "number" && v <= 0);
      fact("constraints", t.constraints.map((v) => fmtNum(v, 8)).join(", ") + (ok ? " (feasible)" : " (infeasible)"));
    }
    fact("created", fmtDate(t.created));
    fact("started", fmtDate(t.started));
    fact("finished", fmtDate(t.finished));
    fact("duration", fmtDuration(t.duration));
    if (t.slot !== null && t.slot !== undefined) fact("slot", String(t.slot));
    if (t.driver !== null && t.driver !== undefined) fact("driver", String(t.driver));
    const sections = [
      h("nav", null, h("a", { href: studyURL(t.study), text: "← study " + t.study })),
      h("h1", null, "trial " + t.id + " ", h("span", { class: "muted", text: "of " + t.study })),
      h("section", { class: "panel" }, facts),
      h("section", { class: "panel" }, h("h2", { text: "Parameters" }), kv(t.params)),
      h("section", { class: "panel" }, h("h2", { text: "Result" }), t.result ? kv(t.result) : h("p", { class: "muted", text: "no result yet" })),
    ];
    if (t.error) sections.push(h("section", { class: "panel" }, h("h2", { text: "Error" }), h("pre", { class: "error", id: "trial-error", text: t.error })));
    const rep = h("section", { class: "panel" }, h("h2", { text: "Reports" }));
    if (t.reports && t.reports.length) {
      rep.append(reportsBox);
      const list = h("table", { class: "trials small" }, h("thead", null, h("tr", null, h("th", { text: "step" }), h("th", { text: "loss" }))));
      const tb = h("tbody");
      for (const [s, l] of t.reports.slice(-200)) tb.append(h("tr", null, h("td", { class: "num", text: display(s) }), h("td", { class: "num", text: display(l) })));
      list.append(tb);
      rep.append(h("details", null, h("summary", { text: t.reports.length + " reports" + (t.reports.length > 200 ? " (the last 200 listed)" : "") }), list));
    } else rep.append(h("p", { class: "muted", text: "this trial made no reports" }));
    sections.push(rep);
    const log = h("section", { class: "panel" }, h("h2", { text: "Log" }));
    if (t.log) {
      log.append(h("p", { class: "muted", text: t.log.path + " (" + t.log.size + " bytes" + (t.log.truncated ? ", the tail shown" : "") + ")" }),
        h("pre", { class: "log", id: "trial-log", text: t.log.tail }));
    } else log.append(h("p", { class: "muted", id: "trial-log-note", text: t.log_note || "no log" }));
    sections.push(log);
    root.replaceChildren(...sections);
    const pre = document.getElementById("trial-log");
    if (pre) pre.scrollTop = pre.scrollHeight; // a tail: its last lines in view
  }

  async function trialPage(root, study, id) {
    if (study === null || id === null) { showError("Expected /trial?study=...&id=..."); return; }
    document.title = "trial " + id + " · " + study + " · asynchpo";
    const box = h("div", { class: "chart", "data-chart": "reports" });
    let chart = null, data = null, first = true;
    const load = async () => {
      let again = true;
      try {
        const t = await getJSON("/api/trial?study=" + encodeURIComponent(study) + "&id=" + encodeURIComponent(id));
        data = (t.reports || []).filter((p) => typeof p[0] === "number" && typeof p[1] === "number").sort((a, b) => a[0] - b[0]);
        renderTrial(root, t, box);
        if (data.length) {
          const xs = data.map((p) => p[0]), ys = data.map((p) => p[1]);
          if (!chart) {
            chart = makeChart(box, {
              width: Math.min(700, Math.max(300, root.clientWidth - 40)), height: 200,
              x: { kind: "lin", label: "step", range: (a, b) => padRange(a, b, 0.02, false) },
              y: { kind: "lin", label: "loss", range: (a, b) => padRange(a, b, 0.05, false) },
              data: () => rangeData([Math.min(...xs), Math.max(...xs)], [Math.min(...ys), Math.max(...ys)]),
              draw(u, ctx) {
                ctx.strokeStyle = COLOR.ok; ctx.lineWidth = 2 * uPlot.pxRatio;
                ctx.beginPath();
                data.forEach(([s, l], k) => { const x = u.valToPos(s, "x", true), y = u.valToPos(l, "y", true); if (k) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
                ctx.stroke();
                return data.length;
              },
            });
          } else chart.update();
        }
        again = t.state === "queued" || t.state === "running";
        clearError();
      } catch (e) {
        showError("Could not load trial " + id + " of study " + JSON.stringify(study) + ": " + e.message);
      }
      if (first) { first = false; markReady(); }
      return again;
    };
    if (await load()) poll(load, 2000);
  }

  // ---------------------------------------------------------------- entry

  function markReady() {
    setTimeout(() => {
      mark("ready");
      document.body.dataset.ready = "1";
      document.body.dataset.renderMs = String(Math.round(performance.now() - T0));
      document.body.dataset.sinceNavigationMs = String(Math.round(performance.now()));
    }, 0);
  }

  function main() {
    const root = document.getElementById("app");
    errorBanner.el = h("div", { id: "error", role: "alert", class: "error-banner" });
    errorBanner.el.hidden = true;
    root.parentNode.insertBefore(errorBanner.el, root);
    const embedded = document.getElementById("asynchpo-data");
    if (embedded) {
      let data;
      mark("start");
      try { data = JSON.parse(embedded.textContent); } catch (e) { showError("The embedded data is damaged: " + e.message); return; }
      mark("parsed");
      new StudyPage(root, data.study, { written: data.written });
      markReady();
      return;
    }
    const q = new URLSearchParams(location.search);
    const path = location.pathname.replace(/\/+$/, "");
    if (path.endsWith("/study")) liveStudyPage(root, q.get("name"));
    else if (path.endsWith("/trial")) trialPage(root, q.get("study"), q.get("id"));
    else studiesPage(root);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", main);
  else main();
})();
