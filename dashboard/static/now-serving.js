// The public "now serving" screen: codes called and their station, in FR / NL / EN, refreshed every 3 s.
"use strict";
(function () {
  const LANGS = ["fr", "nl", "en"];
  const strings = {};
  let rotation = 0;
  let seen = new Set();
  let last = null;

  function t(lang, id, fields) {
    let text = (strings[lang] && strings[lang][id]) || id;
    for (const [k, v] of Object.entries(fields || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  }

  function el(id) { return document.getElementById(id); }

  function render() {
    if (!last) return;
    const lang = LANGS[rotation % LANGS.length];  // the small texts take turns; the title shows all three
    document.documentElement.lang = lang;
    const title = el("title");
    title.replaceChildren(...LANGS.map((l) => { const s = document.createElement("span"); s.textContent = t(l, "queue.now_serving.title"); return s; }));
    el("th-code").textContent = t(lang, "queue.now_serving.code");
    el("th-station").textContent = t(lang, "queue.now_serving.station");
    el("hint").textContent = last.open ? t(lang, "queue.now_serving.hint") : "";
    el("waiting").textContent = last.open && last.waiting ? t(lang, "queue.now_serving.waiting", { n: last.waiting }) : "";
    el("closed").hidden = last.open;
    el("closed").textContent = t(lang, "queue.now_serving.closed");
    const body = el("calls").querySelector("tbody");
    const rows = last.serving.map((c) => {
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
    el("none").hidden = rows.length > 0 || !last.open;
    el("none").textContent = t(lang, "queue.now_serving.none");
  }

  async function refresh() {
    try {
      const r = await fetch("/api/public/now-serving", { cache: "no-store" });
      if (r.ok) { last = await r.json(); render(); }
    } catch (e) { /* the screen keeps the last list until the controller answers again */ }
  }

  async function start() {
    await Promise.all(LANGS.map(async (lang) => {
      const r = await fetch("/now-serving/i18n/" + lang + ".json");
      strings[lang] = r.ok ? await r.json() : {};
    }));
    await refresh();
    setInterval(refresh, 3000);
    setInterval(() => { rotation += 1; render(); }, 8000);
  }
  start();
})();
