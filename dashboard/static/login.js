// The staff login: language buttons, the form, and each role's own first page.
import { t, errorText, loadStrings } from "./common.js";

// Where a role lands when no page asked for the login: the back office on its reports (it has
// nothing to do on the floor), stewards and admins on the floor.
const LANDING = { backoffice: "/reports" };

const stored = () => { try { return localStorage.getItem("espace.lang"); } catch { return null; } };
async function setLang(lang) {
  await loadStrings(`/i18n/${lang}.json`);
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
  const asked = new URLSearchParams(location.search).get("next");
  const body = { login: form.login.value.trim(), password: form.password.value, next: asked || "/floor" };
  let r;
  try {
    r = await fetch("/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
  } catch { error.textContent = t("floor.status.reconnecting"); return; }
  const data = await r.json().catch(() => ({}));
  if (r.ok) {
    const role = data.me && data.me.role;
    location.assign(asked ? data.next || "/floor" : LANDING[role] || data.next || "/floor");
    return;
  }
  error.textContent = errorText({ message: r.statusText, ...data });
  form.password.value = "";
  form.password.focus();
});
