// The public "now serving" screen: codes called and their station, newest first, as many as fit
// above the "type your ticket" line (which always shows), in FR / NL / EN, refreshed every 3 s.
import { t, setStrings, loadStrings } from "./common.js";

const LANGS = ["fr", "nl", "en"];
const strings = {};
let rotation = 0;
let seen = new Set();
let last = null;
const el = (id) => document.getElementById(id);
const say = (lang, id, fields) => { setStrings(strings[lang]); return t(id, fields); };

function render() {
  if (!last) return;
  const lang = LANGS[rotation % LANGS.length];  // the small texts take turns; the title shows all three
  document.documentElement.lang = lang;
  el("title").replaceChildren(...LANGS.map((l) => { const s = document.createElement("span"); s.lang = l; s.textContent = say(l, "queue.now_serving.title"); return s; }));
  el("th-code").textContent = say(lang, "queue.now_serving.code");
  el("th-station").textContent = say(lang, "queue.now_serving.station");
  el("hint").textContent = last.open ? say(lang, "queue.now_serving.hint") : "";
  el("waiting").textContent = last.open && last.waiting ? say(lang, "queue.now_serving.waiting", { n: last.waiting }) : "";
  el("closed").hidden = last.open;
  el("closed").textContent = say(lang, "queue.now_serving.closed");
  const body = el("calls").querySelector("tbody");
  const newest = [...last.serving].reverse();  // the server lists the oldest call first
  const rows = newest.map((c) => {
    const tr = document.createElement("tr");
    if (!seen.has(c.code)) tr.className = "new";
    const code = document.createElement("td"); code.className = "code"; code.textContent = c.code;
    const station = document.createElement("td"); station.textContent = c.station;
    tr.append(code, station);
    return tr;
  });
  body.replaceChildren(...rows);
  seen = new Set(last.serving.map((c) => c.code));
  el("calls").hidden = rows.length === 0;
  // as many of the newest as fit above the footer; the older ones are counted, not cut in half
  const box = el("calls-box");
  let hidden = 0;
  while (body.rows.length > 1 && el("calls").offsetHeight > box.clientHeight) { body.lastElementChild.remove(); hidden++; }
  el("more").textContent = hidden ? say(lang, "queue.now_serving.more", { n: hidden }) : "";
  el("none").hidden = rows.length > 0 || !last.open;
  el("none").textContent = say(lang, "queue.now_serving.none");
}

async function refresh() {
  try {
    const r = await fetch("/api/public/now-serving", { cache: "no-store" });
    if (r.ok) { last = await r.json(); render(); }
  } catch (e) { /* the screen keeps the last list until the controller answers again */ }
}

async function start() {
  for (const lang of LANGS) strings[lang] = { ...(await loadStrings("/now-serving/i18n/" + lang + ".json")) };
  await refresh();
  setInterval(refresh, 3000);
  setInterval(() => { rotation += 1; render(); }, 8000);
  addEventListener("resize", render);
}
start();
