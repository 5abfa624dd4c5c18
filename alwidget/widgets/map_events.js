// The map's browser side, beside plotly's FigureWidget in the same .alw-map box.
//
// plotly's FigureWidget sends clicks, selections and every hover through one synced trait; while
// the kernel is busy, ipywidgets merges the pending changes of a trait, so the hovers that follow
// a lasso (the pointer never stops) overwrite the selection before it leaves the page: the points
// highlight and Python never hears of them. Here clicks and selections go to Python as messages of
// their own (never merged), the tooltip of a clip is drawn from arrays this widget holds (file,
// time in the file, node, status, label, P), the page's theme is reported to Python, and the plot
// gets a text alternative.

const NONE = 255;

function bytes(model, name) {
  const v = model.get(name);
  if (!v) return new Uint8Array(0);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function typed(model, name, Type) {  // a copy: the bytes may not be aligned for Type
  const b = bytes(model, name);
  return new Type(b.slice().buffer, 0, Math.floor(b.byteLength / Type.BYTES_PER_ELEMENT));
}

function seconds(s) {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60), rest = (s - 60 * m).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m % 60).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function render({ model, el }) {
  el.classList.add("alwm-events");
  const tip = document.createElement("div");
  tip.className = "alwm-tip";
  tip.setAttribute("role", "tooltip");
  tip.hidden = true;
  let gd = null, root = null, cache = null, alive = true;

  const data = () => {  // decoded once per change of the arrays
    if (!cache) {
      // a copy: patches change the page's copy, never the model's value (a redraw may send
      // the same bytes again, which ipywidgets would not resend)
      const state = bytes(model, "state").slice(), n = state.length / 4;
      cache = {
        file: typed(model, "file_of", Int32Array), start: typed(model, "start_of", Float32Array),
        length: typed(model, "length_of", Float32Array), n,
        status: state.subarray(0, n), label: state.subarray(n, 2 * n),
        predicted: state.subarray(2 * n, 3 * n), p: state.subarray(3 * n, 4 * n),
      };
    }
    return cache;
  };
  for (const name of ["state", "file_of", "start_of", "length_of"])
    model.on(`change:${name}`, () => { cache = null; });

  const line = (text, cls) => {
    const d = document.createElement("div");
    if (cls) d.className = cls;
    d.textContent = text;  // text, never HTML: file and class names come from users
    return d;
  };

  const describe = (i, clip) => {
    const d = data(), out = [];
    const files = model.get("files"), info = model.get("file_info");
    if (i < d.file.length) {
      const f = d.file[i];
      out.push(line(files[f] || "", "alwm-tip-file"));
      const a = d.start[i], b = a + d.length[i];
      const where = `${seconds(a)} – ${seconds(b)} in the file`;
      out.push(line(info[f] ? `${where} · ${info[f]}` : where));
    }
    if (i < d.n) {
      const status = model.get("status_names")[d.status[i]] || "";
      const labels = model.get("label_names");
      const human = d.label[i] === NONE ? "" : `: ${labels[d.label[i]]}`;
      out.push(line(`${status}${human}`, "alwm-tip-status"));
      if (d.p[i] === NONE) out.push(line("no model yet"));
      else {
        const guess = d.predicted[i] === NONE ? "" : ` · model says ${labels[d.predicted[i]]}`;
        out.push(line(`${model.get("p_name")} ${(d.p[i] / 250).toFixed(2)}${guess}`));
      }
    }
    out.push(line(`clip ${clip}`, "alwm-tip-clip"));
    return out;
  };

  const clipOf = (pt) => {
    const c = pt.customdata !== undefined ? pt.customdata
      : gd && gd._fullData && gd._fullData[0].customdata && gd._fullData[0].customdata[pt.pointNumber];
    return Number(c);
  };
  const mine = (e) => (e && e.points ? e.points.filter((pt) => pt.curveNumber === 0) : []);

  const hidden = (i) => { const d = data(); return i < d.n && model.get("status_names")[d.status[i]] === "outside"; };
  const onHover = (e) => {
    const pts = mine(e).filter((pt) => !hidden(pt.pointNumber));  // not drawn: no tooltip
    if (!pts.length || !root) { tip.hidden = true; return; }
    const pt = pts[0];
    tip.replaceChildren(...describe(pt.pointNumber, clipOf(pt)));
    tip.hidden = false;
    const r = root.getBoundingClientRect(), ev = e.event || {};
    const x = (ev.clientX ?? r.left) - r.left, y = (ev.clientY ?? r.top) - r.top;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = `${x + 14 + w > r.width ? Math.max(0, x - 14 - w) : x + 14}px`;
    tip.style.top = `${y + 14 + h > r.height ? Math.max(0, y - 14 - h) : y + 14}px`;
  };
  const onUnhover = () => { tip.hidden = true; };
  const onClick = (e) => {
    const pts = mine(e).filter((pt) => !hidden(pt.pointNumber));
    if (pts.length) model.send({ type: "click", clip: clipOf(pts[0]) });
  };
  const onSelected = (e) => {
    if (!e) return;  // plotly sends nothing when a click ends a selection mode
    const ids = Float64Array.from(mine(e), clipOf);
    model.send({ type: "select", n: ids.length }, undefined, [ids.buffer]);
  };
  const onDeselect = () => model.send({ type: "deselect" });
  const handlers = [["plotly_hover", onHover], ["plotly_unhover", onUnhover],
                    ["plotly_click", onClick], ["plotly_selected", onSelected],
                    ["plotly_deselect", onDeselect], ["plotly_afterplot", () => redraw()],
                    ["plotly_relayout", () => redraw()], ["plotly_relayouting", () => redraw()]];

  const label = () => { if (gd) gd.setAttribute("aria-label", model.get("summary")); };
  model.on("change:summary", label);

  // Drawn over the plot: the ring on the clip in the labeler and the points decisions changed
  // since the scatter was last redrawn (a redraw of 100,000 WebGL points takes seconds).
  const overlay = document.createElement("canvas");
  overlay.className = "alwm-overlay";
  overlay.setAttribute("aria-hidden", "true");
  const patched = new Map();  // row -> [css colour, size in px, size the scatter draws it at]
  let drawing = 0;
  const draw = () => {
    drawing = 0;
    if (!alive || !gd || !root || !gd._fullLayout || !gd._fullData || !gd._fullData[0]) return;
    const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, t = gd._fullData[0];
    if (!xa || !ya || !t.x || !t.y) return;
    if (overlay.parentNode !== root) root.appendChild(overlay);
    const g = gd.getBoundingClientRect(), r = root.getBoundingClientRect();
    const w = fl.width, h = fl.height, dpr = window.devicePixelRatio || 1;
    overlay.style.left = `${g.left - r.left}px`;
    overlay.style.top = `${g.top - r.top}px`;
    overlay.style.width = `${w}px`;
    overlay.style.height = `${h}px`;
    if (overlay.width !== Math.round(w * dpr) || overlay.height !== Math.round(h * dpr)) {
      overlay.width = Math.round(w * dpr);
      overlay.height = Math.round(h * dpr);
    }
    const ctx = overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.save();
    ctx.beginPath();
    ctx.rect(fl._size.l, fl._size.t, fl._size.w, fl._size.h);
    ctx.clip();
    const at = (row) => [xa._offset + xa.l2p(t.x[row]), ya._offset + ya.l2p(t.y[row])];
    // the scatter's own marker of a patched point is covered first (it may be larger)
    const paper = getComputedStyle(document.body).getPropertyValue("--jp-layout-color0").trim()
      || (model.get("theme") === "dark" ? "#111111" : "#ffffff");
    ctx.fillStyle = paper;
    for (const [row, [, , under]] of patched) {
      if (row >= t.x.length) continue;
      const [x, y] = at(row);
      ctx.beginPath();
      ctx.arc(x, y, under / 2 + 1, 0, 2 * Math.PI);
      ctx.fill();
    }
    for (const [row, [color, size]] of patched) {  // opaque, on their cover
      if (row >= t.x.length || !size) continue;
      const [x, y] = at(row);
      ctx.beginPath();
      ctx.arc(x, y, Math.max(1, size / 2), 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
    }
    const ring = model.get("ring_row");
    const color = model.get("theme") === "dark" ? "#ffffff" : "#000000";
    if (ring >= 0 && ring < t.x.length) {
      const [x, y] = at(ring);
      ctx.beginPath();
      ctx.arc(x, y, 10, 0, 2 * Math.PI);
      ctx.lineWidth = 3;
      ctx.strokeStyle = color;
      ctx.stroke();
      overlay.dataset.ring = String(clipOf({ pointNumber: ring }));
      overlay.dataset.ringXy = `${x.toFixed(1)},${y.toFixed(1)}`;
      overlay.dataset.ringColor = color;
      overlay.title = model.get("ring_label");
    } else {
      delete overlay.dataset.ring;
      delete overlay.dataset.ringXy;
    }
    ctx.restore();
    overlay.dataset.points = String(patched.size);
  };
  const redraw = () => { if (!drawing) drawing = requestAnimationFrame(draw); };
  for (const name of ["ring_row", "theme"]) model.on(`change:${name}`, redraw);

  const array = (b, Type) => {  // a copy: the buffer may not be aligned for Type
    const u = b instanceof ArrayBuffer ? new Uint8Array(b) : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return new Type(u.slice().buffer);
  };
  model.on("msg:custom", (msg, buffers) => {
    if (!msg) return;
    if (msg.type === "clear") { patched.clear(); cache = null; redraw(); return; }
    if (msg.type === "tips") { cache = null; return; }  // every tooltip sent anew
    if (msg.type !== "patch" || !buffers || buffers.length < 4) return;
    const rows = array(buffers[0], Int32Array), sizes = array(buffers[1], Uint8Array);
    const under = array(buffers[2], Uint8Array), state = array(buffers[3], Uint8Array);
    const k = rows.length, d = data();
    for (let i = 0; i < k; i++) {
      const row = rows[i];
      patched.set(row, [msg.colors[i], sizes[i], under[i]]);
      if (row < d.n) {  // the tooltip says what the point shows
        d.status[row] = state[i]; d.label[row] = state[k + i];
        d.predicted[row] = state[2 * k + i]; d.p[row] = state[3 * k + i];
      }
    }
    redraw();
  });

  // plotly's Plotly.newPlot drops every listener of the plot: (re)attach after each render
  const attach = (plot) => {
    if (!alive || !plot || typeof plot.on !== "function") return false;
    if (gd && gd !== plot) for (const [name, fn] of handlers) gd.removeListener(name, fn);
    gd = plot;
    for (const [name, fn] of handlers) { gd.removeListener(name, fn); gd.on(name, fn); }
    gd.setAttribute("role", "figure");
    label();
    if (tip.parentNode !== root) root.appendChild(tip);
    sizes.disconnect();
    sizes.observe(root);
    fit();
    redraw();
    return true;
  };
  // plotly sizes the plot when it is first drawn (700 px, before the box has its width) and the
  // FigureWidget does not follow its box: when the two disagree, plotly autosizes the plot again
  const fit = () => {
    const w = gd && gd._fullLayout ? gd.getBoundingClientRect().width : 0;
    if (!(w > 0 && Math.abs(w - gd._fullLayout.width) > 2)) return;
    const plotly = window.Plotly;
    if (plotly && plotly.Plots && plotly.Plots.resize) plotly.Plots.resize(gd).catch(() => {});
    else window.dispatchEvent(new Event("resize"));
  };
  const sizes = new ResizeObserver(() => requestAnimationFrame(() => { fit(); redraw(); }));
  const find = () => {
    root = el.closest(".alw-map");
    const plot = root && root.querySelector(".js-plotly-plot");
    return plot && plot.data && plot.data.length ? plot : null;  // rendered, not the placeholder
  };
  const onRender = (ev) => {
    const r = el.closest(".alw-map");
    if (r && ev.detail && r.contains(ev.detail.element)) { root = r; attach(ev.detail.element); }
  };
  document.addEventListener("plotlywidget-after-render", onRender);
  let tries = 0;
  const poll = () => {  // the plot may have rendered before this view was attached
    if (!alive || attach(find())) return;
    if (tries++ < 600) requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);

  // the page's theme (JupyterLab sets data-jp-theme-light on <body>)
  const theme = () => {
    const light = document.body.getAttribute("data-jp-theme-light");
    const now = light === "false" ? "dark" : "light";
    if (model.get("theme") !== now) { model.set("theme", now); model.save_changes(); }
  };
  const watcher = new MutationObserver(theme);
  watcher.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
  theme();
  model.send({ type: "view" });  // a new view shows no patch: the kernel redraws if it sent some

  return () => {
    alive = false;
    if (drawing) cancelAnimationFrame(drawing);
    overlay.remove();
    watcher.disconnect();
    sizes.disconnect();
    document.removeEventListener("plotlywidget-after-render", onRender);
    if (gd) for (const [name, fn] of handlers) gd.removeListener(name, fn);
    tip.remove();
  };
}

export default { render };
