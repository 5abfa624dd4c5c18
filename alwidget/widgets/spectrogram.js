// Shared by alwidget's anywidgets (prepended to labeler.js, gallery.js and team_labeler.js):
// spectrogram colour maps, bytes of a binary trait, elements that show text as text, icons,
// audio from WAV bytes, a clip's spectrogram view with its axes (specView) and its player
// (clipPlayer).

const MAPS = {
  viridis: [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]],
  magma: [[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]],
  gray: [[0, 0, 0], [255, 255, 255]],
};

function lut(name) {
  const stops = MAPS[name] || MAPS.viridis;
  const out = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (stops.length - 1);
    const k = Math.min(Math.floor(x), stops.length - 2);
    const f = x - k;
    for (let c = 0; c < 3; c++) out[i * 3 + c] = stops[k][c] * (1 - f) + stops[k + 1][c] * f;
  }
  return out;
}

function bytesOf(value) {
  if (!value) return new Uint8Array(0);
  if (value instanceof DataView) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value.buffer) return new Uint8Array(value.buffer, value.byteOffset || 0, value.byteLength);
  return new Uint8Array(value);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; // text, never HTML: names come from users
  return e;
}

// A small SVG icon ("play", "pause"): drawn, so it shows in every font (U+23F8, the pause
// sign, is missing from the default fonts of many systems and shows as an empty box).
const ICONS = { play: "M4 2.5v11l9.5-5.5z", pause: "M3.5 2.5h3.2v11H3.5zM9.3 2.5h3.2v11H9.3z" };
function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "12"); svg.setAttribute("height", "12");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", `alw-icon alw-icon-${name}`);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

// Point an <audio> element at WAV bytes (a binary trait: no network), revoking the previous
// object URL; returns the new one (null without bytes).
function setAudioBytes(audio, value, previousUrl) {
  audio.pause();
  if (previousUrl) URL.revokeObjectURL(previousUrl);
  const bytes = bytesOf(value);
  const url = bytes.length ? URL.createObjectURL(new Blob([bytes], { type: "audio/wav" })) : null;
  if (url) audio.src = url; else audio.removeAttribute("src");
  return url;
}

function hzToMel(f) { return 2595 * Math.log10(1 + f / 700); }
function fmtHz(f) { return f >= 1000 ? `${+(f / 1000).toFixed(1)} kHz` : `${Math.round(f)} Hz`; }
// Frequency ticks, roundest first: each is drawn when it is 14 px from those drawn before;
// then steps of 1, 2 or 5 x 10^k for a narrow range.
const HZ_TICKS = [100, 1000, 10000, 500, 2000, 5000, 200, 4000, 8000, 16000, 20000, 50, 300, 700,
  1500, 3000, 6000, 12000, 24000, 32000, 40000, 48000, 64000, 80000, 96000, 20, 7000, 14000];
function hzTicks(f0, f1, y) {
  const base = 10 ** Math.floor(Math.log10(Math.max((f1 - f0) / 4, 1)));
  const step = [1, 2, 5].map((m) => m * base).find((v) => (f1 - f0) / v <= 6) || 10 * base;
  const fine = [];
  for (let f = Math.ceil(f0 / step) * step; f <= f1; f += step) fine.push(f);
  const placed = [];
  for (const f of [...HZ_TICKS, ...fine]) {
    if (f < f0 || f > f1 || placed.some((p) => Math.abs(y(p) - y(f)) < 14)) continue;
    placed.push(f);
  }
  return placed;
}

// A clip's spectrogram with its context on `canvas`, inside margins `pad` ({left, right, top,
// bottom}), from the model's traits spec, spec_shape, db_span, range_db, colormap, fmin, fmax,
// window_s, clip_offset_s and clip_duration_s. The image's rows are mel bands from fmin to
// fmax (low first). Times are seconds from the window's start: `tToX` / `xToT` convert,
// `fToY` places a frequency, `canvasX(ev)` is a mouse event's x in canvas pixels. `build()`
// makes the image (after the spectrogram or its colours change); `drawImage(ctx)` draws it
// with the context shaded, `drawAxes(ctx, playhead_s)` the playhead and the axes (in the
// canvas's CSS colour) on top of what the caller marked in between. `setTime([t0, t1])`
// zooms to a stretch of the window and `setFreq([f0, f1])` to a frequency range (null: all).
function specView(model, canvas, pad) {
  const W = canvas.width, H = canvas.height;
  const g = { x0: pad.left, x1: W - pad.right, y0: pad.top, y1: H - pad.bottom };
  let image = null, tv = null, fv = null;
  const win = () => Math.max(model.get("window_s"), 1e-9);
  function time() { // the stretch of the window shown, in window seconds
    if (!tv) return [0, win()];
    const span = Math.min(tv[1] - tv[0], win());
    const t0 = Math.min(Math.max(tv[0], 0), win() - span);
    return [t0, t0 + span];
  }
  function freq() { // the frequencies shown, inside the image's
    const lo = model.get("fmin"), hi = model.get("fmax");
    if (!fv) return [lo, hi];
    const a = Math.min(Math.max(fv[0], lo), hi), b = Math.min(Math.max(fv[1], lo), hi);
    return b - a > 1 ? [a, b] : [lo, hi];
  }
  const tToX = (t) => { const [a, b] = time(); return g.x0 + ((t - a) / (b - a)) * (g.x1 - g.x0); };
  const xToT = (x) => {
    const [a, b] = time();
    return Math.min(Math.max(a + ((x - g.x0) / (g.x1 - g.x0)) * (b - a), a), b);
  };
  const melShare = (f) => { // share of the image's height below f
    const lo = hzToMel(model.get("fmin")), hi = hzToMel(model.get("fmax"));
    return (hzToMel(f) - lo) / Math.max(hi - lo, 1e-9);
  };
  const fToY = (f) => {
    const [a, b] = freq().map(melShare);
    return g.y1 - ((melShare(f) - a) / Math.max(b - a, 1e-9)) * (g.y1 - g.y0);
  };
  const canvasX = (ev) => ev.offsetX * (W / canvas.clientWidth);

  // the image of a spectrogram (rows x cols bytes, 0..255 over db_span dB) in the colours
  // and range shown now: a canvas of its own, drawn scaled by drawImage
  function makeImage(shape, bytes, dbSpan) {
    const [rows, cols] = shape || [0, 0];
    const data = bytesOf(bytes);
    if (!rows || !cols || data.length < rows * cols) return null;
    const map = lut(model.get("colormap"));
    const shown = model.get("range_db");
    const floor = 255 * (1 - Math.min(shown, dbSpan) / dbSpan);
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
    off.__alw = { bytes, colormap: model.get("colormap"), range_db: shown };
    return off;
  }
  function build() { image = makeImage(model.get("spec_shape"), model.get("spec"), model.get("db_span")); }
  // `prepare(traits, bytes)` makes a clip's image ahead (while the expert listens to another);
  // `use(prepared)` shows it when the model's spectrogram is those bytes (else it builds)
  const prepare = (traits, bytes) => makeImage(traits.spec_shape, bytes, traits.db_span);
  function use(prepared) {
    const a = prepared && prepared.__alw;
    if (a && a.bytes === model.get("spec") && a.colormap === model.get("colormap") && a.range_db === model.get("range_db")) image = prepared;
    else build();
  }

  function drawImage(ctx) {
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#111"; ctx.fillRect(g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0);
    const [t0, t1] = time(), [fa, fb] = freq().map(melShare);
    if (image) { // the part of the image in view
      ctx.imageSmoothingEnabled = false;
      const sx = (image.width * t0) / win(), sw = (image.width * (t1 - t0)) / win();
      const sy = image.height * (1 - fb), sh = image.height * (fb - fa);
      ctx.drawImage(image, sx, sy, sw, sh, g.x0, g.y0, g.x1 - g.x0, g.y1 - g.y0);
    }
    // context before and after the clip, shaded
    const clamp = (x) => Math.min(Math.max(x, g.x0), g.x1);
    const a = clamp(tToX(model.get("clip_offset_s")));
    const b = clamp(tToX(model.get("clip_offset_s") + model.get("clip_duration_s")));
    ctx.fillStyle = "rgba(255,255,255,0.45)";
    ctx.fillRect(g.x0, g.y0, a - g.x0, g.y1 - g.y0);
    ctx.fillRect(b, g.y0, g.x1 - b, g.y1 - g.y0);
  }

  function drawAxes(ctx, playhead_s) {
    const px = tToX(playhead_s || 0);
    if (px >= g.x0 && px <= g.x1) {
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5;
      ctx.beginPath(); ctx.moveTo(px, g.y0); ctx.lineTo(px, g.y1); ctx.stroke();
    }
    // time relative to the clip start, frequency in Hz on the mel scale, in the text colour
    ctx.fillStyle = getComputedStyle(canvas).color || "#333";
    ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    const [t0, t1] = time(), off = model.get("clip_offset_s"), span = t1 - t0;
    const step = span > 20 ? 5 : span > 8 ? 2 : span > 3 ? 1 : span > 1.2 ? 0.5 : span > 0.6 ? 0.25
      : span > 0.25 ? 0.1 : 0.05;
    for (let t = Math.ceil((t0 - off) / step - 1e-9) * step; t <= t1 - off + 1e-9; t += step) {
      const x = tToX(t + off);
      ctx.fillRect(x, g.y1, 1, 4);
      ctx.fillText(`${+t.toFixed(2)} s`, x, g.y1 + 15);
    }
    ctx.textAlign = "right";
    const [f0, f1] = freq();
    for (const f of hzTicks(f0, f1, fToY)) {
      const y = fToY(f);
      ctx.fillRect(g.x0 - 4, y, 4, 1);
      ctx.fillText(fmtHz(f), g.x0 - 6, y + 4);
    }
  }

  return {
    W, H, g, tToX, xToT, fToY, canvasX, build, prepare, use, drawImage, drawAxes, time, freq,
    setTime: (range) => { tv = range; }, setFreq: (range) => { fv = range; },
  };
}

// The clip's player: an <audio> of the model's WAV bytes (trait audio: no network; playing
// by itself only with trait autoplay) with a play/pause `button`; `draw` runs on every frame
// while it plays, `onError` gets what the browser refused, `onReady` runs once per clip when
// its audio can play through. Bumping trait play_request plays the clip from the start.
// Call `load()` once the caller can draw. `set({rate, pitch, loop, gain, range})` changes
// how it plays: playback rate, pitch kept at other rates, loop, gain (above 1 through a Web
// Audio gain node) and `range()`, a function giving the [start, end] (window seconds) to
// play, or null for the whole window. By default: rate 1, no loop, gain 1, whole window.
// `prepare(bytes)` loads another clip's audio in an element of its own (while the expert
// listens to this one); `adopt(prepared)` makes it the player's element, ready at once when
// it could already play through; `discard(prepared)` frees one not used. `player.audio` is
// the element playing now.
function clipPlayer(model, button, draw, onError, onReady) {
  let url = null, ready = false, range = () => null, loop = false, graph = null, adopted = null;
  let opts = { rate: 1, pitch: true, loop: false };
  const label = () => {
    const paused = audio.paused;
    button.replaceChildren(icon(paused ? "play" : "pause"), paused ? " Play (Space)" : " Pause (Space)");
  };
  const span = () => { const r = range(); return r && r[1] > r[0] ? r : null; };
  function play() {
    const r = span();
    if (r && (audio.currentTime < r[0] || audio.currentTime >= r[1] - 0.01)) audio.currentTime = r[0];
    if (graph && graph.ctx.state === "suspended") graph.ctx.resume();
    return audio.play().catch((e) => onError(`cannot play: ${e}`));
  }
  function keepInRange() { // a range ends the play (or loops back) at its end
    const r = span();
    if (!r || audio.paused || audio.currentTime < r[1]) return;
    if (loop) audio.currentTime = r[0]; else { audio.pause(); audio.currentTime = r[1]; }
  }
  function frame() { keepInRange(); draw(); if (!audio.paused) requestAnimationFrame(frame); }
  function toggle() { if (!url) return; if (audio.paused) play(); else audio.pause(); }
  function element() {
    const a = new Audio();
    a.preload = "auto"; a.autoplay = false;
    const mine = (f) => () => { if (a === audio) f(); };
    a.addEventListener("play", mine(() => { label(); frame(); }));
    a.addEventListener("pause", mine(() => { label(); draw(); }));
    a.addEventListener("ended", mine(() => { label(); draw(); }));
    a.addEventListener("timeupdate", mine(keepInRange)); // also when no frame is drawn (hidden tab)
    a.addEventListener("canplaythrough", () => {
      a.__alwReady = true;
      if (a === audio && !ready && url) { ready = true; if (onReady) onReady(); }
    });
    return a;
  }
  function apply(a) { // how this player plays, on an element
    a.playbackRate = opts.rate; a.defaultPlaybackRate = opts.rate;
    a.preservesPitch = !!opts.pitch; a.loop = loop;
    if (graph) {
      if (!a.__alwSource) a.__alwSource = graph.ctx.createMediaElementSource(a);
      a.__alwSource.connect(graph.node); a.volume = 1;
    } else a.volume = Math.max(opts.gain ?? 1, 0);
  }
  let audio = element();
  function load() {
    if (adopted !== null && model.get("audio") === adopted) return; // shown already (adopt)
    adopted = null;
    url = setAudioBytes(audio, model.get("audio"), url);
    ready = false;
    audio.currentTime = 0;
    label(); draw();
    if (url && model.get("autoplay")) play();
  }
  function prepare(bytes) {
    const b = bytesOf(bytes);
    if (!b.length) return null;
    const a = element();
    a.__alwUrl = URL.createObjectURL(new Blob([b], { type: "audio/wav" }));
    a.src = a.__alwUrl;
    a.load();
    return { el: a, bytes };
  }
  function release(el) { // an element no longer used: its media resources freed
    el.pause(); el.removeAttribute("src"); el.load();
    if (el.__alwSource) el.__alwSource.disconnect();
  }
  function discard(p) { // freed once loaded: revoking its URL mid-load would abort a request
    if (!p || p.el === audio) return;
    const el = p.el;
    let freed = false, timer = null;
    const free = () => {
      if (freed) return;
      freed = true; clearTimeout(timer); release(el); URL.revokeObjectURL(el.__alwUrl);
    };
    if (el.__alwReady || el.error || el.readyState >= 4) { free(); return; }
    el.addEventListener("canplaythrough", free, { once: true });
    el.addEventListener("error", free, { once: true });
    timer = setTimeout(free, 10000); // at the latest
  }
  function adopt(p) {
    const old = audio;
    release(old);
    if (url) URL.revokeObjectURL(url);
    audio = p.el; url = p.el.__alwUrl; adopted = p.bytes;
    audio.className = old.className;
    if (old.parentNode) old.replaceWith(audio);
    apply(audio);
    audio.currentTime = 0;
    ready = !!audio.__alwReady;
    label(); draw();
    if (ready && onReady) onReady();
    if (model.get("autoplay")) play();
  }
  function setGain(gain) {
    if (gain > 1 && !graph) { // the element's volume stops at 1: louder through Web Audio
      const Ctx = window.AudioContext || window.webkitAudioContext;
      const ctx = new Ctx(), node = ctx.createGain();
      node.connect(ctx.destination);
      graph = { ctx, node };
      apply(audio);
    }
    if (graph) { audio.volume = 1; graph.node.gain.value = gain; } else audio.volume = Math.max(gain, 0);
  }
  function set(o) {
    if (o.rate !== undefined) opts.rate = o.rate;
    if (o.pitch !== undefined) opts.pitch = !!o.pitch;
    if (o.loop !== undefined) loop = !!o.loop;
    if (o.rate !== undefined || o.pitch !== undefined || o.loop !== undefined) apply(audio);
    if (o.gain !== undefined) { opts.gain = o.gain; setGain(o.gain); }
    if (o.range !== undefined) range = o.range || (() => null);
  }
  button.addEventListener("click", toggle);
  model.on("change:audio", load);
  model.on("change:play_request", () => {
    if (url) { const r = span(); audio.currentTime = r ? r[0] : 0; play(); }
  });
  const close = () => { audio.pause(); if (url) URL.revokeObjectURL(url); if (graph) graph.ctx.close(); };
  return {
    get audio() { return audio; }, toggle, play, load, close, set, prepare, adopt, discard,
    gain: () => (graph ? graph.node.gain.value : audio.volume),
  };
}
