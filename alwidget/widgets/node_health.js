// alwidget node health (anywidget): a node x day grid coloured by health; a click (or Enter
// or Space on a focused cell) asks the kernel for the day's review clip and plays it.
// (el and setAudioBytes come from spectrogram.js, prepended by Python.)

function render({ model, el: root }) {
  root.classList.add("alwn-root");
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // keys stay in the widget
  const title = el("div", "alwn-title");
  const legend = el("div", "alwn-legend");
  for (const [cls, text] of [["ok", "ok"], ["warn", "warn"], ["bad", "bad"], ["off", "not recording"],
                             ["", "M missing · S silent · C clipped time"]]) {
    const s = el("span", "", text);
    if (cls) s.style.setProperty("--c", { ok: "#2e7d32", warn: "#f9a825", bad: "#c62828", off: "#bdbdbd" }[cls]);
    else s.className = "alwn-key";
    legend.append(s);
  }
  const scroll = el("div", "alwn-scroll");
  const playing = el("div", "alwn-playing");
  playing.setAttribute("aria-live", "polite");
  const audio = el("audio");
  audio.controls = true;
  const error = el("pre", "alwn-error");
  error.setAttribute("aria-live", "assertive");
  root.append(title, legend, scroll, playing, audio, error);
  let url = null;

  function draw() {
    title.textContent = model.get("title");
    const nodes = model.get("nodes") || [], days = model.get("days") || [];
    const byKey = new Map((model.get("cells") || []).map((c) => [`${c.n}:${c.d}`, c]));
    const table = el("table", "alwn-grid");
    table.setAttribute("role", "grid");
    table.setAttribute("aria-label", "node health by day");
    const head = el("tr");
    head.append(el("th"));
    for (const d of days) head.append(el("th", "alwn-day", d));
    table.append(head);
    nodes.forEach((node, n) => {
      const row = el("tr");
      const name = el("th", "alwn-node", node.name);
      if (node.stopped) {
        name.classList.add("alwn-stopped");
        name.textContent = `⚠ ${node.name}`;
        name.title = node.stopped;
      }
      row.append(name);
      days.forEach((day, d) => {
        const c = byKey.get(`${n}:${d}`);
        const td = el("td", `alwn-cell alwn-${c ? c.status : "off"}`);
        td.title = c ? c.text : `${node.name} ${day}: no data`;
        if (c && c.mark) td.textContent = c.mark; // M missing, S silent, C clipped
        td.setAttribute("aria-label", td.title);
        if (c && c.playable) {
          td.tabIndex = 0;
          const ask = () => model.send({ type: "play", node: node.name, day });
          td.addEventListener("click", ask);
          td.addEventListener("keydown", (ev) => {
            if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.stopPropagation(); ask(); }
          });
        }
        row.append(td);
      });
      table.append(row);
    });
    scroll.replaceChildren(table);
  }

  function play() {
    url = setAudioBytes(audio, model.get("audio"), url);
    playing.textContent = model.get("playing");
    if (url) audio.play().catch((e) => { error.textContent = `cannot play: ${e}`; });
  }

  draw();
  error.textContent = model.get("error");
  model.on("change:cells", draw);
  model.on("change:nodes", draw);
  model.on("change:title", draw);
  model.on("change:play_request", play);
  model.on("change:error", () => { error.textContent = model.get("error"); });
  return () => { audio.pause(); if (url) URL.revokeObjectURL(url); };
}

export default { render };
