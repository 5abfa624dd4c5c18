// alwidget search gallery (anywidget): the clips nearest to an example as spectrogram
// tiles with a play button and label buttons each. Keys act only while the gallery has
// focus and never reach JupyterLab. Labels go to Python, which commits them through the
// session; a labeled tile shows its label when the kernel says so.
// (MAPS, lut, bytesOf, el and setAudioBytes come from spectrogram.js, prepended by Python.)

function render({ model, el: root }) {
  root.classList.add("alwg-root");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // Lumino: no JupyterLab shortcuts here

  const head = el("div", "alwg-head");
  const title = el("div", "alwg-title");
  const more = el("button", "alwg-more", "More (M)");
  head.append(title, more);
  const help = el("div", "alwg-help",
    "Click a tile, then: Space plays · 1–9 label · D doubt · X select (Shift-click) · " +
    "A select unlabeled · Esc clear · Z undo");
  const groupBar = el("div", "alwg-group");
  const grid = el("div", "alwg-grid");
  const error = el("pre", "alwg-error");
  root.append(head, help, groupBar, grid, error);

  const audio = new Audio();
  audio.loop = false;
  let url = null;
  let focused = -1; // index of the focused tile
  const selected = new Set(); // clip ids
  let tileEls = [];

  function send(msg) { model.send(msg); }

  function labelTiles(label, ids) {
    audio.pause();
    send({ type: "label", label, clip_ids: ids });
  }

  function targetIds() {
    if (selected.size) return [...selected];
    const tiles = model.get("tiles") || [];
    return focused >= 0 && focused < tiles.length ? [tiles[focused].clip_id] : [];
  }

  function focusTile(i) {
    const n = tileEls.length;
    if (!n) return;
    focused = Math.max(0, Math.min(n - 1, i));
    tileEls.forEach((t, j) => t.classList.toggle("alwg-focused", j === focused));
    tileEls[focused].scrollIntoView({ block: "nearest" });
  }

  function toggleSelect(clipId) {
    if (selected.has(clipId)) selected.delete(clipId); else selected.add(clipId);
    showSelection();
  }

  function showSelection() {
    const tiles = model.get("tiles") || [];
    tileEls.forEach((t, j) => t.classList.toggle("alwg-selected", selected.has(tiles[j].clip_id)));
    groupBar.replaceChildren();
    if (!selected.size) return;
    groupBar.append(el("span", "alwg-count", `${selected.size} selected: label all as `));
    model.get("classes").forEach((name, i) => {
      const b = el("button", "alwg-class", i < 9 ? `${i + 1} ${name}` : name);
      b.addEventListener("click", () => { labelTiles(name, [...selected]); selected.clear(); showSelection(); });
      groupBar.append(b);
    });
    const clear = el("button", "alwg-clear", "Clear (Esc)");
    clear.addEventListener("click", () => { selected.clear(); showSelection(); });
    groupBar.append(clear);
  }

  function drawSpec(canvas, tile, specs, table) {
    const rows = tile.spec_rows, cols = tile.spec_cols;
    const ctx = canvas.getContext("2d");
    if (!rows || !cols) {
      ctx.fillStyle = "#eee"; ctx.fillRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const img = ctx.createImageData(cols, rows);
    const data = specs.subarray(tile.spec_offset, tile.spec_offset + rows * cols);
    for (let r = 0; r < rows; r++) {
      const src = (rows - 1 - r) * cols; // low frequencies at the bottom
      for (let c = 0; c < cols; c++) {
        const v = data[src + c], o = (r * cols + c) * 4;
        img.data[o] = table[v * 3]; img.data[o + 1] = table[v * 3 + 1];
        img.data[o + 2] = table[v * 3 + 2]; img.data[o + 3] = 255;
      }
    }
    const off = document.createElement("canvas");
    off.width = cols; off.height = rows;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
    if (tile.window_s) { // shade the context around the clip
      const a = (tile.clip_offset_s / tile.window_s) * canvas.width;
      const b = ((tile.clip_offset_s + tile.duration_s) / tile.window_s) * canvas.width;
      ctx.fillStyle = "rgba(255,255,255,0.35)";
      ctx.fillRect(0, 0, a, canvas.height);
      ctx.fillRect(b, 0, canvas.width - b, canvas.height);
    }
  }

  function build() {
    const tiles = model.get("tiles") || [];
    const specs = bytesOf(model.get("specs"));
    const table = lut(model.get("colormap"));
    const classes = model.get("classes");
    const ids = new Set(tiles.map((t) => t.clip_id));
    for (const c of [...selected]) if (!ids.has(c)) selected.delete(c);
    grid.replaceChildren();
    tileEls = tiles.map((tile, i) => {
      const box = el("div", "alwg-tile");
      box.dataset.clipId = tile.clip_id;
      if (tile.label) box.classList.add("alwg-labeled");
      const canvas = el("canvas", "alwg-spec");
      canvas.width = 200; canvas.height = 80;
      drawSpec(canvas, tile, specs, table);
      const top = el("div", "alwg-top");
      const play = el("button", "alwg-play", "▶");
      play.title = "play (Space)";
      play.addEventListener("click", (ev) => { ev.stopPropagation(); focusTile(i); send({ type: "play", clip_id: tile.clip_id }); });
      const score = Number(tile.score);
      top.append(play, el("span", "alwg-rank", `#${tile.rank} · clip ${tile.clip_id} · ${score.toFixed(3)}`));
      const badge = el("div", "alwg-label", tile.label ? `✓ ${tile.label}` : (tile.status || ""));
      const where = el("div", "alwg-where", `${String(tile.path).split("/").pop()} @ ${Number(tile.start_s).toFixed(2)} s`);
      where.title = tile.reason;
      const buttons = el("div", "alwg-buttons");
      classes.forEach((name, k) => {
        const b = el("button", "alwg-class", k < 9 ? `${k + 1}` : name);
        b.title = `label as ${name}` + (k < 9 ? ` (key ${k + 1})` : "");
        if (tile.label === name) b.classList.add("alwg-chosen");
        b.addEventListener("click", (ev) => { ev.stopPropagation(); focusTile(i); labelTiles(name, [tile.clip_id]); });
        buttons.append(b);
      });
      box.append(top, canvas, badge, where, buttons);
      if (tile.note) box.append(el("div", "alwg-note", tile.note));
      box.addEventListener("click", (ev) => {
        focusTile(i);
        if (ev.shiftKey) toggleSelect(tile.clip_id);
        root.focus();
      });
      grid.append(box);
      return box;
    });
    if (focused >= tileEls.length) focused = tileEls.length - 1;
    if (focused >= 0) tileEls[focused].classList.add("alwg-focused");
    showSelection();
  }

  function loadAudio() {
    url = setAudioBytes(audio, model.get("audio"), url);
  }

  function playNow() {
    if (!url) return;
    audio.currentTime = 0;
    audio.play().catch((e) => { error.textContent = `cannot play: ${e}`; });
  }

  root.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLSelectElement || ev.target instanceof HTMLInputElement) return;
    if (ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const classes = model.get("classes");
    const tiles = model.get("tiles") || [];
    let handled = true;
    if (ev.key >= "1" && ev.key <= "9" && Number(ev.key) <= classes.length) {
      const ids = targetIds();
      if (ids.length) { labelTiles(classes[Number(ev.key) - 1], ids); selected.clear(); showSelection(); }
    } else if (ev.key === "d" || ev.key === "D") {
      const ids = targetIds();
      if (ids.length) { labelTiles(model.get("doubt"), ids); selected.clear(); showSelection(); }
    } else if (ev.key === " ") {
      if (!audio.paused) audio.pause();
      else if (focused >= 0 && tiles[focused]) {
        if (model.get("audio_clip") === tiles[focused].clip_id && url) playNow();
        else send({ type: "play", clip_id: tiles[focused].clip_id });
      }
    } else if (ev.key === "ArrowRight") focusTile(focused + 1);
    else if (ev.key === "ArrowLeft") focusTile(focused - 1);
    else if (ev.key === "x" || ev.key === "X") { if (focused >= 0 && tiles[focused]) toggleSelect(tiles[focused].clip_id); }
    else if (ev.key === "a" || ev.key === "A") { tiles.forEach((t) => { if (!t.label) selected.add(t.clip_id); }); showSelection(); }
    else if (ev.key === "Escape") { selected.clear(); showSelection(); }
    else if (ev.key === "z" || ev.key === "Z" || ev.key === "Backspace") send({ type: "undo" });
    else if (ev.key === "m" || ev.key === "M") send({ type: "more" });
    else handled = false;
    if (handled) { ev.preventDefault(); ev.stopPropagation(); }
  });
  more.addEventListener("click", () => send({ type: "more" }));

  function showStatus() {
    title.textContent = model.get("title") || "";
    error.textContent = model.get("error") || "";
    root.classList.toggle("alwg-busy", !!model.get("busy"));
  }

  model.on("change:tiles change:specs change:classes change:colormap", build);
  model.on("change:audio", loadAudio);
  model.on("change:play_request", playNow);
  model.on("change:title change:error change:busy", showStatus);
  build(); loadAudio(); showStatus();
  return () => { audio.pause(); if (url) URL.revokeObjectURL(url); };
}

export default { render };
