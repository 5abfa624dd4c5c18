// alwidget team labeler (anywidget): one labeler's assigned clip as a spectrogram with a
// player; the labeler draws several events, tags each from the ontology (searched by name or
// browsed by hierarchy) and submits; the kernel commits the annotation before it shows the
// next clip. Keys act only while the widget has focus and never reach JupyterLab; text from
// users (tags, announcements, names) is shown as text, never as HTML.
// (el, specView and clipPlayer come from spectrogram.js, prepended by Python.)

function render({ model, el: root }) {
  root.classList.add("alwt-root");
  root.tabIndex = 0;
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // Lumino: no JupyterLab shortcuts here
  const uid = `alwt-${Math.random().toString(36).slice(2)}`;

  const head = el("div", "alwt-head");
  const roundEl = el("div", "alwt-round");
  const counts = el("div", "alwt-counts");
  head.append(roundEl, counts);
  const clipEl = el("div", "alwt-clip");
  const news = el("ul", "alwt-news");
  news.setAttribute("aria-label", "new classes");
  const canvas = el("canvas", "alwt-spec");
  canvas.width = 760; canvas.height = 240;
  canvas.setAttribute("role", "img");
  const view = specView(model, canvas, { left: 52, right: 8, top: 6, bottom: 26 });
  const controls = el("div", "alwt-controls");
  const play = el("button", "alwt-play", "▶ Play (Space)");
  const time = el("span", "alwt-time", "0.00 s");
  controls.append(play, time, el("span", "alwt-help",
    "drag to draw an event · click one to select it, drag its edges"));
  const keys = el("div", "alwt-help", "Keys: Space play · [ / ] an event's onset / offset at " +
    "the playhead · ←/→ select · Del delete · T tag · D doubt · B background · Enter submit");
  const list = el("ol", "alwt-events");
  list.setAttribute("aria-label", "events of this clip");

  // the tag picker: a search box with its results, and the hierarchy
  const picker = el("div", "alwt-picker");
  const searchLabel = el("label", "alwt-search-label", "Tag (T) ");
  const search = el("input", "alwt-search");
  search.type = "text"; search.placeholder = "type to search the ontology…";
  search.setAttribute("role", "combobox");
  search.setAttribute("aria-autocomplete", "list");
  search.setAttribute("aria-controls", `${uid}-results`);
  search.setAttribute("aria-expanded", "false");
  searchLabel.append(search);
  const results = el("ul", "alwt-results");
  results.id = `${uid}-results`;
  results.setAttribute("role", "listbox");
  const browse = el("details", "alwt-browse");
  const tree = el("ul", "alwt-tree");
  tree.setAttribute("role", "tree");
  browse.append(el("summary", "", "Browse the hierarchy"), tree);
  picker.append(searchLabel, results, browse);

  const actions = el("div", "alwt-actions");
  const button = (label, title, fn) => {
    const b = el("button", "alwt-action", label);
    b.title = title;
    b.addEventListener("click", fn);
    actions.append(b);
    return b;
  };
  const submitBtn = button("Submit (Enter)", "store the events of this clip", () => submit());
  submitBtn.classList.add("alwt-submit");
  const bgBtn = button("Background (B)", "nothing of interest: the whole clip gets the background tag",
    () => background());
  button("Doubt (D)", "tag the selected event Doubt (none selected: the whole clip)", () => doubtKey());
  button("Delete (Del)", "delete the selected event", () => { if (selected >= 0) remove(selected); });
  button("Refresh", "read the queue and the announcements again", () => { waiting = false; model.send({ type: "refresh" }); });
  const live = el("div", "alwt-live");
  live.setAttribute("role", "status");
  live.setAttribute("aria-live", "polite");
  const error = el("pre", "alwt-error");
  error.setAttribute("role", "alert");

  // a new class for the team to accept
  const suggest = el("details", "alwt-suggest");
  const field = (text, input) => { const l = el("label", "alwt-field", text); l.append(input); return l; };
  const sName = el("input", "alwt-sg-name");
  const sParent = el("input", "alwt-sg-parent");
  const tagList = el("datalist");
  tagList.id = `${uid}-tags`;
  sParent.setAttribute("list", tagList.id);
  const sDesc = el("textarea", "alwt-sg-desc");
  sDesc.rows = 2;
  const sSend = el("button", "alwt-sg-send", "Suggest");
  const mine = el("ul", "alwt-mine");
  suggest.append(el("summary", "", "Suggest a new class"), field("Name ", sName),
    field("Parent ", sParent), tagList, field("Description ", sDesc), sSend, mine);
  root.append(head, clipEl, news, canvas, controls, keys, list, picker, actions, live, error, suggest);

  const player = clipPlayer(model, play, () => draw(), (text) => { error.textContent = text; });
  const audio = player.audio;
  let drag = null, selected = -1, current = "", hl = 0, pendingEnter = false;
  let waiting = false, shownClip = null, nSuggested = null;

  const say = (text) => { live.textContent = text; };
  const r3 = (v) => Math.round(v * 1000) / 1000;
  const events = () => (model.get("events") || []).map((e) => ({ ...e }));
  const span = (e) => `${Number(e.onset).toFixed(2)}–${Number(e.offset).toFixed(2)} s`;
  function setEvents(list, sel) {
    selected = sel;
    model.set("events", list);
    model.save_changes();
    showEvents(); draw();
  }
  function clipT(x) { // seconds from the clip's start under canvas x, inside the clip
    const t = view.xToT(x) - model.get("clip_offset_s");
    return Math.min(Math.max(t, 0), model.get("clip_duration_s"));
  }
  function colour(tag, alpha) {
    let h = 0;
    for (const ch of String(tag)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return tag ? `hsla(${(h * 137.508) % 360}, 80%, 55%, ${alpha})` : `rgba(255, 255, 255, ${alpha})`;
  }

  function draw() {
    const ctx = canvas.getContext("2d");
    const g = view.g, off = model.get("clip_offset_s");
    view.drawImage(ctx);
    const evs = events();
    if (drag && drag.span) {
      const [onset, offset] = drag.span;
      if (drag.edit >= 0) Object.assign(evs[drag.edit], { onset, offset });
      else evs.push({ tag: current, onset, offset });
    }
    ctx.font = "11px sans-serif"; ctx.textAlign = "left";
    evs.forEach((e, i) => {
      const a = view.tToX(off + e.onset), b = view.tToX(off + e.offset);
      ctx.fillStyle = colour(e.tag, 0.2); ctx.fillRect(a, g.y0, b - a, g.y1 - g.y0);
      ctx.strokeStyle = colour(e.tag, 1); ctx.lineWidth = i === selected ? 3 : 1.5;
      ctx.strokeRect(a, g.y0 + 1, b - a, g.y1 - g.y0 - 2);
      const text = `${i + 1} ${e.tag || "(no tag)"}`, y = g.y0 + 3 + (i % 5) * 16;
      ctx.fillStyle = colour(e.tag, 0.9); ctx.fillRect(a, y, ctx.measureText(text).width + 6, 14);
      ctx.fillStyle = "#000"; ctx.fillText(text, a + 3, y + 11); // canvas text: never HTML
    });
    view.drawAxes(ctx, audio.currentTime);
    time.textContent = `${((audio.currentTime || 0) - off).toFixed(2)} s`;
  }

  function showEvents() {
    const evs = events();
    if (selected >= evs.length) selected = evs.length - 1;
    list.replaceChildren(...evs.map((e, i) => {
      const li = el("li", "alwt-event");
      li.classList.toggle("alwt-selected", i === selected);
      li.dataset.tag = e.tag || "";
      const pick = el("button", "alwt-event-pick", `${e.tag || "(no tag: choose one)"} · ${span(e)}`);
      pick.setAttribute("aria-pressed", String(i === selected));
      pick.addEventListener("click", () => select(i));
      const del = el("button", "alwt-event-del", "✕");
      del.title = `delete event ${i + 1}`;
      del.setAttribute("aria-label", del.title);
      del.addEventListener("click", () => remove(i));
      li.append(pick, del);
      return li;
    }));
    if (!evs.length) {
      list.append(el("li", "alwt-none", `no event yet: drag on the spectrogram, or press B when ` +
        `there is nothing of interest (${model.get("background")})`));
    }
    canvas.setAttribute("aria-label", `spectrogram of the clip; ${evs.length} event(s): ` +
      evs.map((e, i) => `${i + 1} ${e.tag || "no tag"} ${span(e)}`).join(", "));
  }

  function select(i) {
    const evs = events();
    if (i < 0 || i >= evs.length) return;
    selected = i;
    showEvents(); draw();
    say(`event ${i + 1} selected: ${evs[i].tag || "no tag"}, ${span(evs[i])}`);
  }

  function remove(i) {
    const evs = events();
    if (i < 0 || i >= evs.length) return;
    const [gone] = evs.splice(i, 1);
    setEvents(evs, Math.min(i, evs.length - 1));
    say(`event ${i + 1} (${gone.tag || "no tag"}) deleted`);
  }

  function chooseTag(tag) {
    current = tag;
    const evs = events();
    if (selected >= 0 && selected < evs.length) {
      evs[selected].tag = tag;
      setEvents(evs, selected);
      say(`event ${selected + 1}: ${tag}`);
    } else {
      say(`${tag}: the next events you draw get this tag`);
    }
    search.value = ""; hl = 0; pendingEnter = false;
    showResults();
    root.focus();
  }

  function mark(edge) { // [ starts an event at the playhead, ] ends the selected one there
    const evs = events(), dur = r3(model.get("clip_duration_s"));
    const t = r3(Math.min(Math.max((audio.currentTime || 0) - model.get("clip_offset_s"), 0), dur));
    const e = evs[selected];
    if (edge === "onset" && t < dur) {
      evs.push({ tag: current, onset: t, offset: dur });
      setEvents(evs, evs.length - 1);
      say(`event ${evs.length} from ${t.toFixed(2)} s: press ] to end it` + (current ? "" : ", T to tag it"));
    } else if (edge === "offset" && e && t > e.onset) {
      e.offset = t;
      setEvents(evs, selected);
      say(`event ${selected + 1} now ${span(e)}`);
    } else {
      say(edge === "onset" ? "the playhead is at the clip's end" : "select an event that starts before the playhead");
    }
  }

  function doubtKey() {
    const evs = events(), doubt = model.get("doubt");
    if (selected >= 0 && selected < evs.length) {
      evs[selected].tag = doubt;
      setEvents(evs, selected);
      say(`event ${selected + 1}: ${doubt}`);
    } else {
      evs.push({ tag: doubt, onset: 0, offset: r3(model.get("clip_duration_s")) });
      setEvents(evs, evs.length - 1);
      say(`event ${evs.length}: ${doubt} over the whole clip`);
    }
  }

  // -- to the kernel: every submission names the clip and round on screen ---------------
  function send(type) {
    const s = model.get("status") || {};
    if (s.done || s.clip_id === undefined) { say("nothing to label: the queue is empty"); return; }
    if (waiting) return; // one submission at a time: a double press stores nothing twice
    waiting = true;
    audio.pause();
    say(`saving clip ${s.clip_id}…`);
    model.send({ type, clip_id: s.clip_id, round_id: s.round_id, events: events() });
  }
  const submit = () => send("submit");
  const background = () => send("background");

  // -- the search box ---------------------------------------------------------------------
  function found() { // the results of the text in the box (null while the kernel searches)
    const r = model.get("results") || {};
    return r.text === search.value ? (r.tags || []) : null;
  }
  function showResults() {
    const tags = found();
    results.replaceChildren();
    const open = !!search.value.trim() && tags !== null;
    search.setAttribute("aria-expanded", String(open));
    search.removeAttribute("aria-activedescendant");
    if (!open) return;
    if (!tags.length) {
      results.append(el("li", "alwt-none", `no tag holds “${search.value}”: browse the hierarchy, or suggest a class`));
      pendingEnter = false;
      return;
    }
    hl = Math.max(0, Math.min(hl, tags.length - 1));
    tags.forEach((tag, i) => {
      const li = el("li", "alwt-result", tag);
      li.id = `${uid}-r${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === hl));
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); chooseTag(tag); });
      results.append(li);
    });
    search.setAttribute("aria-activedescendant", `${uid}-r${hl}`);
    if (pendingEnter) chooseTag(tags[hl]); // Enter was pressed before the results came
  }
  search.addEventListener("input", () => {
    hl = 0; pendingEnter = false;
    model.send({ type: "search", text: search.value });
    showResults();
  });
  search.addEventListener("keydown", (ev) => {
    ev.stopPropagation(); // typing is for the box, not for the widget's keys or JupyterLab
    const tags = found();
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      if (tags && tags.length) {
        hl = Math.max(0, Math.min(tags.length - 1, hl + (ev.key === "ArrowDown" ? 1 : -1)));
        showResults();
        say(tags[hl]);
      }
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (tags === null) pendingEnter = !!search.value.trim();
      else if (tags.length) chooseTag(tags[hl]);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      search.value = ""; showResults(); root.focus();
    }
  });

  // -- the hierarchy, expanded a level at a time ------------------------------------------
  function treeItem(tag, level) {
    const kids = (model.get("tree") || {})[tag] || [];
    const li = el("li", "alwt-node");
    li.setAttribute("role", "treeitem");
    li.setAttribute("aria-level", String(level));
    const toggle = el("button", "alwt-toggle", kids.length ? "▸" : "·");
    toggle.disabled = !kids.length;
    toggle.setAttribute("aria-label", `expand ${tag}`);
    const name = el("button", "alwt-node-tag", tag);
    name.title = `choose ${tag}`;
    name.addEventListener("click", () => chooseTag(tag));
    li.append(toggle, name);
    if (kids.length) li.setAttribute("aria-expanded", "false");
    let group = null;
    toggle.addEventListener("click", () => {
      if (group) { group.remove(); group = null; } else {
        group = el("ul", "alwt-group");
        group.setAttribute("role", "group");
        group.append(...kids.map((k) => treeItem(k, level + 1)));
        li.append(group);
      }
      toggle.textContent = group ? "▾" : "▸";
      toggle.setAttribute("aria-label", `${group ? "collapse" : "expand"} ${tag}`);
      li.setAttribute("aria-expanded", String(!!group));
    });
    return li;
  }
  function buildTree() {
    const t = model.get("tree") || {};
    tree.replaceChildren(...(t[""] || []).map((tag) => treeItem(tag, 1)));
    tagList.replaceChildren(...[...new Set(Object.values(t).flat())].map((tag) => new Option(tag)));
  }

  // -- the spectrogram: draw events, select them, move their edges, seek ------------------
  canvas.addEventListener("mousedown", (ev) => {
    const x = view.canvasX(ev), off = model.get("clip_offset_s");
    const s = events()[selected];
    const near = (v) => Math.abs(view.tToX(v + off) - x) < 6;
    if (s && near(s.onset)) drag = { edit: selected, fixed: s.offset };
    else if (s && near(s.offset)) drag = { edit: selected, fixed: s.onset };
    else drag = { edit: -1, fixed: clipT(x), start: clipT(x) };
    ev.preventDefault();
    root.focus();
  });
  canvas.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const x = view.canvasX(ev), t = clipT(x), off = model.get("clip_offset_s");
    if (drag.span || Math.abs(x - view.tToX(drag.fixed + off)) > 3) {
      drag.span = [r3(Math.min(t, drag.fixed)), r3(Math.max(t, drag.fixed))];
      draw();
    }
  });
  const endDrag = () => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (!d.span) { // a click: select the shortest event under it, or seek
      if (d.start === undefined) return;
      const evs = events();
      const under = evs.map((e, i) => [e.offset - e.onset, i])
        .filter(([, i]) => evs[i].onset <= d.start && d.start <= evs[i].offset).sort((a, b) => a[0] - b[0]);
      if (under.length) select(under[0][1]);
      else { audio.currentTime = Math.max(0, d.start + model.get("clip_offset_s")); draw(); }
      return;
    }
    const [onset, offset] = d.span, evs = events();
    if (offset - onset < 0.005) { draw(); return; }
    if (d.edit >= 0) {
      Object.assign(evs[d.edit], { onset, offset });
      setEvents(evs, d.edit);
      say(`event ${d.edit + 1} now ${span(evs[d.edit])}`);
      return;
    }
    evs.push({ tag: current, onset, offset });
    setEvents(evs, evs.length - 1);
    if (current) say(`event ${evs.length}: ${current}, ${span({ onset, offset })}; choose another tag to change it`);
    else { say(`event ${evs.length}: ${span({ onset, offset })}; type its tag`); search.focus(); }
  };
  canvas.addEventListener("mouseup", endDrag);
  canvas.addEventListener("mouseleave", endDrag);

  root.addEventListener("keydown", (ev) => {
    const tgt = ev.target;
    if (tgt instanceof HTMLInputElement || tgt instanceof HTMLTextAreaElement) { ev.stopPropagation(); return; }
    // a held key repeats: one press is one action; Ctrl/Cmd/Alt keys belong to the browser
    if (ev.repeat || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    // Enter and Space on a button or a <summary> (the hierarchy, the suggestion form) are
    // theirs: never a submit or a play
    if ((tgt instanceof HTMLButtonElement || tgt.tagName === "SUMMARY" ||
         (tgt.closest && tgt.closest(".alwt-suggest"))) && (ev.key === "Enter" || ev.key === " ")) {
      ev.stopPropagation(); return;
    }
    const k = ev.key;
    let handled = true;
    if (k === "Enter") submit();
    else if (k === " ") player.toggle();
    else if (k === "b" || k === "B") background();
    else if (k === "d" || k === "D") doubtKey();
    else if (k === "t" || k === "T" || k === "/") { search.focus(); search.select(); }
    else if (k === "[") mark("onset");
    else if (k === "]") mark("offset");
    else if (k === "Delete" || k === "Backspace") { if (selected >= 0) remove(selected); }
    else if (k === "ArrowRight") select(selected + 1);
    else if (k === "ArrowLeft") select(Math.max(selected - 1, 0));
    else if (k === "Escape") {
      selected = -1; showEvents(); draw();
      say("no event selected: a tag chosen now is for the next events you draw");
    } else handled = false;
    if (handled) { ev.preventDefault(); ev.stopPropagation(); }
  });

  sSend.addEventListener("click", () => {
    if (!sName.value.trim()) { say("give the new class a name"); sName.focus(); return; }
    model.send({ type: "suggest", tag: sName.value, parent: sParent.value.trim(), description: sDesc.value });
  });

  function showStatus() {
    const s = model.get("status") || {};
    const done = !!s.done;
    roundEl.textContent = done ? `No clip left for ${s.labeler}: the queue is empty.` : (s.round || "");
    counts.textContent = `${s.today ?? 0} / ${s.quota ?? 0} today · ${s.left ?? 0} left · ` +
      `${s.labeler ?? ""} (group ${s.group ?? "?"})` + (s.doubts ? ` · ${s.doubts} with Doubt` : "");
    counts.classList.toggle("alwt-quota-met", (s.today ?? 0) >= (s.quota ?? Infinity));
    clipEl.textContent = done ? "" : `clip ${s.clip_id} · ${s.file} at ${Number(s.start_s).toFixed(2)} s`;
    clipEl.dataset.clipId = done ? "" : String(s.clip_id);
    root.classList.toggle("alwt-done", done);
    submitBtn.disabled = bgBtn.disabled = done;
    bgBtn.textContent = `${model.get("background")} (B)`;
    news.replaceChildren(...(s.announcements || []).map((a) => el("li", "alwt-announce", a)));
    const sug = s.suggestions || [];
    mine.replaceChildren(...sug.map((x) => el("li", "", `${x.tag}: ${x.status}`)));
    if (nSuggested !== null && sug.length > nSuggested) { sName.value = sParent.value = sDesc.value = ""; }
    nSuggested = sug.length;
    if (!done && s.clip_id !== shownClip) { selected = -1; search.value = ""; showResults(); }
    shownClip = done ? null : s.clip_id;
  }
  function showBusy() {
    root.classList.toggle("alwt-busy", !!model.get("busy"));
    if (!model.get("busy") && waiting) {
      waiting = false;
      say(model.get("error") ? `Not saved: ${model.get("error")}` : model.get("message"));
    }
  }

  model.on("change:spec change:colormap change:range_db change:spec_shape", () => { view.build(); draw(); });
  model.on("change:events", () => { showEvents(); draw(); });
  model.on("change:results", showResults);
  model.on("change:tree", buildTree);
  model.on("change:status", () => { showStatus(); showEvents(); });
  model.on("change:message", () => { if (!waiting) say(model.get("message")); });
  model.on("change:error", () => { error.textContent = model.get("error") || ""; });
  model.on("change:busy", showBusy);

  view.build(); player.load(); buildTree(); showStatus(); showEvents(); draw();
  error.textContent = model.get("error") || "";
  say(model.get("message") || "");
  return player.close;
}

export default { render };
