// Account: the sign-ins (tokens) and the devices connected with each (live
// sessions), revoking and disconnecting them, signing out everywhere, the
// apps allowed (grants: docs/apps.md), the apps the user develops
// (js/devapps.js), and changing the password.
import { $, el, call, attempt, notice, errorWords, rerender, ago, availabilityWords, SCOPES } from "/static/js/ui.js";
import * as devapps from "/static/js/devapps.js";
import * as push from "/static/js/push.js";

let p;
let account;

const LABELS = { web: "Web page sign-in", api: "App sign-in (REST API)", cli: "Command-line token", xmpp: "XMPP app" };
const TRANSPORTS = { ws: "WebSocket", longpoll: "long-polling", xmpp: "XMPP" };

export function init(ctx) {
  p = ctx.p;
  account = ctx.account;
  $("password-user").value = account;
  $("signout-all").addEventListener("click", async () => {
    const ok = await attempt(() => call("DELETE", "/v1/auth/tokens"));
    if (ok !== undefined) {
      await p.close();
      location.hash = "";
      location.reload();
    }
  });
  $("password-form").addEventListener("submit", changePassword);
  devapps.init(ctx);
  push.init();
  $("history-on").addEventListener("change", async (e) => {
    const on = e.target.checked;
    await attempt(() => call("PUT", "/v1/history", { on }), on ? "Your message history is kept." : "Your message history is no longer kept; what it holds stays until you erase it.");
    loadHistory().catch((err) => notice(errorWords(err)));
  });
  $("history-erase").addEventListener("click", async () => {
    const r = await attempt(() => call("DELETE", "/v1/history"));
    if (r) notice(r.erased + " message" + (r.erased === 1 ? " is" : "s are") + " erased from your history.", "ok");
  });
}

async function loadHistory() {
  const { on } = await call("GET", "/v1/history");
  $("history-on").checked = on;
}

export function shown() {
  load().catch((e) => notice(errorWords(e)));
  loadGrants().catch((e) => notice(errorWords(e)));
  loadIdentities().catch((e) => notice(errorWords(e)));
  devapps.shown();
  push.shown();
  loadHistory().catch((e) => notice(errorWords(e)));
}

// identities at external providers linked to this account
// (docs/operations.md): listed, unlinked, and linked with a round trip
// through the provider
async function loadIdentities() {
  const { providers, links = [] } = await call("GET", "/web/external");
  if (!providers.length && !links.length) return;
  $("identities-section").hidden = false;
  rerender($("identities"), () => links.length ? links.map((l) =>
    el("li", { dataset: { key: l.issuer + " " + l.subject } },
      el("div", { class: "who" }, el("span", { class: "name" }, l.name), el("span", { class: "muted" }, l.email || "")),
      el("div", { class: "actions" }, el("button", { type: "button", class: "danger", "aria-label": "Unlink " + l.name,
        onclick: () => unlinkIdentity(l) }, "Unlink")))) : [el("li", { class: "muted" }, "None linked.")]);
  $("identity-links").replaceChildren(...providers.map((pr) =>
    el("button", { type: "button", class: "act-link-identity", onclick: () => linkIdentity(pr) }, "Link " + pr.name)));
}

async function linkIdentity(pr) {
  const r = await attempt(() => call("POST", "/web/external/link?issuer=" + encodeURIComponent(pr.issuer)));
  if (r && r.url) location.assign(r.url);
}

async function unlinkIdentity(l) {
  await attempt(() => call("DELETE", "/web/external/link?issuer=" + encodeURIComponent(l.issuer) + "&subject=" + encodeURIComponent(l.subject)),
    l.name + " is unlinked.");
  loadIdentities().catch((e) => notice(errorWords(e)));
}

async function loadGrants() {
  const [{ grants }, { contacts }] = await Promise.all([call("GET", "/v1/grants"), call("GET", "/v1/contacts")]);
  const book = contacts.filter((c) => c.address).sort((a, b) => (a.name || a.address).localeCompare(b.name || b.address));
  rerender($("grants"), () => grants.length ? grants.map((g) => grant(g, book)) : [el("li", { class: "muted" }, "No app.")]);
}

// the words for what a grant exposes (docs/apps.md, "What an app sees")
function sees(g) {
  const who = { none: "none of your contacts", all: "all your contacts", group: "your group “" + g.group + "”",
    picked: (g.picked || []).length + " contact" + ((g.picked || []).length === 1 ? "" : "s") + " you picked" }[g.contacts];
  return "sees " + who + (g.hidden ? "; you appear offline in it" : "") + (g.private ? "; what you do in it stays in it" : "") +
    (g.expires ? "; until " + new Date(g.expires).toLocaleDateString() : "");
}

function grant(g, book) {
  const can = g.scopes.map((s) => SCOPES[s]).filter(Boolean);
  return el("li", { class: "grant", dataset: { key: g.app.id, app: g.app.id } },
    el("div", { class: "who" },
      el("span", { class: "name" }, g.app.name),
      el("span", { class: "muted" }, can.length ? "may " + can.join(", ") : "may only know it is you"),
      el("span", { class: "muted grant-sees" }, sees(g)),
      el("details", { class: "grant-edit" },
        el("summary", { "data-action": "edit-grant" }, "Change what " + g.app.name + " sees"),
        grantForm(g, book))),
    el("div", { class: "actions" }, el("button", { type: "button", class: "act-revoke-app danger", "data-action": "revoke-app",
      "aria-label": "Revoke " + g.app.name, onclick: () => revokeGrant(g) }, "Revoke")));
}

// grantForm edits which contacts an app sees and how the user appears in
// it; the app's scopes change only on its consent page, or by revoking.
function grantForm(g, book) {
  const id = (x) => "grant-" + g.app.id + "-" + x;
  const radio = (mode, words) => el("label", {}, el("input", { type: "radio", name: id("contacts"), value: mode,
    checked: g.contacts === mode, onchange: show }), " " + words);
  const picked = new Set(g.picked || []);
  const groups = [...new Set(book.flatMap((c) => c.groups || []))].sort();
  const pick = el("fieldset", { class: "grant-picked" }, el("legend", {}, "Contacts it sees"),
    book.length ? book.map((c) => el("label", {}, el("input", { type: "checkbox", value: c.address, checked: picked.has(c.address) }),
      " " + (c.name ? c.name + " (" + c.address + ")" : c.address))) : el("p", { class: "muted" }, "No contact in your address book has a presence address."));
  const group = el("label", { class: "grant-group" }, "Group ",
    el("select", { id: id("group") }, groups.map((n) => el("option", { value: n, selected: n === g.group }, n))));
  const hidden = el("input", { type: "checkbox", id: id("hidden"), checked: g.hidden });
  const priv = el("input", { type: "checkbox", id: id("private"), checked: g.private });
  const form = el("form", { class: "card-form", "aria-label": "What " + g.app.name + " sees", onsubmit: save },
    el("fieldset", {}, el("legend", {}, "Which of your contacts " + g.app.name + " sees"),
      radio("none", "None"), radio("picked", "Those I pick"), groups.length || g.contacts === "group" ? radio("group", "A group of my address book") : null,
      radio("all", "All, as far as each lets me see them")),
    pick, group,
    el("label", {}, hidden, " Appear offline to others in " + g.app.name),
    el("label", {}, priv, " Show what I do in " + g.app.name + " only there"),
    el("div", { class: "row" }, el("button", { type: "submit", "data-action": "save-grant" }, "Save")));
  function mode() { return form.querySelector("input[name='" + id("contacts") + "']:checked")?.value; }
  function show() {
    pick.hidden = mode() !== "picked";
    group.hidden = mode() !== "group";
  }
  async function save(e) {
    e.preventDefault();
    const change = { contacts: mode(), hidden: hidden.checked, private: priv.checked };
    if (change.contacts === "picked") change.picked = [...pick.querySelectorAll("input:checked")].map((x) => x.value);
    if (change.contacts === "group") change.group = form.querySelector("select").value;
    await attempt(() => call("PATCH", "/v1/grants/" + encodeURIComponent(g.app.id), change), "What " + g.app.name + " sees is changed.");
    loadGrants().catch((err) => notice(errorWords(err)));
  }
  show();
  return form;
}

async function revokeGrant(g) {
  await attempt(() => call("DELETE", "/v1/grants/" + encodeURIComponent(g.app.id)), g.app.name + " is revoked: its sessions are ended.");
  loadGrants().catch((e) => notice(errorWords(e)));
}

async function load() {
  const [{ tokens }, { sessions }] = await Promise.all([call("GET", "/v1/auth/tokens"), call("GET", "/v1/auth/sessions")]);
  const byToken = new Map();
  for (const s of sessions) {
    const k = s.token || "password";
    if (!byToken.has(k)) byToken.set(k, []);
    byToken.get(k).push(s);
  }
  const items = tokens.sort((a, b) => (b.current - a.current) || b.created_at.localeCompare(a.created_at)).map((t) => signin(t, byToken.get(t.id) || []));
  if (byToken.has("password")) items.push(signin(null, byToken.get("password")));
  rerender($("signins"), () => items.length ? items : [el("li", { class: "muted" }, "No sign-ins.")]);
}

function signin(t, sessions) {
  const title = t ? (t.current ? "This browser" : LABELS[t.label] || "Token “" + t.label + "”") : "Signed in with the password (XMPP apps)";
  const when = t ? "signed in " + ago(t.created_at) + (t.expires_at ? ", expires " + new Date(t.expires_at).toLocaleDateString() : "") : "";
  return el("li", { class: "signin", dataset: { key: t ? t.id : "password", token: t ? t.id : "", current: t && t.current ? "true" : "" } },
    el("div", { class: "who" },
      el("span", { class: "name" }, title),
      el("span", { class: "muted" }, when),
      el("ul", { class: "devices" }, sessions.length
        ? sessions.map((s) => el("li", { dataset: { resource: s.resource } },
          el("span", {}, s.resource + " · " + (TRANSPORTS[s.transport] || s.transport) + " · " + availabilityWords(s.availability) + " · since " + ago(s.started)),
          " ",
          el("button", { type: "button", class: "act-end", "data-action": "end-" + s.resource, "aria-label": "Disconnect " + s.resource, onclick: () => end(s) }, "Disconnect")))
        : el("li", { class: "muted" }, "no device connected now"))),
    t ? el("div", { class: "actions" }, el("button", { type: "button", class: "act-revoke danger", "data-action": "revoke",
      "aria-label": (t.current ? "Sign out this browser" : "Revoke " + title), onclick: () => revoke(t) }, t.current ? "Sign out" : "Revoke")) : "");
}

async function end(s) {
  if (s.resource === p.session) {
    await p.close();
    notice("This page is disconnected. Reload to connect again.", "ok");
  } else await attempt(() => call("DELETE", "/v1/auth/sessions/" + encodeURIComponent(s.resource)), s.resource + " disconnected.");
  shown();
}

async function revoke(t) {
  if (t.current) {
    $("logout").click();
    return;
  }
  await attempt(() => call("DELETE", "/v1/auth/tokens/" + encodeURIComponent(t.id)), "Sign-in revoked: its devices are disconnected.");
  shown();
}

async function changePassword(e) {
  e.preventDefault();
  const cur = $("password-current").value, next = $("password-new").value;
  if (next !== $("password-again").value) {
    notice("The two new passwords differ.");
    return;
  }
  try {
    await call("POST", "/v1/auth/password", { password: cur, new_password: next });
  } catch (err) {
    notice(err.status === 401 ? "The current password is wrong." : errorWords(err));
    return;
  }
  // every sign-in ended with the old password, this one too: sign in again
  try {
    await call("POST", "/web/login", { address: account, password: next });
    await p.close();
    await p.connect();
  } catch (err) {
    notice("Password changed, but signing in again failed: " + errorWords(err) + " Reload the page.");
    return;
  }
  $("password-form").reset();
  $("password-user").value = account;
  notice("Password changed. Every other device has been signed out.", "ok");
  shown();
}
