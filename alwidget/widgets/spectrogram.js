// Shared by alwidget's anywidgets (prepended to labeler.js, gallery.js and team_labeler.js):
// spectrogram colour maps, bytes of a binary trait, elements that show text as text, audio
// from WAV bytes, and a clip's spectrogram view with its axes (specView).

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

// A clip's spectrogram with its context on `canvas`, inside margins `pad` ({left, right, top,
// bottom}), from the model's traits spec, spec_shape, db_span, range_db, colormap, fmin, fmax,
// window_s, clip_offset_s and clip_duration_s. Times are seconds from the window's start:
// `tToX` / `xToT` convert, `canvasX(ev)` is a mouse event's x in canvas pixels. `build()`
// makes the image (after the spectrogram or its colours change); `drawImage(ctx)` draws it
// with the context shaded, `drawAxes(ctx, playhead_s)` the playhead and the axes on top of
// what the caller marked in between.
function specView(model, canvas, pad) {
  const W = canvas.width, H = canvas.height;
  const g = { x0: pad.left, x1: W - pad.right, y0: pad.top, y1: H - pad.bottom };
  let image = null;
  const tToX = (t) => g.x0 + (t / Math.max(model.get("window_s"), 1e-9)) * (g.x1 - g.x0);
  const xToT = (x) => Math.min(Math.max(((x - g.x0) / (g.x1 - g.x0)) * model.get("window_s"), 0),
    model.get("window_s"));
  const canvasX = (ev) => ev.offsetX * (W / canvas.clientWidth);

  function build() {
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

  function drawImage(ctx) {
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
  }

  function drawAxes(ctx, playhead_s) {
    const px = tToX(playhead_s || 0);
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(px, g.y0); ctx.lineTo(px, g.y1); ctx.stroke();
    // time relative to the clip start, frequency in Hz on the mel scale
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    const win = model.get("window_s"), off = model.get("clip_offset_s");
    const step = win > 20 ? 5 : win > 8 ? 2 : win > 3 ? 1 : win > 1.2 ? 0.5 : 0.25;
    for (let t = Math.ceil(-off / step) * step; t <= win - off + 1e-9; t += step) {
      const x = tToX(t + off);
      ctx.fillRect(x, g.y1, 1, 4);
      ctx.fillText(`${+t.toFixed(2)} s`, x, g.y1 + 15);
    }
    ctx.textAlign = "right";
    const fmin = model.get("fmin"), fmax = model.get("fmax");
    const mlo = hzToMel(fmin), mhi = hzToMel(fmax);
    for (const f of [100, 250, 500, 1000, 2000, 4000, 8000, 16000]) {
      if (f < fmin || f > fmax) continue;
      const y = g.y1 - ((hzToMel(f) - mlo) / (mhi - mlo)) * (g.y1 - g.y0);
      ctx.fillRect(g.x0 - 4, y, 4, 1);
      ctx.fillText(f >= 1000 ? `${f / 1000} kHz` : `${f} Hz`, g.x0 - 6, y + 4);
    }
  }

  return { W, H, g, tToX, xToT, canvasX, build, drawImage, drawAxes };
}

// The clip's player: an <audio> of the model's WAV bytes (trait audio: no network, never a
// loop, playing by itself only with trait autoplay) with a play/pause `button`; `draw` runs
// on every frame while it plays, `onError` gets what the browser refused. Bumping trait
// play_request plays the clip from the start. Call `load()` once the caller can draw.
function clipPlayer(model, button, draw, onError) {
  const audio = new Audio();
  audio.preload = "auto"; audio.loop = false; audio.autoplay = false;
  let url = null;
  const label = () => { button.textContent = audio.paused ? "▶ Play (Space)" : "⏸ Pause (Space)"; };
  const play = () => audio.play().catch((e) => onError(`cannot play: ${e}`));
  function frame() { draw(); if (!audio.paused) requestAnimationFrame(frame); }
  function toggle() { if (!url) return; if (audio.paused) play(); else audio.pause(); }
  function load() {
    url = setAudioBytes(audio, model.get("audio"), url);
    audio.currentTime = 0;
    label(); draw();
    if (url && model.get("autoplay")) play();
  }
  audio.addEventListener("play", () => { label(); frame(); });
  audio.addEventListener("pause", () => { label(); draw(); });
  audio.addEventListener("ended", () => { label(); draw(); });
  button.addEventListener("click", toggle);
  model.on("change:audio", load);
  model.on("change:play_request", () => { if (url) { audio.currentTime = 0; play(); } });
  const close = () => { audio.pause(); if (url) URL.revokeObjectURL(url); };
  return { audio, toggle, load, close };
}
