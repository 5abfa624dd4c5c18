// alwidget labeling view (anywidget). Draws the clip's spectrogram with its context
// shaded, plays the audio from binary bytes (no network, no autoplay), with listening tools
// (speed, pitch, loop, gain, clip only, time zoom, frequency range), lets the user mark an
// onset/offset region (mouse, or [ and ] at the playhead), and sends decisions to Python.
// Keys act only while this widget has focus, and no plain key pressed in it reaches
// JupyterLab. What happened is said in an aria-live line. Performance marks for the latency
// benchmark: "alwidget:key" (a decision key), "alwidget:painted" (the next clip's spectrogram
// on screen; detail.ahead: shown from what the kernel sent while the expert listened),
// "alwidget:audio-ready" (its audio can play); the root's data-clip-id is the clip painted,
// its data-ahead the number of answers whose next clip is held here. (MAPS, el, icon, fmtHz, specView and clipPlayer come from spectrogram.js,
// prepended by Python.)

const RATES = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2];
const KEYS = [
  ["1–9", "label with that class"], ["Enter", "accept the model's prediction (when it is confident)"],
  ["S", "skip"], ["D", "Doubt: decide in a later round"], ["Z / Backspace", "undo"],
  ["Space", "play / pause"], ["C", "play the clip only / with its context"], ["L", "loop on / off"],
  [", / .", "slower / faster (0.25×–2×)"], ["P", "keep the pitch at other speeds"],
  ["← / →", "move the playhead 0.1 s (Shift: 1 s)"], ["[ / ]", "event start / end at the playhead"],
  ["Esc", "clear the event (or close this list)"], ["+ / − / 0", "zoom in / out / whole window"],
  ["?", "show / hide this list"],
];

function render({ model, el: root }) {
  root.classList.add("alw-root");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // Lumino: no JupyterLab shortcuts here
  root.setAttribute("role", "group");
  root.setAttribute("aria-label", "Labeler: focus it to label with keys; ? lists the keys");
  const mark = (name, detail) => { try { performance.mark(name, { detail }); } catch (e) { /* old browser */ } };
  const clipId = () => (model.get("status") || {}).clip_id ?? null;

  const head = el("div", "alw-head");
  const reason = el("div", "alw-reason");
  const clip = el("div", "alw-clip");
  head.append(reason, clip);
  const hint = el("div", "alw-focus-hint");
  hint.append(el("span", "alw-keys-off", "Keys go to the notebook: click here to label with keys"),
    el("span", "alw-keys-on", "Keys on: 1–9 label · ? lists every key"));
  const pred = el("div", "alw-pred");
  const line = el("div", "alw-line"); // the model's word, and where the keys go
  line.append(pred, hint);
  const canvas = el("canvas", "alw-spec");
  canvas.width = 760; canvas.height = 260;
  canvas.setAttribute("role", "img");
  const view = specView(model, canvas, { left: 52, right: 8, top: 6, bottom: 26 });

  const field = (text, input, cls) => { const l = el("label", cls || "alw-field", text); l.append(input); return l; };
  const check = (text, cls) => {
    const c = el("input", cls), l = el("label", "alw-check");
    c.type = "checkbox"; l.append(c, ` ${text}`);
    return [c, l];
  };
  // a click on a button leaves the keys with the labeler (Space then plays, not clicks again)
  const keepFocus = (b) => b.addEventListener("mousedown", (ev) => { ev.preventDefault(); root.focus({ preventScroll: true }); });
  const button = (text, cls, title, fn) => {
    const b = el("button", cls, text);
    b.title = title;
    keepFocus(b);
    b.addEventListener("click", fn);
    return b;
  };
  // listening: play, speed, pitch, loop, clip only, gain
  const listen = el("div", "alw-controls alw-listen");
  const play = el("button", "alw-play", "Play (Space)");
  keepFocus(play);
  const time = el("span", "alw-time", "0.00 s");
  const regionText = el("span", "alw-region", "");
  const rate = el("select", "alw-rate");
  for (const r of RATES) rate.append(new Option(`${r}×`, String(r)));
  const [pitch, pitchLabel] = check("keep pitch", "alw-pitch");
  const [loop, loopLabel] = check("loop", "alw-loop");
  const [context, contextLabel] = check("with context", "alw-context");
  const gain = el("input", "alw-gain");
  gain.type = "range"; gain.min = 0; gain.max = 4; gain.step = 0.25;
  const gainText = el("span", "alw-gain-text");
  listen.append(play, time, field("Speed ", rate), pitchLabel, loopLabel, contextLabel,
    field("Gain ", gain), gainText);
  // the view: time zoom, frequency range, colours
  const look = el("div", "alw-controls alw-look");
  const zoomIn = button("Zoom +", "alw-zoom-in", "zoom in on the playhead (+)", () => zoom(0.5));
  const zoomOut = button("Zoom −", "alw-zoom-out", "zoom out (−)", () => zoom(2));
  const whole = button("Whole", "alw-zoom-whole", "the whole window (0)", () => zoom(0));
  const fLo = el("input", "alw-fmin"), fHi = el("input", "alw-fmax");
  for (const f of [fLo, fHi]) { f.type = "number"; f.min = 0; f.step = 50; }
  const band = button("Model's band", "alw-band", "show the frequencies the model's features hear",
    () => setFreq([model.get("feature_band").fmin, model.get("feature_band").fmax]));
  const allFreq = button("All Hz", "alw-all-freq", "show every frequency", () => setFreq([]));
  const cmap = el("select", "alw-cmap");
  for (const name of Object.keys(MAPS)) cmap.append(new Option(name, name));
  const range = el("input", "alw-range");
  range.type = "range"; range.min = 20; range.max = 100; range.step = 5;
  const rangeLabel = el("span", "alw-range-label");
  look.append(zoomOut, zoomIn, whole, field("Hz from ", fLo), field("to ", fHi), band, allFreq);

  const actions = el("div", "alw-actions");
  const bar = el("span", "alw-bar"); // a button per class, then the other decisions
  const legendBtn = button("Keys (?)", "alw-legend-btn", "show every key", () => toggleLegend());
  legendBtn.setAttribute("aria-expanded", "false");
  actions.append(bar,
    button("Skip (S)", "alw-action", "skip this clip", () => decide({ action: "skip" })),
    button("Doubt (D)", "alw-action", "put in the Doubt class for a later round", () => decide({ action: "doubt" })),
    button("Undo (Z)", "alw-action", "take back the last decision", () => decide({ action: "undo" })),
    legendBtn);
  const live = el("div", "alw-live");
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  const progress = el("div", "alw-progress");
  const track = el("div", "alw-track"), fill = el("div", "alw-fill");
  track.setAttribute("role", "progressbar");
  track.setAttribute("aria-valuemin", "0");
  track.append(fill);
  const progText = el("span", "alw-progress-text");
  const target = el("input", "alw-target");
  target.type = "number"; target.min = 1; target.step = 10;
  const counts = el("span", "alw-counts");
  progress.append(track, progText, field("target ", target), counts);
  const status = el("div", "alw-status");
  const curve = el("canvas", "alw-curve");
  curve.width = 240; curve.height = 72;
  curve.setAttribute("role", "img");
  // what is shown (and what the model hears), with the colours: a line, open for more
  const display = el("details", "alw-display");
  const shownText = el("summary", "alw-shown");
  keepFocus(shownText);
  const note = el("div", "alw-note");
  const colours = el("div", "alw-controls");
  colours.append(field("Colours ", cmap), field("Range ", range), rangeLabel);
  display.append(shownText, note, colours);
  const foot = el("div", "alw-foot");
  const info = el("div", "alw-info");
  info.append(progress, status, display);
  foot.append(info, curve);
  const legend = el("dl", "alw-legend");
  legend.hidden = true;
  legend.setAttribute("aria-label", "keys");
  for (const [k, what] of KEYS) legend.append(el("dt", "", k), el("dd", "", what));
  const error = el("pre", "alw-error");
  error.setAttribute("role", "alert");
  root.append(head, line, canvas, listen, regionText, look, actions, live, foot, legend, error);

  const player = clipPlayer(model, play, () => draw(), (text) => { error.textContent = text; },
    () => mark("alwidget:audio-ready", { clip_id: clipId() }));
  player.audio.classList.add("alw-audio");
  root.append(player.audio); // (no controls: not shown) for tests and tools to find
  let drag = null, zoomSpan = null, shownClip = null, needBuild = true, scheduled = false, prebuilt = null;
  const say = (text) => { live.textContent = text; };
  // a setting changed here, told to the kernel by a message (it sets and checks its trait);
  // the model's state is never sent back from here (save_changes), as the clip shown ahead of
  // the kernel's update (showAhead) is set on the model here and only there
  const tell = (name, value) => model.send({ type: "set", name, value });
  const save = (name, value) => { model.set(name, value); tell(name, value); };
  const off = () => model.get("clip_offset_s");
  const playhead = () => Math.min(Math.max((player.audio.currentTime || 0) - off(), 0), model.get("clip_duration_s"));

  function draw() {
    const ctx = canvas.getContext("2d");
    const g = view.g;
    if (zoomSpan && !player.audio.paused) { // follow the playhead
      const [t0, t1] = view.time();
      if (player.audio.currentTime > t1 || player.audio.currentTime < t0) view.setTime([player.audio.currentTime, player.audio.currentTime + zoomSpan]);
    }
    view.drawImage(ctx);
    const fb = model.get("feature_band") || {};
    if (fb.fmax && fb.fmax < view.freq()[1]) { // above what the model hears: hatched, said
      const y = view.fToY(fb.fmax);
      ctx.fillStyle = "rgba(0,0,0,0.35)"; ctx.fillRect(g.x0, g.y0, g.x1 - g.x0, y - g.y0);
      ctx.strokeStyle = "#ffb74d"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(g.x0, y); ctx.lineTo(g.x1, y); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = "#ffb74d"; ctx.font = "11px sans-serif"; ctx.textAlign = "right";
      ctx.fillText(`model's features stop at ${fmtHz(fb.fmax)}`, g.x1 - 4, y - 4);
    }
    const region = model.get("region");
    if (region && region.length === 2) { // the event region (relative to the clip start)
      const ra = view.tToX(off() + region[0]), rb = view.tToX(off() + region[1]);
      ctx.fillStyle = "rgba(255,80,80,0.25)"; ctx.fillRect(ra, g.y0, rb - ra, g.y1 - g.y0);
      ctx.strokeStyle = "#ff5050"; ctx.lineWidth = 2;
      ctx.strokeRect(ra, g.y0 + 1, rb - ra, g.y1 - g.y0 - 2);
    }
    view.drawAxes(ctx, player.audio.currentTime);
    time.textContent = `${((player.audio.currentTime || 0) - off()).toFixed(2)} s`;
  }

  // click to seek, drag to mark a region (edges of an existing region can be dragged)
  canvas.addEventListener("mousedown", (ev) => {
    const x = view.canvasX(ev);
    const t = view.xToT(x) - off();
    const region = model.get("region") || [];
    const near = (v) => region.length === 2 && Math.abs(view.tToX(v + off()) - x) < 6;
    if (near(region[0])) drag = { fixed: region[1], moved: false };
    else if (near(region[1])) drag = { fixed: region[0], moved: false };
    else drag = { fixed: t, moved: false, start: t };
    root.focus({ preventScroll: true });
  });
  canvas.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const x = view.canvasX(ev);
    const t = view.xToT(x) - off();
    if (Math.abs(view.tToX(t + off()) - view.tToX(drag.fixed + off())) > 3) {
      drag.moved = true;
      const dur = model.get("clip_duration_s");
      const lo = Math.max(0, Math.min(t, drag.fixed)), hi = Math.min(dur, Math.max(t, drag.fixed));
      model.set("region", hi > lo ? [lo, hi] : []);
      draw();
    }
  });
  const endDrag = () => {
    if (!drag) return;
    if (!drag.moved && drag.start !== undefined) {
      player.audio.currentTime = Math.max(0, drag.start + off()); // seek
      draw();
    } else {
      tell("region", model.get("region"));
      showRegion(true);
    }
    drag = null;
  };
  canvas.addEventListener("mouseup", endDrag);
  canvas.addEventListener("mouseleave", endDrag);

  function setRegion(r) {
    save("region", r);
    showRegion(true); draw();
  }
  function regionEdge(which) { // [ and ]: the event's start or end at the playhead
    const t = playhead(), dur = model.get("clip_duration_s"), r = model.get("region") || [];
    let [a, b] = r.length === 2 ? r : [0, dur];
    if (which === 0) { a = t; if (b <= a) b = dur; } else { b = t; if (a >= b) a = 0; }
    if (b > a) setRegion([a, b]); else say("the playhead is at the clip's edge: move it (← →) first");
  }
  function showRegion(announce) {
    const r = model.get("region");
    regionText.textContent = r && r.length === 2
      ? `event ${r[0].toFixed(2)}–${r[1].toFixed(2)} s (Esc clears)`
      : "drag on the spectrogram (or [ and ] at the playhead) to mark an event";
    if (announce) say(r && r.length === 2 ? `Event marked: ${r[0].toFixed(2)}–${r[1].toFixed(2)} s of the clip` : "Event cleared");
    describeCanvas();
  }

  function decide(msg) {
    // every decision names the clip on screen: the kernel refuses it if that clip has gone.
    // A clip shown ahead takes no decision before the kernel has stored the last one (a
    // double press must not label a clip nobody saw)
    if (pendingAhead !== null) { // (counted on the root for tests and tools)
      root.dataset.refused = String(Number(root.dataset.refused || 0) + 1);
      say("Storing the last answer: press again");
      return;
    }
    player.audio.pause();
    const a = ahead.get(answerKey(msg));
    const shows = a && a.sound && a.msg.after === clipId() && !(model.get("status") || {}).chosen ? a : null;
    model.send({ type: "decide", clip_id: clipId(), shows: shows ? shows.msg.status.clip_id : null, ...msg });
    if (shows) showAhead(shows);
  }

  // The next clip after each likely answer, sent by the kernel while the expert listens, its
  // image made and its audio loaded here: shown at the key press, while the kernel stores the
  // answer (the kernel's update then names the same clip, or corrects what is shown).
  const ahead = new Map();
  const answerKey = (m) => {
    if (m.action === "accept") { const s = model.get("status") || {}; return s.confident ? `label:${s.predicted}` : "accept"; }
    return m.action === "label" ? `label:${m.label}` : m.action;
  };
  let shownAhead = null; // the clip shown from what was sent ahead (for the marks)
  let pendingAhead = null; // ... until the kernel has stored the answer (its message says so)
  const stored = () => { pendingAhead = null; };
  model.on("change:message", stored);
  model.on("change:busy", () => { if (!model.get("busy")) stored(); });
  const counted = () => { root.dataset.ahead = String(ahead.size); };
  function clearAhead(keep) {
    for (const a of ahead.values()) if (a !== keep) player.discard(a.sound);
    ahead.clear(); counted();
  }
  model.on("msg:custom", (msg, buffers) => {
    if (!msg || msg.type !== "upcoming") return;
    if (msg.after !== clipId()) return; // planned for a clip no longer shown
    const k = answerKey(msg), old = ahead.get(k);
    if (old) player.discard(old.sound);
    ahead.set(k, { msg, audio: buffers[0], spec: buffers[1], image: view.prepare(msg.traits, buffers[1]),
      sound: player.prepare(buffers[0]) });
    counted();
  });
  function showAhead(a) {
    clearAhead(a);
    shownAhead = pendingAhead = a.msg.status.clip_id;
    for (const [k, v] of Object.entries(a.msg.traits)) model.set(k, v);
    model.set("spec", a.spec);
    prebuilt = a.image;
    model.set("region", []);
    model.set("status", { ...(model.get("status") || {}), ...a.msg.status });
    player.adopt(a.sound); // the clip's traits set: it plays and marks this clip
    model.set("audio", a.audio); // (the player keeps the element it adopted)
  }

  function buildButtons() {
    bar.replaceChildren();
    model.get("classes").forEach((name, i) => {
      bar.append(button(i < 9 ? `${i + 1} ${name}` : name, "alw-class",
        i < 9 ? `label as ${name} (key ${i + 1})` : `label as ${name}`,
        () => decide({ action: "label", label: name })));
    });
  }

  // -- listening and the view -------------------------------------------------------------
  function clipRange() { const o = off(); return [o, o + model.get("clip_duration_s")]; }
  function applyListening() {
    player.set({ rate: model.get("playback_rate"), pitch: model.get("preserve_pitch"),
      loop: model.get("loop"), gain: model.get("gain"),
      range: model.get("play_context") ? null : clipRange });
    const r = String(model.get("playback_rate"));
    if (![...rate.options].some((o) => o.value === r)) rate.append(new Option(`${r}×`, r)); // set in Python
    rate.value = r;
    pitch.checked = model.get("preserve_pitch"); loop.checked = model.get("loop");
    context.checked = model.get("play_context");
    gain.value = model.get("gain");
    gainText.textContent = `×${Number(model.get("gain")).toFixed(2)}`;
  }
  rate.addEventListener("change", () => save("playback_rate", Number(rate.value)));
  pitch.addEventListener("change", () => save("preserve_pitch", pitch.checked));
  loop.addEventListener("change", () => save("loop", loop.checked));
  context.addEventListener("change", () => save("play_context", context.checked));
  gain.addEventListener("input", () => save("gain", Number(gain.value)));
  function stepRate(dir) {
    const i = RATES.indexOf(model.get("playback_rate"));
    const j = Math.min(Math.max((i < 0 ? RATES.indexOf(1) : i) + dir, 0), RATES.length - 1);
    save("playback_rate", RATES[j]);
    say(`Speed ${RATES[j]}×${model.get("preserve_pitch") ? ", pitch kept" : ""}`);
  }
  function zoom(factor) { // factor 0: the whole window
    const w = model.get("window_s");
    const [t0, t1] = view.time();
    zoomSpan = factor === 0 ? null : Math.min(Math.max((t1 - t0) * factor, 0.2), w);
    if (zoomSpan !== null && zoomSpan >= w) zoomSpan = null;
    if (zoomSpan === null) view.setTime(null);
    else {
      const ph = player.audio.currentTime || 0;
      const c = ph >= t0 && ph <= t1 ? ph : (t0 + t1) / 2;
      view.setTime([c - zoomSpan / 2, c + zoomSpan / 2]);
    }
    const [a, b] = view.time();
    say(zoomSpan ? `Zoom: ${(a - off()).toFixed(2)} to ${(b - off()).toFixed(2)} s of the clip` : "Zoom: the whole window");
    draw(); describeCanvas();
  }
  function setFreq(r) { save("freq_range", r); }
  function applyFreq() {
    const r = model.get("freq_range") || [];
    view.setFreq(r.length === 2 ? r : null);
    const [a, b] = view.freq();
    fLo.value = Math.round(a); fHi.value = Math.round(b);
    fLo.max = fHi.max = model.get("fmax");
    const fb = model.get("feature_band") || {};
    band.hidden = !fb.fmax;
  }
  function readFreq() {
    const lo = Math.max(0, Number(fLo.value)), hi = Number(fHi.value);
    if (hi > lo) { setFreq([lo, hi]); say(`Frequencies ${fmtHz(lo)} to ${fmtHz(hi)}`); }
    else { say("the upper frequency must be above the lower one"); applyFreq(); }
  }
  fLo.addEventListener("change", readFreq);
  fHi.addEventListener("change", readFreq);
  function toggleLegend(show) {
    legend.hidden = show === undefined ? !legend.hidden : !show;
    legendBtn.setAttribute("aria-expanded", String(!legend.hidden));
  }

  // -- keys ------------------------------------------------------------------------------
  // a field's own keys (typing, a checkbox's Space, a slider's arrows, a button's Enter)
  const OWN = { checkbox: [" "], range: ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown"] };
  function own(tgt, k) {
    if (tgt instanceof HTMLSelectElement || tgt instanceof HTMLTextAreaElement) return true;
    if (tgt instanceof HTMLInputElement) return !(tgt.type in OWN) || OWN[tgt.type].includes(k);
    return (tgt instanceof HTMLButtonElement || tgt.tagName === "SUMMARY") && (k === "Enter" || k === " ");
  }
  root.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.key === "Tab") return; // the browser's, JupyterLab's
    ev.stopPropagation(); // no plain key pressed in the widget reaches the notebook
    const k = ev.key;
    if (own(ev.target, k)) { if (k === "Escape") root.focus(); return; }
    // a held key repeats: one press is one action (the playhead may run on)
    if (ev.repeat && k !== "ArrowLeft" && k !== "ArrowRight") { ev.preventDefault(); return; }
    if (handleKey(k, ev.shiftKey)) ev.preventDefault();
  });
  // a control used with the mouse gives the keys back to the labeler
  for (const c of [rate, pitch, loop, context, gain, cmap, range]) {
    c.addEventListener("pointerdown", () => { c.dataset.mouse = "1"; });
    c.addEventListener("change", () => { if (c.dataset.mouse) { delete c.dataset.mouse; root.focus({ preventScroll: true }); } });
  }
  function handleKey(k, shift) {
    const classes = model.get("classes");
    const decision = (msg) => { mark("alwidget:key", { key: k, clip_id: clipId() }); decide(msg); };
    if (k.length === 1 && k >= "1" && k <= "9") {
      if (Number(k) <= classes.length) decision({ action: "label", label: classes[Number(k) - 1] });
      else say(`No class ${k}: the classes are 1–${Math.min(classes.length, 9)}`);
    } else if (k === "Enter") decision({ action: "accept" });
    else if (k === "s" || k === "S") decision({ action: "skip" });
    else if (k === "d" || k === "D") decision({ action: "doubt" });
    else if (k === "z" || k === "Z" || k === "Backspace") decision({ action: "undo" });
    else if (k === " ") player.toggle();
    else if (k === "Escape") {
      if (!legend.hidden) toggleLegend(false);
      else if ((model.get("region") || []).length) setRegion([]);
    }
    else if (k === "[") regionEdge(0);
    else if (k === "]") regionEdge(1);
    else if (k === "ArrowLeft" || k === "ArrowRight") {
      const d = (k === "ArrowLeft" ? -1 : 1) * (shift ? 1 : 0.1);
      player.audio.currentTime = Math.min(Math.max((player.audio.currentTime || 0) + d, 0), model.get("window_s"));
      draw();
    } else if (k === "+" || k === "=") zoom(0.5);
    else if (k === "-" || k === "_") zoom(2);
    else if (k === "0") zoom(0);
    else if (k === "," || k === "<") stepRate(-1);
    else if (k === "." || k === ">") stepRate(1);
    else if (k === "l" || k === "L") { save("loop", !model.get("loop")); say(`Loop ${model.get("loop") ? "on" : "off"}`); }
    else if (k === "c" || k === "C") {
      save("play_context", !model.get("play_context"));
      say(model.get("play_context") ? "Space plays the clip with its context" : "Space plays the clip only");
    } else if (k === "p" || k === "P") {
      save("preserve_pitch", !model.get("preserve_pitch"));
      say(`Pitch ${model.get("preserve_pitch") ? "kept" : "follows the speed"}`);
    } else if (k === "?") toggleLegend();
    else return false;
    return true;
  }

  // -- status ------------------------------------------------------------------------------
  function describeCanvas() {
    const s = model.get("status") || {};
    if (s.clip_id === undefined || s.clip_id === null) { canvas.setAttribute("aria-label", "no clip left to label"); return; }
    const [t0, t1] = view.time(), [f0, f1] = view.freq(), r = model.get("region") || [];
    canvas.setAttribute("aria-label", `Spectrogram of clip ${s.clip_id}: ${String(s.path).split("/").pop()} ` +
      `from ${Number(s.start_s).toFixed(2)} s, ${Number(s.duration_s).toFixed(2)} s long, shown from ` +
      `${(t0 - off()).toFixed(2)} to ${(t1 - off()).toFixed(2)} s of the clip (context shaded), ` +
      `log-mel, ${fmtHz(f0)} to ${fmtHz(f1)}` + (r.length === 2 ? `; event ${r[0].toFixed(2)}–${r[1].toFixed(2)} s` : ""));
  }
  function showStatus() {
    const s = model.get("status") || {};
    reason.textContent = s.reason ? `Why this clip: ${s.reason}` : (s.done ? "Done: no clip left to label." : "");
    const has = s.clip_id !== undefined && s.clip_id !== null;
    clip.textContent = has ? `clip ${s.clip_id} · ${String(s.path).split("/").pop()} at ${Number(s.start_s).toFixed(2)} s` : "";
    clip.dataset.clipId = s.clip_id ?? "";
    const pct = (p) => `${(100 * p).toFixed(0)} %`;
    pred.textContent = !s.predicted ? (has ? "No model yet: press a class key (1–9)." : "")
      : s.confident ? `Model: ${s.predicted} (${pct(s.confidence)}) · Enter accepts`
      : `Model unsure: ${s.predicted} (${pct(s.confidence)}), listen and press a class key`;
    pred.classList.toggle("alw-unsure", !!s.predicted && !s.confident);
    const n = s.n_labels ?? 0, goal = model.get("target_labels");
    fill.style.width = `${Math.min(100, (100 * n) / goal)}%`;
    track.setAttribute("aria-valuenow", String(n)); track.setAttribute("aria-valuemax", String(goal));
    track.setAttribute("aria-label", `${n} of ${goal} labels`);
    progText.textContent = `${n} / ${goal} labels` + (n >= goal ? " · target reached" : "");
    if (document.activeElement !== target) target.value = goal;
    const c = [`${s.n_skipped ?? 0} skipped`, `${s.n_doubt ?? 0} in Doubt`];
    if (s.n_queued !== undefined && s.n_queued !== null) c.push(`${s.n_queued} queued`);
    counts.textContent = c.join(" · ");
    const parts = [`${n} labels`];
    if (s.positive_share !== undefined && s.positive_share !== null) parts.push(`${pct(s.positive_share)} positive`);
    parts.push(`model v${s.model_version ?? 0}${s.features ? ` on ${s.features} features` : ""}`);
    if (s.last_retrain_ms !== undefined && s.last_retrain_ms !== null) parts.push(`last retrain ${s.last_retrain_ms.toFixed(0)} ms`);
    if (s.val_f1 !== undefined && s.val_f1 !== null) parts.push(`validation F1 ${s.val_f1.toFixed(2)}`);
    status.textContent = parts.join(" · ");
    drawCurve(s.curve || []);
    const bands = (model.get("spec_shape") || [0])[0], sr = model.get("sample_rate");
    const fb = model.get("feature_band") || {}, hz = `${fmtHz(model.get("fmin"))}–${fmtHz(model.get("fmax"))}`;
    note.textContent = (has && bands ? `Shown: log-mel spectrogram, ${bands} bands, ${hz}, audio at ` +
      `${fmtHz(sr)}, the top ${model.get("db_span")} dB of the window. ` : "") + (fb.text || "");
    shownText.textContent = (has && bands ? `Shown: log-mel ${hz} · ` : "") + (fb.name ? `model: ${fb.name}` +
      (fb.fmax ? ` ${fmtHz(fb.fmin)}–${fmtHz(fb.fmax)}` : "") : "") + " · colours";
    error.textContent = model.get("error") || "";
    root.classList.toggle("alw-busy", !!model.get("busy"));
    root.classList.toggle("alw-done", !!s.done);
    describeCanvas();
  }
  target.addEventListener("change", () => {
    const v = Math.round(Number(target.value));
    if (v >= 1) save("target_labels", v); else target.value = model.get("target_labels");
  });

  function drawCurve(points) { // validation F1 (y, 0–1) against labels (x)
    const ctx = curve.getContext("2d"), W = curve.width, H = curve.height;
    const L = 30, R = 8, T = 8, B = 16;
    ctx.clearRect(0, 0, W, H);
    curve.hidden = points.length < 1;
    if (!points.length) return;
    const fg = getComputedStyle(root).color, line = getComputedStyle(curve).color;
    const n0 = points[0][0], n1 = points[points.length - 1][0];
    const x = (n) => L + ((n - n0) / Math.max(n1 - n0, 1)) * (W - L - R);
    const y = (f) => H - B - f * (H - T - B);
    ctx.strokeStyle = fg; ctx.fillStyle = fg; ctx.lineWidth = 1; ctx.font = "10px sans-serif";
    ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText("1", L - 3, y(1) + 4); ctx.fillText("0", L - 3, y(0) + 1);
    ctx.fillText("F1", L - 3, (y(0) + y(1)) / 2 + 4);
    ctx.textAlign = "left"; ctx.fillText(String(n0), L, H - 3);
    ctx.textAlign = "right"; ctx.fillText(`${n1} labels`, W - R, H - 3);
    ctx.strokeStyle = line; ctx.fillStyle = line; ctx.lineWidth = 1.5; ctx.beginPath();
    points.forEach(([n, f], i) => { if (i) ctx.lineTo(x(n), y(f)); else ctx.moveTo(x(n), y(f)); });
    ctx.stroke();
    const [nl, fl] = points[points.length - 1];
    ctx.beginPath(); ctx.arc(x(nl), y(fl), 2.5, 0, 2 * Math.PI); ctx.fill();
    const lo = Math.min(...points.map((p) => p[1])), hi = Math.max(...points.map((p) => p[1]));
    curve.setAttribute("aria-label", `validation F1 against labels: ${fl.toFixed(2)} at ${nl} labels ` +
      `(from ${points[0][1].toFixed(2)} at ${n0}; lowest ${lo.toFixed(2)}, highest ${hi.toFixed(2)})`);
    curve.title = curve.getAttribute("aria-label");
  }

  // -- updates: one repaint per message from the kernel ------------------------------------
  function flush() {
    scheduled = false;
    const s = model.get("status") || {};
    const newClip = needBuild && (s.clip_id ?? null) !== shownClip;
    if (needBuild) { view.use(prebuilt); prebuilt = null; needBuild = false; }
    if (newClip) { // a new clip: the zoom keeps its span, on the clip
      shownClip = s.clip_id ?? null;
      for (const [k, a] of ahead) if (a.msg.after !== shownClip) { player.discard(a.sound); ahead.delete(k); }
      counted();
      if (zoomSpan) { const c = off() + model.get("clip_duration_s") / 2; view.setTime([c - zoomSpan / 2, c + zoomSpan / 2]); }
    }
    // a new clip: its image first, in a frame of its own; the text around it (a relayout of
    // the page) right after that frame
    const first = newClip && shownClip !== null;
    applyFreq(); if (!first) showStatus(); showRegion(false); draw();
    if (first) {
      root.dataset.clipId = String(shownClip);
      const painted = shownClip, fromAhead = shownAhead === shownClip;
      shownAhead = null;
      requestAnimationFrame(() => { // after the frame that shows it
        const ch = new MessageChannel();
        ch.port1.onmessage = () => {
          mark("alwidget:painted", { clip_id: painted, ahead: fromAhead });
          showStatus();
        };
        ch.port2.postMessage(0);
      });
    }
  }
  function schedule() { if (!scheduled) { scheduled = true; queueMicrotask(flush); } }
  model.on("change:spec change:colormap change:range_db change:spec_shape", () => { needBuild = true; schedule(); });
  model.on("change:status change:error change:busy change:region change:freq_range change:target_labels " +
    "change:feature_band", schedule);
  model.on("change:message", () => say(model.get("message")));
  model.on("change:classes", buildButtons);
  model.on("change:playback_rate change:preserve_pitch change:loop change:gain change:play_context", applyListening);
  model.on("change:play_request", () => root.focus({ preventScroll: true })); // a clip chosen on a map
  cmap.value = model.get("colormap");
  cmap.addEventListener("change", () => save("colormap", cmap.value));
  range.value = model.get("range_db");
  rangeLabel.textContent = `${model.get("range_db")} dB`;
  range.addEventListener("input", () => { save("range_db", Number(range.value)); rangeLabel.textContent = `${range.value} dB`; });

  buildButtons(); applyListening(); player.load(); flush();
  model.send({ type: "ahead?" }); // the next clips planned already
  say(model.get("message") || "");
  return () => { clearAhead(); player.close(); };
}

export default { render };
