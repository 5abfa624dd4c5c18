// alwidget labeling view (anywidget). Draws the clip's spectrogram with its context
// shaded, plays the audio from binary bytes (no network, no autoplay, no loop), lets
// the user drag an onset/offset region, and sends decisions to Python.
// Keys act only while this widget has focus and never reach JupyterLab.
// (MAPS, lut, bytesOf, el and setAudioBytes come from spectrogram.js, prepended by Python.)

function render({ model, el: root }) {
  root.classList.add("alw-root");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // Lumino: no JupyterLab shortcuts here
  const PAD = { left: 52, right: 8, top: 6, bottom: 26 };
  const W = 760, H = 260;

  const head = el("div", "alw-head");
  const reason = el("div", "alw-reason");
  const pred = el("div", "alw-pred");
  const clip = el("div", "alw-clip");
  head.append(reason, pred, clip);
  const canvas = el("canvas", "alw-spec");
  canvas.width = W; canvas.height = H;
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

  const audio = new Audio();
  audio.preload = "auto";
  audio.loop = false;
  audio.autoplay = false;
  let url = null, image = null, drag = null;

  function geometry() {
    return { x0: PAD.left, x1: W - PAD.right, y0: PAD.top, y1: H - PAD.bottom };
  }
  function tToX(t) {
    const g = geometry();
    return g.x0 + (t / Math.max(model.get("window_s"), 1e-9)) * (g.x1 - g.x0);
  }
  function xToT(x) {
    const g = geometry();
    const t = ((x - g.x0) / (g.x1 - g.x0)) * model.get("window_s");
    return Math.min(Math.max(t, 0), model.get("window_s"));
  }

  function buildImage() {
    const [rows, cols] = model.get("spec_shape");
    const data = bytesOf(model.get("spec"));
    if (!rows || !cols || data.length < rows * cols) { image = null; return; }
    const map = lut(model.get("colormap"));
    const span = model.get("db_span"), shown = model.get("range_db");
    const floor = 255 * (1 - Math.min(shown, span) / span);
    const off = document.createElement("canvas");
    off.width = cols; off.height = rows;
    const ctx = off.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = data[r * cols + c];
        const k = Math.max(0, Math.min(255, Math.round(((v - floor) / (255 - floor)) * 255)));
        const o = ((rows - 1 - r) * cols + c) * 4; // low frequencies at the bottom
        img.data[o] = map[k * 3]; img.data[o + 1] = map[k * 3 + 1]; img.data[o + 2] = map[k * 3 + 2];
        img.data[o + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    image = off;
  }

  function melToHz(m) { return 700 * (Math.pow(10, m / 2595) - 1); }
  function hzToMel(f) { return 2595 * Math.log10(1 + f / 700); }

  function draw() {
    const ctx = canvas.getContext("2d");
    const g = geometry();
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#111"; ctx.fillRect(g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0);
    if (image) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(image, g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0);
    }
    // context before and after the clip, shaded
    const a = tToX(model.get("clip_offset_s"));
    const b = tToX(model.get("clip_offset_s") + model.get("clip_duration_s"));
    ctx.fillStyle = "rgba(255,255,255,0.45)";
    ctx.fillRect(g.x0, g.y0, a - g.x0, g.y1 - g.y0);
    ctx.fillRect(b, g.y0, g.x1 - b, g.y1 - g.y0);
    // the event region (relative to the clip start)
    const region = model.get("region");
    if (region && region.length === 2) {
      const ra = tToX(model.get("clip_offset_s") + region[0]);
      const rb = tToX(model.get("clip_offset_s") + region[1]);
      ctx.fillStyle = "rgba(255,80,80,0.25)"; ctx.fillRect(ra, g.y0, rb - ra, g.y1 - g.y0);
      ctx.strokeStyle = "#ff5050"; ctx.lineWidth = 2;
      ctx.strokeRect(ra, g.y0 + 1, rb - ra, g.y1 - g.y0 - 2);
    }
    // playhead
    const px = tToX(audio.currentTime || 0);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(px, g.y0); ctx.lineTo(px, g.y1); ctx.stroke();
    // axes: time relative to the clip start, frequency in Hz on the mel scale
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    const win = model.get("window_s"), off = model.get("clip_offset_s");
    const step = win > 20 ? 5 : win > 8 ? 2 : win > 3 ? 1 : 0.5;
    for (let t = Math.ceil(-off / step) * step; t <= win - off + 1e-9; t += step) {
      const x = tToX(t + off);
      ctx.fillRect(x, g.y1, 1, 4);
      ctx.fillText(`${+t.toFixed(2)} s`, x, g.y1 + 15);
    }
    ctx.textAlign = "right";
    const mlo = hzToMel(model.get("fmin")), mhi = hzToMel(model.get("fmax"));
    for (const f of [100, 250, 500, 1000, 2000, 4000, 8000, 16000]) {
      if (f < model.get("fmin") || f > model.get("fmax")) continue;
      const y = g.y1 - ((hzToMel(f) - mlo) / (mhi - mlo)) * (g.y1 - g.y0);
      ctx.fillRect(g.x0 - 4, y, 4, 1);
      ctx.fillText(f >= 1000 ? `${f / 1000} kHz` : `${f} Hz`, g.x0 - 6, y + 4);
    }
    time.textContent = `${((audio.currentTime || 0) - off).toFixed(2)} s`;
  }

  function loop() {
    draw();
    if (!audio.paused) requestAnimationFrame(loop);
  }

  function loadAudio() {
    url = setAudioBytes(audio, model.get("audio"), url);
    audio.currentTime = 0;
    play.textContent = "▶ Play (Space)";
    if (url && model.get("autoplay")) togglePlay();
  }

  function togglePlay() {
    if (!url) return;
    if (audio.paused) {
      audio.play().catch((e) => { error.textContent = `cannot play: ${e}`; });
    } else {
      audio.pause();
    }
  }
  audio.addEventListener("play", () => { play.textContent = "⏸ Pause (Space)"; loop(); });
  audio.addEventListener("pause", () => { play.textContent = "▶ Play (Space)"; draw(); });
  audio.addEventListener("ended", () => { play.textContent = "▶ Play (Space)"; draw(); });
  play.addEventListener("click", togglePlay);

  // click to seek, drag to mark a region (edges of an existing region can be dragged)
  canvas.addEventListener("mousedown", (ev) => {
    const x = ev.offsetX * (W / canvas.clientWidth);
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
    const x = ev.offsetX * (W / canvas.clientWidth);
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
    } else if (ev.key === " ") togglePlay();
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

  model.on("change:audio", loadAudio);
  model.on("change:play_request", () => {
    if (!url) return;
    audio.currentTime = 0;
    audio.play().catch((e) => { error.textContent = `cannot play: ${e}`; });
  });
  model.on("change:spec change:colormap change:range_db change:spec_shape", () => { buildImage(); draw(); });
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

  buildButtons(); buildImage(); loadAudio(); showRegion(); showStatus(); draw();
  return () => { audio.pause(); if (url) URL.revokeObjectURL(url); };
}

export default { render };
