// Shared by alwidget's anywidgets (prepended to labeler.js and gallery.js by Python):
// spectrogram colour maps, bytes of a binary trait, and elements that show text as text.

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
