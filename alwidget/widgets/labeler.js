// alwidget labeling view (anywidget). Draws the clip's spectrogram with its context
// shaded, plays the audio from binary bytes (no network, no autoplay, no loop), lets
// the user drag an onset/offset region, and sends decisions to Python.
// Keys act only while this widget has focus and never reach JupyterLab.
// (MAPS, el, specView and clipPlayer come from spectrogram.js, prepended by Python.)

function render({ model, el: root }) {
  root.classList.add("alw-root");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // Lumino: no JupyterLab shortcuts here
  const head = el("div", "alw-head");
  const reason = el("div", "alw-reason");
  const pred = el("div", "alw-pred");
  const clip = el("div", "alw-clip");
  head.append(reason, pred, clip);
  const canvas = el("canvas", "alw-spec");
  canvas.width = 760; canvas.height = 260;
  const view = specView(model, canvas, { left: 52, right: 8, top: 6, bottom: 26 });
  const { tToX, xToT } = view;
  const controls = el("div", "alw-controls");
  const play = el("button", "alw-play", "▶ Play (Space)");
  const time = el("span", "alw-time", "0.00 s");
  const regionText = el("span", "alw-region", "drag on the spectrogram to mark an event");
  const cmap = el("select", "alw-cmap");
  for (const name of Object.keys(MAPS)) cmap.append(new Option(name, name));
  const range = el("input", "alw-range");
  range.type = "range"; range.min = 20; range.max = 100; range.step = 5;
  const rangeLabel = el("span", "alw-range-label");
  controls.append(play, time, regionText, cmap, range, rangeLabel);
  const bar = el("div", "alw-bar");
  const actions = el("div", "alw-actions");
  const mk = (label, title, action) => {
    const b = el("button", "alw-action", label);
    b.title = title;
    b.addEventListener("click", () => decide(action));
    return b;
  };
  actions.append(
    mk("Skip (S)", "skip this clip", { action: "skip" }),
    mk("Doubt (D)", "put in the Doubt class for a later round", { action: "doubt" }),
    mk("Undo (Z)", "take back the last decision", { action: "undo" }),
  );
  const status = el("div", "alw-status");
  const curve = el("canvas", "alw-curve");
  curve.width = 160; curve.height = 36;
  curve.title = "validation F1 against labels";
  const error = el("pre", "alw-error");
  const foot = el("div", "alw-foot");
  foot.append(status, curve);
  root.append(head, canvas, controls, bar, actions, foot, error);

  const player = clipPlayer(model, play, () => draw(), (text) => { error.textContent = text; });
  const audio = player.audio;
  let drag = null;

  function draw() {
    const ctx = canvas.getContext("2d");
    const g = view.g;
    view.drawImage(ctx);
    // the event region (relative to the clip start)
    const region = model.get("region");
    if (region && region.length === 2) {
      const ra = tToX(model.get("clip_offset_s") + region[0]);
      const rb = tToX(model.get("clip_offset_s") + region[1]);
      ctx.fillStyle = "rgba(255,80,80,0.25)"; ctx.fillRect(ra, g.y0, rb - ra, g.y1 - g.y0);
      ctx.strokeStyle = "#ff5050"; ctx.lineWidth = 2;
      ctx.strokeRect(ra, g.y0 + 1, rb - ra, g.y1 - g.y0 - 2);
    }
    view.drawAxes(ctx, audio.currentTime);
    const off = model.get("clip_offset_s");
    time.textContent = `${((audio.currentTime || 0) - off).toFixed(2)} s`;
  }

  // click to seek, drag to mark a region (edges of an existing region can be dragged)
  canvas.addEventListener("mousedown", (ev) => {
    const x = view.canvasX(ev);
    const t = xToT(x) - model.get("clip_offset_s");
    const region = model.get("region") || [];
    const near = (v) => region.length === 2 && Math.abs(tToX(v + model.get("clip_offset_s")) - x) < 6;
    if (near(region[0])) drag = { fixed: region[1], moved: false };
    else if (near(region[1])) drag = { fixed: region[0], moved: false };
    else drag = { fixed: t, moved: false, start: t };
    root.focus();
  });
  canvas.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const x = view.canvasX(ev);
    const t = xToT(x) - model.get("clip_offset_s");
    if (Math.abs(tToX(t + model.get("clip_offset_s")) - tToX(drag.fixed + model.get("clip_offset_s"))) > 3) {
      drag.moved = true;
      const dur = model.get("clip_duration_s");
      const lo = Math.max(0, Math.min(t, drag.fixed)), hi = Math.min(dur, Math.max(t, drag.fixed));
      model.set("region", hi > lo ? [lo, hi] : []);
      draw();
    }
  });
  const endDrag = (ev) => {
    if (!drag) return;
    if (!drag.moved && drag.start !== undefined) {
      audio.currentTime = Math.max(0, drag.start + model.get("clip_offset_s")); // seek
      draw();
    } else {
      model.save_changes();
      showRegion();
    }
    drag = null;
  };
  canvas.addEventListener("mouseup", endDrag);
  canvas.addEventListener("mouseleave", endDrag);

  function showRegion() {
    const r = model.get("region");
    regionText.textContent = r && r.length === 2
      ? `event ${r[0].toFixed(2)}–${r[1].toFixed(2)} s (Esc clears)`
      : "drag on the spectrogram to mark an event";
  }

  function decide(msg) {
    // every decision names the clip on screen: the kernel refuses it if that clip has gone
    audio.pause();
    const shown = (model.get("status") || {}).clip_id;
    model.send({ type: "decide", clip_id: shown === undefined ? null : shown, ...msg });
  }

  function buildButtons() {
    bar.replaceChildren();
    model.get("classes").forEach((name, i) => {
      const b = el("button", "alw-class", i < 9 ? `${i + 1} ${name}` : name);
      b.title = i < 9 ? `label as ${name} (key ${i + 1})` : `label as ${name}`;
      b.addEventListener("click", () => decide({ action: "label", label: name }));
      bar.append(b);
    });
  }

  root.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLSelectElement || ev.target instanceof HTMLInputElement) return;
    // a held key repeats: one press is one decision; Ctrl/Cmd/Alt keys belong to the browser
    if (ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const classes = model.get("classes");
    let handled = true;
    if (ev.key >= "1" && ev.key <= "9" && Number(ev.key) <= classes.length) {
      decide({ action: "label", label: classes[Number(ev.key) - 1] });
    } else if (ev.key === " ") player.toggle();
    else if (ev.key === "s" || ev.key === "S") decide({ action: "skip" });
    else if (ev.key === "d" || ev.key === "D") decide({ action: "doubt" });
    else if (ev.key === "z" || ev.key === "Z" || ev.key === "Backspace") decide({ action: "undo" });
    else if (ev.key === "Enter") decide({ action: "accept" });
    else if (ev.key === "Escape") { model.set("region", []); model.save_changes(); showRegion(); draw(); }
    else handled = false;
    if (handled) { ev.preventDefault(); ev.stopPropagation(); }
  });

  function showStatus() {
    const s = model.get("status") || {};
    reason.textContent = s.reason ? `Why this clip: ${s.reason}` : (s.done ? "Done: no clip left to label." : "");
    clip.textContent = s.clip_id !== undefined && s.clip_id !== null
      ? `clip ${s.clip_id} · ${String(s.path).split("/").pop()} at ${Number(s.start_s).toFixed(2)} s` : "";
    clip.dataset.clipId = s.clip_id ?? "";
    pred.textContent = s.predicted ? `Model: ${s.predicted} (${(100 * s.confidence).toFixed(0)} %)  · Enter accepts` : "";
    const parts = [`${s.n_labels ?? 0} labels`];
    if (s.positive_share !== undefined && s.positive_share !== null) parts.push(`${(100 * s.positive_share).toFixed(0)} % positive`);
    parts.push(`model v${s.model_version ?? 0}${s.features ? ` on ${s.features} features` : ""}`);
    if (s.last_retrain_ms !== undefined && s.last_retrain_ms !== null) parts.push(`last retrain ${s.last_retrain_ms.toFixed(0)} ms`);
    if (s.val_f1 !== undefined && s.val_f1 !== null) parts.push(`validation F1 ${s.val_f1.toFixed(2)}`);
    status.textContent = parts.join(" · ");
    drawCurve(s.curve || []);
    error.textContent = model.get("error") || "";
    root.classList.toggle("alw-busy", !!model.get("busy"));
  }

  function drawCurve(points) {
    const ctx = curve.getContext("2d");
    ctx.clearRect(0, 0, curve.width, curve.height);
    curve.style.display = points.length > 1 ? "" : "none";
    if (points.length < 2) return;
    const n0 = points[0][0], n1 = points[points.length - 1][0];
    ctx.strokeStyle = "#1976d2"; ctx.lineWidth = 1.5; ctx.beginPath();
    points.forEach(([n, f], i) => {
      const x = 2 + ((n - n0) / Math.max(n1 - n0, 1)) * (curve.width - 4);
      const y = curve.height - 2 - f * (curve.height - 4);
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
    });
    ctx.stroke();
  }

  model.on("change:spec change:colormap change:range_db change:spec_shape", () => { view.build(); draw(); });
  model.on("change:region", () => { showRegion(); draw(); });
  model.on("change:classes", buildButtons);
  model.on("change:status change:error change:busy", showStatus);
  cmap.value = model.get("colormap");
  cmap.addEventListener("change", () => { model.set("colormap", cmap.value); model.save_changes(); });
  range.value = model.get("range_db");
  rangeLabel.textContent = `${model.get("range_db")} dB`;
  range.addEventListener("input", () => {
    model.set("range_db", Number(range.value)); model.save_changes();
    rangeLabel.textContent = `${range.value} dB`;
  });

  buildButtons(); view.build(); player.load(); showRegion(); showStatus(); draw();
  return player.close;
}

export default { render };
