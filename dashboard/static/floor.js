// The stewards' floor: live map, help first, actions. An ES module (t, errorText, the API and the
// site's time zone come from common.js); no build step.
import { t, has, errorText, request, setCsrf, loadStrings as fetchStrings, loadSite, hhmm } from "./common.js";

(() => {
  const STATES = ["help", "free", "in_session", "ending", "idle", "reserved", "resetting", "locked", "offline"];
  const ICONS = { free: "○", reserved: "◆", in_session: "▶", ending: "◔", idle: "☾", help: "⚑", resetting: "↻", locked: "⊘", offline: "✕" };
  const BUSY = new Set(["in_session", "ending", "idle", "resetting"]);
  const PRINTER_ICONS = { ok: "▤", low: "⚠", empty: "⚠", jam: "⚠", offline: "✕" };
  const $ = (id) => document.getElementById(id);
  let strings = {};
  const ALERT_PRINTER = new Set(["low", "empty", "jam"]);
  let me = null;
  let offset = 0; // server clock minus browser clock (s)
  const stations = new Map();
  const tiles = new Map();
  let helps = [];
  let seenHelp = null; // null until the first help list: no alarm for what was already open
  let site = { printers: [], queue_waiting: 0, grid: { w: 11, h: 8 } };
  let ws = null;
  let retry = 0;
  let sheetStation = null;
  let pending = null; // the action waiting for its confirm button
  let audio = null;
  let mapStop = false; // a tile holds the map's one tab stop

  const now = () => Date.now() / 1000 + offset;
  const can = (cap) => !!me && me.capabilities.includes(cap);
  const clockFmt = (ts) => hhmm(ts);
  function dur(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
  }

  // ------------------------------------------------------------ server
  const api = (path, body) => request(body === undefined ? "GET" : "POST", path, body);

  async function loadStrings(lang) {
    strings = await fetchStrings(`/i18n/${lang}.json`);
    document.documentElement.lang = lang;
    $("lang").value = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    document.title = `Espace — ${t("floor.title")}`;
    renderLegend();
    renderAll();
  }

  async function refreshHelp() {
    const { ok, data } = await api("/api/help");
    if (!ok) return;
    offset = data.now - Date.now() / 1000;
    helps = data.help;
    const fresh = seenHelp === null ? [] : helps.filter((h) => !seenHelp.has(h.id) && !h.taken_by);
    seenHelp = new Set(helps.map((h) => h.id));
    renderHelp();
    renderCounts();
    if (fresh.length) alarm(fresh);
  }
  let helpTimer = null;
  const helpSoon = () => { clearTimeout(helpTimer); helpTimer = setTimeout(refreshHelp, 60); };

  async function refreshSite() {
    try { const { ok, data } = await api("/api/site"); if (ok) { site = data; renderMapFrame(); renderCounts(); } } catch { /* offline: retried */ }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${proto}://${location.host}/ws/floor`);
    ws.onopen = () => { retry = 0; setConn(true); refreshHelp(); refreshSite(); };
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (typeof m.now === "number") offset = m.now - Date.now() / 1000;
      if (m.type === "snapshot") {
        stations.clear();
        for (const s of m.stations) { stations.set(s.id, s); announceEscape(s, false); }
        renderAll();
        $("clock").textContent = clockFmt(now());
        helpSoon();
        enrolSoon();  // after a reconnect: what was asked meanwhile
      } else if (m.type === "station") {
        const old = stations.get(m.station.id);
        stations.set(m.station.id, m.station);
        renderTile(m.station);
        renderCounts();
        announceEscape(m.station, true);
        if (m.station.escape || (old && old.escape)) renderEscapes();
        if (!old || old.help_since !== m.station.help_since || old.help_taken_by !== m.station.help_taken_by) helpSoon();
        if (sheetStation === m.station.id) renderSheetState();
      } else if (m.type === "printer" && site) {
        const i = site.printers.findIndex((p) => p.id === m.printer.id);
        if (i >= 0) site.printers[i] = { ...site.printers[i], ...m.printer };
        else site.printers.push(m.printer);
        renderMapFrame();
      } else if (m.type === "enrolment") {
        enrolSoon();  // a station asks to join, or was let in: the admins' list follows
      } else if (m.type === "alert" || m.type === "help") {
        helpSoon();  // a printer problem joins (or leaves) the help list like a visitor's request
      }
    };
    ws.onclose = async (e) => {
      setConn(false);
      if (e.code === 4401) {  // logged out: unless /api/me still answers (then the session lives on)
        try { await api("/api/me"); } catch { return; }  // a 401 has gone to the login page
      }
      const delay = Math.min(5000, 300 * 2 ** retry++) * (0.7 + Math.random() * 0.6);
      setTimeout(async () => {
        try { await api("/api/me"); } catch (err) { if (err.message === "login") return; }
        connect();
      }, delay);
    };
  }
  function setConn(up) {
    const c = $("conn");
    c.textContent = up ? `● ${t("floor.status.live")}` : `⟳ ${t("floor.status.reconnecting")}`;
    c.classList.toggle("down", !up);
  }

  // ------------------------------------------------------------ rendering
  function renderLegend() {
    $("legend").innerHTML = "";
    for (const s of STATES) {
      const li = document.createElement("li");
      li.innerHTML = `<span class="sw ${s}" aria-hidden="true">${ICONS[s]}</span><span></span>`;
      li.lastChild.textContent = t(`floor.state.${s}`);
      $("legend").append(li);
    }
  }

  // What a printer lacks, from its IPP reasons and marker levels: "toner (Black 7 %)", "paper".
  function supplies(p) {
    const reasons = (p.reasons || []).join(" ");
    const out = [];
    const low = (p.markers || []).filter((m) => m.level >= 0 && m.level <= 15).map((m) => `${m.name} ${m.level} %`);
    if (/toner|marker|ink|developer/.test(reasons) || low.length) out.push(t("floor.printer.supply.toner") + (low.length ? ` (${low.join(", ")})` : ""));
    if (/media/.test(reasons) && !/jam/.test(reasons)) out.push(t("floor.printer.supply.paper"));
    return out.join(", ");
  }
  function printerText(p) {
    const what = supplies(p);
    const state = t(`floor.printer.${p.state}`);
    return p.state === "low" || p.state === "empty" ? (what ? t("floor.printer.needs", { state, what }) : state) : state;
  }
  const printerOf = (id) => (site.printers || []).find((p) => p.id === id);

  // The room's layout at every width: the grid's columns as they are when they fit (>= MIN_COL px
  // each); otherwise the room is cut into bands of whole columns laid one under the other, each
  // keeping its columns' order and its rows' order (a phone sees the left half, then the right).
  const MIN_COL = 60, GAP = 6;
  let fold = { bands: 1, bw: 0, rows: null };
  function layoutMap() {
    const map = $("map");
    const w = site.grid.w, width = map.clientWidth || window.innerWidth;
    let bands = 1;
    while (bands < w && Math.ceil(w / bands) * (MIN_COL + GAP) - GAP > width) bands++;
    const bw = Math.ceil(w / bands);
    // in a fold, only the rows a band uses take room, in the room's order
    const used = Array.from({ length: bands }, () => new Set());
    const places = [...stations.values(), ...(site.printers || [])];
    for (const p of places) used[Math.floor(p.x / bw)].add(p.y);
    const rows = [];
    let next = 0;
    for (const set of used) { const m = new Map(); for (const y of [...set].sort((a, b) => a - b)) m.set(y, next++); rows.push(m); }
    fold = { bands, bw, rows: bands > 1 ? rows : null };
    map.style.gridTemplateColumns = `repeat(${bw}, minmax(0, 1fr))`;
    map.classList.toggle("folded", bands > 1);
    map.classList.toggle("compact", (width - (bw - 1) * GAP) / bw < 76);
    for (const s of stations.values()) { const el = tiles.get(s.id); if (el) place(el, s); }
    for (const p of site.printers || []) { const el = tiles.get(`printer:${p.id}`); if (el) place(el, p); }
  }
  function place(el, p) {
    const band = fold.bw ? Math.floor(p.x / fold.bw) : 0;
    el.style.gridColumn = String((fold.bw ? p.x % fold.bw : p.x) + 1);
    el.style.gridRow = String((fold.rows ? fold.rows[band].get(p.y) ?? p.y : p.y) + 1);
    el.classList.toggle("band-start", !!fold.rows && band > 0 && fold.rows[band].get(p.y) === Math.min(...fold.rows[band].values()));
  }

  function renderMapFrame() {
    const map = $("map");
    for (const p of site.printers) {
      let el = tiles.get(`printer:${p.id}`);
      if (!el) {
        el = document.createElement("div");
        el.setAttribute("role", "img");
        tiles.set(`printer:${p.id}`, el);
        map.append(el);
      }
      el.className = `tile printer ${p.state}${ALERT_PRINTER.has(p.state) ? " alert" : ""}`;
      el.dataset.printer = p.id;
      const label = printerText(p);
      el.innerHTML = `<span class="id"></span><span class="st"><span class="ico" aria-hidden="true">${PRINTER_ICONS[p.state] || "?"}</span><span class="txt"></span></span><span class="sub"></span>`;
      el.querySelector(".id").textContent = p.id;
      el.querySelector(".txt").textContent = label;
      el.querySelector(".sub").textContent = p.state !== "ok" && p.message ? p.message : "";
      el.setAttribute("aria-label", [`${t("floor.printers")}: ${p.id}`, label, p.state !== "ok" ? p.message : ""].filter(Boolean).join(", "));
    }
    layoutMap();
  }

  function subText(s, spoken = false) {
    if (s.state === "help" && s.help_taken_by) return t("floor.help.taken_by", { who: s.help_taken_by });
    if (s.state === "locked" && s.locked) return s.locked;
    if (s.state === "reserved" && s.reserved_for) return s.reserved_for;
    const parts = [];
    // seen: the countdown; heard: the end time (a name that changes every second is noise)
    if (s.session_end) parts.push(spoken ? t("floor.until", { time: clockFmt(s.session_end) }) : t("floor.time_left", { time: dur(s.session_end - now()) }));
    if (s.idle_s >= 60) parts.push(t("floor.idle_min", { min: Math.floor(s.idle_s / 60) }));
    return parts.join(" · ");
  }

  // Station problems (disk full, clock off, ...): a code from the controller, its text from the catalog
  // (floor.problem.<code>); an unknown code shows as itself. Details are for the sheet.
  // Each entry is "code: detail" (or "code").
  const problemParts = (s) => (s.problems || []).map((entry) => {
    const at = entry.indexOf(":");
    return at < 0 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1).trim()];
  });
  const problemTexts = (s) => problemParts(s).map(([code]) => {
    const key = `floor.problem.${code}`;
    return strings[key] ? t(key) : code;
  });

  // A lock-screen escape: what happened, what the station did, when (several fold into one, with a count)
  function escapeText(s) {
    const e = s.escape;
    if (!e) return "";
    const line = t("floor.escape.line", { what: t(`floor.escape.what.${e.what}`), action: t(`floor.escape.action.${e.action}`), time: clockFmt(e.at) });
    return e.count > 1 ? `${line} (${t("floor.escape.count", { n: e.count, time: clockFmt(e.first) })})` : line;
  }
  // said politely when an escape comes up on a station or turns into another kind; a flood of the same
  // only grows the count on screen (not said each time); never said for what was on the floor at load
  const saidEscapes = new Map();
  function announceEscape(s, fresh) {
    const what = s.escape ? s.escape.what : null;
    const before = saidEscapes.get(s.id) || null;
    saidEscapes.set(s.id, what);
    if (fresh && what && what !== before) $("escape-said").textContent = t("floor.escape.said", { station: s.id, text: escapeText(s) });
  }
  async function dismissEscape(station) {
    const { ok, data } = await api(`/api/stations/${encodeURIComponent(station)}/dismiss-escape`, {});
    toast(ok ? t("floor.escape.dismissed", { station }) : errorText(data));
  }
  function renderEscapes() {
    const list = $("escape-list");
    list.innerHTML = "";
    const shown = [...stations.values()].filter((s) => s.escape).sort((a, b) => b.escape.at - a.escape.at);
    $("escape-panel").hidden = shown.length === 0;
    for (const s of shown) {
      const li = document.createElement("li");
      li.className = "help-item escape-item";
      li.dataset.station = s.id;
      li.innerHTML = `<div class="row"><span class="station"></span></div><div class="what"></div><div class="btns"></div>`;
      li.querySelector(".station").textContent = `⚠ ${s.id}`;
      li.querySelector(".what").textContent = escapeText(s);
      if (can("floor.act")) {
        const b = button(t("floor.escape.dismiss"), "btn-dismiss", () => dismissEscape(s.id));
        b.setAttribute("aria-label", `${t("floor.escape.dismiss")} (${s.id})`);  // the visible words first, then which station
        li.querySelector(".btns").append(b);
      }
      list.append(li);
    }
  }

  function renderProblems(s, el) {
    let pe = el.querySelector(".prob");
    if (!pe) { pe = document.createElement("span"); pe.className = "prob"; el.append(pe); }
    const texts = [...(s.escape ? [escapeText(s)] : []), ...problemTexts(s)];
    pe.textContent = texts.length ? `⚠ ${texts.join(" · ")}` : "";
    el.classList.toggle("has-problem", texts.length > 0);
    return texts;
  }

  function renderTile(s) {
    let el = tiles.get(s.id);
    if (!el) {
      el = document.createElement("button");
      el.type = "button";
      el.dataset.station = s.id;
      el.innerHTML = `<span class="id"></span><span class="st"><span class="ico" aria-hidden="true"></span><span class="txt"></span></span><span class="sub" aria-hidden="true"></span><span class="sr said"></span>`;
      el.addEventListener("click", () => openSheet(s.id));
      el.tabIndex = mapStop ? -1 : 0;  // one tab stop for the map; arrow keys move inside it
      mapStop = true;
      tiles.set(s.id, el);
      $("map").append(el);
    }
    el.className = `tile ${s.state}`;
    el.dataset.state = s.state;
    place(el, s);
    el.querySelector(".id").textContent = s.id;
    if (s.accessible && !el.querySelector(".acc")) el.querySelector(".id").insertAdjacentHTML("afterend", `<span class="acc" aria-hidden="true">♿</span>`);
    el.querySelector(".ico").textContent = ICONS[s.state] || "?";
    el.querySelector(".txt").textContent = t(s.state === "help" ? "floor.count.help" : `floor.state.${s.state}`);
    el.querySelector(".sub").textContent = subText(s);
    el.querySelector(".said").textContent = [s.accessible ? t("floor.accessible") : "", subText(s, true)].filter(Boolean).join(", ");
    renderProblems(s, el);
  }

  // Every station in exactly one counter: the counters add up to the stations.
  function renderCounts() {
    const n = { free: 0, busy: 0, help: 0, reserved: 0, locked: 0, offline: 0 };
    for (const s of stations.values()) n[BUSY.has(s.state) ? "busy" : s.state in n ? s.state : "offline"]++;
    for (const [k, v] of Object.entries(n)) $(`n-${k}`).textContent = v;
    const printers = (site.printers || []).filter((p) => ALERT_PRINTER.has(p.state)).length;
    $("n-printers").textContent = printers;
    document.querySelector(".count.printers").hidden = printers === 0;
    document.querySelector(".count.printers").classList.toggle("on", printers > 0);
    document.querySelector(".count.help").classList.toggle("on", n.help > 0);
    const acc = site.queue_accessible || 0;
    $("queue").textContent = t("floor.queue", { n: site.queue_waiting || 0 }) + (acc ? ` · ${t("floor.queue.accessible", { n: acc })}` : "");
    document.querySelector(".count.queue").classList.toggle("on", acc > 0);
  }

  function renderHelp() {
    const list = $("help-list");
    list.innerHTML = "";
    $("help-none").hidden = helps.length > 0;
    for (const h of helps) {
      const li = document.createElement("li");
      li.className = `help-item${h.taken_by ? " taken" : ""}`;
      li.dataset.help = h.id;
      li.dataset.station = h.station;
      li.innerHTML = `<div class="row"><span class="station"></span><span class="wait"></span></div><div class="by"></div><div class="btns"></div>`;
      const printer = h.kind === "printer" ? printerOf(h.station) : null;
      li.querySelector(".station").textContent = printer
        ? `⚠ ${h.station} — ${printerText(printer)}`  // what to bring: paper, toner, or hands for a jam
        : `⚑ ${h.station}`;
      if (printer && printer.message) li.querySelector(".by").insertAdjacentElement("beforebegin", Object.assign(document.createElement("div"), { className: "said-printer", textContent: printer.message }));
      if (h.lang) {  // the visitor's language, before the steward walks over
        const l = Object.assign(document.createElement("span"), { className: "lang-badge", lang: h.lang, textContent: h.lang.toUpperCase() });
        l.title = has(`lang.${h.lang}`) ? t(`lang.${h.lang}`) : h.lang;
        l.setAttribute("aria-label", t("floor.help.lang", { lang: l.title }));
        li.querySelector(".station").after(l);
      }
      li.querySelector(".wait").dataset.since = h.requested;
      li.querySelector(".by").textContent = h.taken_by ? t("floor.help.taken_by", { who: h.taken_by }) : "";
      if (can("floor.act")) {
        const btns = li.querySelector(".btns");
        if (!h.taken_by) btns.append(button(t("floor.help.take"), "btn-take", () => helpAction(h, "take")));
        btns.append(button(t("floor.help.done"), "btn-done", () => helpAction(h, "done")));
      }
      list.append(li);
    }
    tickHelp();
  }
  function tickHelp() {
    for (const w of document.querySelectorAll(".help-item .wait")) w.textContent = t("floor.help.waiting", { time: dur(now() - Number(w.dataset.since)) });
  }

  function renderAll() {
    for (const s of stations.values()) renderTile(s);
    renderMapFrame();
    renderCounts();
    renderHelp();
    renderEscapes();
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  // ------------------------------------------------------------ alerts
  function alarm(fresh) {
    const said = fresh.map((h) => {
      const printer = h.kind === "printer" ? printerOf(h.station) : null;
      return printer ? t("floor.printer.alert", { printer: h.station, what: printerText(printer) }) : t("floor.help.new", { station: h.station });
    });
    $("alert").textContent = said.join(" ");
    const panel = $("help-panel");
    panel.classList.remove("flash");
    void panel.offsetWidth;
    panel.classList.add("flash");
    if ($("sound").checked) beep();
  }
  function unlockAudio() {
    if (!audio && window.AudioContext) audio = new AudioContext();
    if (audio && audio.state === "suspended") audio.resume();
  }
  function beep() {
    unlockAudio();
    if (!audio) return;
    const t0 = audio.currentTime;
    for (const [i, f] of [[0, 880], [1, 660], [2, 880]]) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = f;
      g.gain.setValueAtTime(0.0001, t0 + i * 0.18);
      g.gain.exponentialRampToValueAtTime(0.3, t0 + i * 0.18 + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.18 + 0.16);
      o.connect(g).connect(audio.destination);
      o.start(t0 + i * 0.18);
      o.stop(t0 + i * 0.18 + 0.17);
    }
  }
  let toastTimer = null;
  function toast(text) {
    const el = $("toast");
    el.textContent = text;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  // ------------------------------------------------------------ actions
  // ------------------------------------------------------------ new stations (admins)
  let enrolments = [], enrolTimer = null;
  const enrolSoon = () => { clearTimeout(enrolTimer); enrolTimer = setTimeout(refreshEnrol, 60); };
  async function refreshEnrol() {
    if (!can("admin")) { $("enrol-panel").hidden = true; return; }
    const { ok, data } = await api("/api/enrolments");
    if (!ok) return;
    enrolments = data.enrolments;
    renderEnrol();
  }
  let enrolConfirm = null; // the request whose re-enrolment waits for its confirm button
  function renderEnrol() {
    const list = $("enrol-list");
    list.innerHTML = "";
    $("enrol-panel").hidden = enrolments.length === 0;
    const perStation = {};
    for (const e of enrolments) perStation[e.station] = (perStation[e.station] || 0) + 1;
    for (const e of enrolments) {
      const li = document.createElement("li");
      li.className = `help-item enrol-item${e.status === "approved" ? " approved" : ""}${e.reenrol ? " reenrol" : ""}`;
      li.dataset.station = e.station;
      li.dataset.code = e.fingerprint;
      li.innerHTML = `<div class="row"><span class="station"></span><span class="code"></span></div><div class="kind"></div><div class="host"></div><div class="note"></div><div class="btns"></div>`;
      li.querySelector(".station").textContent = e.station;
      const code = li.querySelector(".code");
      code.textContent = e.fingerprint;
      code.title = t("floor.enrol.code", { code: e.fingerprint });
      // a re-enrolment would take the token of a station that has one: said before anything else
      const kind = li.querySelector(".kind");
      if (e.reenrol) kind.textContent = t(e.connected ? "floor.enrol.reenrol_connected" : "floor.enrol.reenrol");
      else if (perStation[e.station] > 1) kind.textContent = t("floor.enrol.several", { n: perStation[e.station] });
      kind.hidden = !kind.textContent;
      li.querySelector(".host").textContent = [e.hostname, e.platform, e.mac, e.peer && t("floor.enrol.from", { peer: e.peer })].filter(Boolean).join(" · ");
      li.querySelector(".note").textContent = t(e.status === "approved" ? "floor.enrol.approved" : "floor.enrol.check");
      if (e.status === "pending") {
        const btns = li.querySelector(".btns");
        if (e.reenrol && enrolConfirm === e.id) {
          btns.append(button(t("floor.enrol.confirm_reenrol"), "btn-approve btn-confirm", () => { enrolConfirm = null; enrolAction(e, "approve", true); }));
          btns.append(button(t("floor.enrol.keep"), "btn-keep", () => { enrolConfirm = null; renderEnrol(); }));
        } else {
          btns.append(button(t("floor.enrol.approve"), "btn-approve", () => {
            if (e.reenrol) { enrolConfirm = e.id; renderEnrol(); } else enrolAction(e, "approve", false);
          }));
          btns.append(button(t("floor.enrol.reject"), "btn-reject", () => enrolAction(e, "reject", false)));
        }
      }
      list.append(li);
    }
  }
  async function enrolAction(e, what, reenrol) {
    // the approval names the code the admin compared: only that key collects the token
    const body = what === "approve" ? { code: e.fingerprint, reenrol } : { code: e.fingerprint };
    const { ok, data } = await api(`/api/enrolments/${encodeURIComponent(e.station)}/${what}`, body);
    if (!ok) toast(errorText(data));
    refreshEnrol();
  }

  async function helpAction(h, what) {
    const { ok, data } = await api(`/api/help/${encodeURIComponent(h.id)}/${what}`, {});
    if (!ok) toast(errorText(data));
    refreshHelp();
  }

  function actionsFor(s) {
    const out = [];
    if (!can("floor.act")) return out;
    const live = s.state !== "offline";
    if (s.session_end && live) out.push(["extend", "floor.action.extend", null], ["end", "floor.action.end", "floor.reason"], ["message", "floor.action.message", "floor.message_text"]);
    else if (live && (s.state === "free" || s.state === "reserved")) out.push(["open", "floor.action.open", null], ["message", "floor.action.message", "floor.message_text"]);
    if (s.state === "locked" || s.locked) out.push(["unlock", "floor.action.unlock", "floor.reason"]);
    else out.push(["lock", "floor.action.lock", "floor.reason"]);
    if (s.escape) out.unshift(["dismiss-escape", "floor.escape.dismiss", null]);
    if (can("admin")) out.push(["revoke", "floor.action.revoke", null]);
    return out;
  }

  function renderSheetState() {
    const s = stations.get(sheetStation);
    if (!s) return;
    const bits = [`${ICONS[s.state]} ${t(`floor.state.${s.state}`)}`];
    if (s.session_end) bits.push(t("floor.until", { time: clockFmt(s.session_end) }));
    const sub = subText(s);
    if (sub) bits.push(sub);
    if (s.escape) bits.push(`⚠ ${escapeText(s)}`);
    const parts = problemParts(s);
    for (const [i, text] of problemTexts(s).entries()) {
      const detail = parts[i][1];
      bits.push(`⚠ ${text}${detail ? ` (${detail})` : ""}`);
    }
    $("sheet-state").textContent = bits.join(" · ");
  }

  function openSheet(id) {
    const s = stations.get(id);
    if (!s) return;
    sheetStation = id;
    pending = null;
    $("sheet-title").textContent = t("floor.action.title", { station: id });
    renderSheetState();
    $("sheet-error").textContent = "";
    $("sheet-input").hidden = true;
    const box = $("sheet-actions");
    box.innerHTML = "";
    $("sheet-view-only").hidden = can("floor.act");
    for (const [name, label, input] of actionsFor(s)) {
      const b = button(t(label), ["end", "lock"].includes(name) ? "danger" : "", () => choose(name, label, input, b));
      b.dataset.action = name;
      b.setAttribute("aria-pressed", "false");
      box.append(b);
    }
    $("sheet").showModal();
    (box.querySelector("button") || $("sheet").querySelector(".close")).focus();
  }

  function choose(name, label, input, btn) {
    for (const b of $("sheet-actions").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === btn));
    pending = name;
    $("sheet-error").textContent = "";
    $("sheet-input").hidden = false;
    const text = $("sheet-text");
    text.hidden = !input;
    $("sheet-input-label").hidden = !input;
    $("sheet-input-label").textContent = input ? t(input) : "";
    text.value = "";
    $("override-row").hidden = name !== "extend";
    $("sheet-hint").hidden = name !== "revoke";
    $("sheet-hint").textContent = name === "revoke" ? t("floor.revoke.warning") : "";
    $("override").checked = false;
    $("sheet-confirm").textContent = name === "message" ? t("floor.action.send") : t(label);
    (input ? text : $("sheet-confirm")).focus();
  }

  async function confirmAction() {
    if (!pending || !sheetStation) return;
    const name = pending, station = sheetStation;
    const value = $("sheet-text").value.trim();
    const body = {};
    if (name === "message") body.text = value;
    if (["end", "lock", "unlock"].includes(name)) body.reason = value;
    if (name === "extend") body.override = $("override").checked;
    if ((name === "end" || name === "lock" || name === "message") && !value) {
      $("sheet-text").focus();
      $("sheet-text").setAttribute("aria-invalid", "true");
      $("sheet-error").textContent = t(name === "message" ? "floor.error.no_message" : "floor.error.no_reason");
      return;
    }
    $("sheet-text").removeAttribute("aria-invalid");
    $("sheet-confirm").disabled = true;
    try {
      const { ok, status, data } = await api(`/api/stations/${encodeURIComponent(station)}/${name}`, body);
      if (ok) {
        $("sheet").close();
        const label = $("sheet-confirm").textContent;
        toast(status === 202 ? t("floor.result.later", { station }) : t("floor.result.ok", { action: label, station }));
      } else {
        // a 503 that is not our JSON answer (a proxy's) still means the station could not be reached
        $("sheet-error").textContent = errorText(status === 503 && !data.error ? { error: "offline", params: { station } } : data);
      }
    } finally {
      $("sheet-confirm").disabled = false;
    }
  }

  // ------------------------------------------------------------ keyboard on the map
  const ARROWS = { ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowDown: [0, 1], ArrowUp: [0, -1] };
  function moveFocus(e) {
    const from = e.target.closest("#map button.tile");
    if (!from) return;
    const all = [...$("map").querySelectorAll("button.tile")];
    let to = null;
    if (e.key === "Home") to = all[0];
    else if (e.key === "End") to = all[all.length - 1];
    else if (ARROWS[e.key]) {
      const [dx, dy] = ARROWS[e.key];
      const c = (el) => { const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
      const [fx, fy] = c(from);
      let best = Infinity;
      for (const el of all) {
        if (el === from) continue;
        const [x, y] = c(el);
        const along = (x - fx) * dx + (y - fy) * dy, across = Math.abs((x - fx) * dy) + Math.abs((y - fy) * dx);
        if (along <= 1) continue;
        const score = along + across * 3;  // straight on first, then the nearest beside
        if (score < best) { best = score; to = el; }
      }
    }
    if (!to) return;
    e.preventDefault();
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  }

  // ------------------------------------------------------------ start
  async function main() {
    document.addEventListener("pointerdown", unlockAudio, { once: true });
    document.addEventListener("keydown", unlockAudio, { once: true });
    $("sheet-confirm").addEventListener("click", confirmAction);
    $("sheet").addEventListener("close", () => { sheetStation = null; pending = null; });
    $("logout").addEventListener("click", async () => { try { await api("/logout", {}); } finally { location.assign("/login"); } });
    $("lang").addEventListener("change", async () => {
      const lang = $("lang").value;
      await api("/api/me/lang", { lang });
      const { data } = await api("/api/me");
      me = data;
      await loadStrings(lang);
      setConn(ws && ws.readyState === WebSocket.OPEN);
    });
    me = (await api("/api/me")).data;
    setCsrf(me.csrf);
    // sound alerts are for those who walk over: on for stewards, off for a role that only watches
    const stored = localStorage.getItem(`espace.sound.${me.login}`);
    $("sound").checked = stored === null ? can("floor.act") : stored === "1";
    $("sound").addEventListener("change", () => localStorage.setItem(`espace.sound.${me.login}`, $("sound").checked ? "1" : "0"));
    $("map").addEventListener("keydown", moveFocus);
    new ResizeObserver(() => layoutMap()).observe($("map"));
    $("menu").addEventListener("click", () => {
      const open = $("menu").getAttribute("aria-expanded") !== "true";
      $("menu").setAttribute("aria-expanded", String(open));
      document.querySelector(".top").classList.toggle("open", open);
    });
    loadSite().then(() => { $("clock").textContent = clockFmt(now()); });
    for (const a of document.querySelectorAll("nav.pages a[data-cap]")) a.hidden = !can(a.dataset.cap); // the other pages this role may open
    $("who").textContent = t("floor.signed_in", { login: me.login });
    await loadStrings(me.lang);
    $("who").textContent = t("floor.signed_in", { login: me.login });
    await refreshSite();
    refreshEnrol();
    connect();
    const tick = () => { $("clock").textContent = clockFmt(now()); };
    tick();
    setInterval(() => {
      tick();
      for (const s of stations.values()) if (s.session_end || s.state === "help") renderTile(s);
      tickHelp();
    }, 1000);
    setInterval(refreshSite, 20000);
  }
  main();
})();
