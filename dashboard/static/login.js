"use strict";
(() => {
  let strings = {};
  const t = (id, vars = {}) => (strings[id] || id).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
  // An error answer in the chosen language: the catalog's err.<error> filled with its params;
  // the server's English message, in the generic text, only for an unknown error.
  function errorText(data) {
    for (const id of [data.reason && `err.${data.error}.${data.reason}`, data.error && `err.${data.error}`]) {
      if (id && strings[id]) return t(id, data.params || {});
    }
    return t("floor.error.failed", { reason: data.message || data.error || "?" });
  }
  const stored = () => { try { return localStorage.getItem("espace.lang"); } catch { return null; } };
  async function setLang(lang) {
    const r = await fetch(`/i18n/${lang}.json`);
    if (!r.ok) return;
    strings = await r.json();
    document.documentElement.lang = lang;
    try { localStorage.setItem("espace.lang", lang); } catch { /* private mode */ }
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const b of document.querySelectorAll(".lang")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
    document.title = `Espace — ${t("floor.login.title")}`;
  }
  for (const b of document.querySelectorAll(".lang")) b.addEventListener("click", () => setLang(b.dataset.lang));
  const nav = (navigator.language || "fr").slice(0, 2);
  setLang(stored() || (["fr", "nl", "en"].includes(nav) ? nav : "fr"));

  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const next = new URLSearchParams(location.search).get("next") || "/floor";
    const body = { login: form.login.value.trim(), password: form.password.value, next };
    let r;
    try {
      r = await fetch("/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
    } catch { error.textContent = t("floor.status.reconnecting"); return; }
    const data = await r.json().catch(() => ({}));
    if (r.ok) { location.assign(data.next || "/floor"); return; }
    error.textContent = errorText({ message: r.statusText, ...data });
    form.password.value = "";
    form.password.focus();
  });
})();
