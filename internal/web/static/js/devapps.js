// Your apps: the apps the user develops (docs/apps.md, "Register your
// app"), through /v1/apps: register one, see its client ID, edit it, give
// it a new secret, delete it. A confidential app's secret is shown once,
// when it is made, and never again.
import { $, el, call, attempt, notice, errorWords, rerender, SCOPES } from "/static/js/ui.js";

let apps = [];
let editing = null; // the app in the form, null for a new one
let confirming = null; // { id, action } of an item asking "are you sure?"

// every app may ask for these without registering them (internal/oauth)
const EVERY_APPS = ["openid", "offline_access"];
const ASKABLE = Object.keys(SCOPES).filter((s) => !EVERY_APPS.includes(s));

export function init() {
  const box = $("devapp-scopes");
  for (const s of ASKABLE) {
    box.append(el("label", {}, el("input", { type: "checkbox", name: "devapp-scope", value: s }), " ", el("code", {}, s), " — " + SCOPES[s]));
  }
  $("devapp-new").addEventListener("click", () => edit(null));
  $("devapp-cancel").addEventListener("click", closeForm);
  $("devapp-form").addEventListener("submit", save);
  $("devapp-form").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeForm();
  });
  $("devapp-secret-copy").addEventListener("click", async () => {
    const v = $("devapp-secret-value");
    v.select();
    try {
      await navigator.clipboard.writeText(v.value);
      notice("The secret is copied.", "ok");
    } catch (_) {
      notice("Copying was refused by the browser: the secret is selected, copy it with the keyboard.");
    }
  });
  $("devapp-secret-done").addEventListener("click", () => {
    $("devapp-secret-value").value = "";
    $("devapp-secret").hidden = true;
    $("devapp-new").focus();
  });
}

export function shown() {
  load().catch((e) => notice(errorWords(e)));
}

async function load() {
  ({ apps } = await call("GET", "/v1/apps"));
  render();
}

function render() {
  rerender($("devapps"), () => apps.length ? apps.map(item) : [el("li", { class: "muted" }, "You have registered no app.")]);
}

function item(a) {
  const asks = a.scopes.filter((s) => !EVERY_APPS.includes(s));
  const c = confirming && confirming.id === a.id ? confirming.action : "";
  const question = c && el("div", { class: "confirm", id: "confirm-" + a.id }, c === "delete"
    ? "Delete " + a.name + "? Everyone signed in to it is signed out."
    : "Make a new secret? The current one stops working at once.");
  const actions = c
    ? [el("button", { type: "button", class: "danger act-confirm", "data-action": "confirm-" + c, "aria-describedby": "confirm-" + a.id,
        onclick: () => (c === "delete" ? remove(a) : rotate(a)) }, c === "delete" ? "Delete" : "New secret"),
      el("button", { type: "button", class: "act-keep", "data-action": "keep", onclick: () => ask(null) }, "Cancel")]
    : [el("button", { type: "button", class: "act-edit-app", "data-action": "edit", "aria-label": "Edit " + a.name, onclick: () => edit(a) }, "Edit"),
      a.public ? "" : el("button", { type: "button", class: "act-secret", "data-action": "secret", "aria-label": "New secret for " + a.name,
        onclick: () => ask({ id: a.id, action: "secret" }) }, "New secret"),
      el("button", { type: "button", class: "act-delete-app danger", "data-action": "delete", "aria-label": "Delete " + a.name,
        onclick: () => ask({ id: a.id, action: "delete" }) }, "Delete")];
  return el("li", { class: "devapp", dataset: { key: a.id, app: a.id } },
    el("div", { class: "who" },
      el("span", { class: "name" }, a.name),
      el("span", { class: "muted" }, a.public ? "public app (PKCE, no secret)" : "confidential app"),
      el("div", {}, "Client ID: ", el("code", { class: "client-id" }, a.id)),
      el("div", { class: "muted" }, "Redirect URIs: " + a.redirect_uris.join(", ")),
      el("div", { class: "muted" }, asks.length ? "May ask for: " + asks.join(", ") : "May ask only to sign people in"),
      a.description ? el("div", { class: "muted" }, a.description) : "",
      question),
    el("div", { class: "actions" }, actions));
}

// ask shows (or, with null, takes back) an item's "are you sure?" and
// puts the focus on its answer.
function ask(c) {
  const back = confirming;
  confirming = c;
  render();
  const id = (c || back).id;
  const li = [...$("devapps").children].find((x) => x.dataset.key === id);
  const target = li && li.querySelector(c ? "button.act-confirm" : "button." + (back.action === "delete" ? "act-delete-app" : "act-secret"));
  if (target) target.focus();
}

function edit(a) {
  editing = a;
  confirming = null;
  render();
  $("devapp-title").textContent = a ? "Edit " + a.name : "Register an app";
  $("devapp-save").textContent = a ? "Save" : "Register";
  $("devapp-name").value = a ? a.name : "";
  $("devapp-uris").value = a ? a.redirect_uris.join("\n") : "";
  for (const box of document.querySelectorAll('input[name="devapp-scope"]')) box.checked = !!a && a.scopes.includes(box.value);
  $("devapp-logo").value = (a && a.logo) || "";
  $("devapp-description").value = (a && a.description) || "";
  $("devapp-public").checked = !!a && a.public;
  $("devapp-confidential").checked = !a || !a.public;
  $("devapp-public").disabled = $("devapp-confidential").disabled = !!a;
  $("devapp-kind-fixed").hidden = !a;
  $("devapp-error").textContent = "";
  $("devapp-form").hidden = false;
  $("devapp-name").focus();
}

function closeForm() {
  const was = editing;
  editing = null;
  $("devapp-form").hidden = true;
  $("devapp-error").textContent = "";
  const li = was && [...$("devapps").children].find((x) => x.dataset.key === was.id);
  (li ? li.querySelector("button.act-edit-app") : $("devapp-new")).focus();
}

async function save(e) {
  e.preventDefault();
  const checked = [...document.querySelectorAll('input[name="devapp-scope"]:checked')].map((b) => b.value);
  const body = {
    name: $("devapp-name").value.trim(),
    redirect_uris: $("devapp-uris").value.split(/\s+/).filter(Boolean),
    // the scopes every app has stay as they were registered
    scopes: [...(editing ? editing.scopes.filter((s) => EVERY_APPS.includes(s)) : []), ...checked],
    logo: $("devapp-logo").value.trim(),
    description: $("devapp-description").value.trim(),
  };
  if (!editing) body.public = $("devapp-public").checked;
  let a;
  try {
    a = editing ? await call("PATCH", "/v1/apps/" + encodeURIComponent(editing.id), body) : await call("POST", "/v1/apps", body);
  } catch (err) {
    $("devapp-error").textContent = errorWords(err);
    return;
  }
  const created = !editing;
  const i = apps.findIndex((x) => x.id === a.id);
  if (i >= 0) apps[i] = a;
  else apps.push(a);
  apps.sort((x, y) => x.name.localeCompare(y.name) || x.id.localeCompare(y.id));
  editing = created ? null : a;
  render();
  closeForm();
  if (a.secret) showSecret(a);
  else notice(a.name + (created ? " is registered. Its client ID: " + a.id : " is saved."), "ok");
}

function showSecret(a) {
  $("devapp-secret-app").textContent = a.name;
  $("devapp-secret-id").value = a.id;
  $("devapp-secret-value").value = a.secret;
  $("devapp-secret").hidden = false;
  $("devapp-secret-title").focus();
}

async function rotate(a) {
  confirming = null;
  const r = await attempt(() => call("POST", "/v1/apps/" + encodeURIComponent(a.id) + "/secret"));
  render();
  if (r) showSecret(r);
}

async function remove(a) {
  confirming = null;
  const ok = await attempt(() => call("DELETE", "/v1/apps/" + encodeURIComponent(a.id)), a.name + " is deleted: everyone signed in to it is signed out.");
  if (ok !== undefined) apps = apps.filter((x) => x.id !== a.id);
  render();
  $("devapp-new").focus();
}
