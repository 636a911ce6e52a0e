// The presenced web page: sign-in, then one view per task (people, messages,
// address book, my status, account), each in its own module under js/. It
// talks the JSON protocol through the SDK like any app; REST calls use the
// session cookie plus the CSRF header (js/ui.js).
import { Presenced } from "/sdk/presenced.js";
import { $, el, call, notice, errorWords } from "/static/js/ui.js";
import * as people from "/static/js/people.js";
import * as talk from "/static/js/talk.js";
import * as book from "/static/js/book.js";
import * as me from "/static/js/me.js";
import * as account from "/static/js/account.js";

const views = { people, talk, book, me, account };

// show switches to the view named by the location's hash.
function show() {
  const name = location.hash.slice(1) in views ? location.hash.slice(1) : "people";
  for (const v of Object.keys(views)) $("view-" + v).hidden = v !== name;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  views[name].shown?.();
}

// banner shows the connection's state where it cannot be missed.
function banner(p, state, reason) {
  const c = $("conn");
  c.hidden = false;
  c.className = "conn " + state;
  c.replaceChildren();
  switch (state) {
    case "online":
      c.textContent = "online as " + p.address;
      break;
    case "connecting":
      c.textContent = "connecting…";
      break;
    case "reconnecting":
      c.textContent = "Connection lost: reconnecting… Changes you make now are not sent.";
      break;
    default: {
      c.textContent = "Disconnected" + (reason ? ": " + reason : "") + ". ";
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = "Reconnect";
      // closed for good only when the server said so or no longer takes
      // our sign-in (network trouble keeps reconnecting): start afresh,
      // which signs in again if the cookie still may
      again.addEventListener("click", () => location.reload());
      c.append(again);
    }
  }
}

async function start(account) {
  $("signin").hidden = true;
  $("me").textContent = account;
  const p = new Presenced({ device: "web", presence: { availability: "available" } });
  window.presenced = p; // handy in the console
  const ctx = { p, account, call };
  p.addEventListener("state", (e) => banner(p, e.detail.state, e.detail.reason));
  for (const v of Object.values(views)) v.init(ctx);
  try {
    await p.connect();
  } catch (e) {
    notice("Cannot connect: " + e.message);
  }
  $("logout").addEventListener("click", async () => {
    await p.close();
    await call("POST", "/web/logout").catch(() => {});
    location.hash = "";
    location.reload();
  });
  window.addEventListener("hashchange", show);
  show();
  $("app").hidden = false; // forms appear once their handlers are attached
  $("nav").hidden = false;
  $("logout").hidden = false;
}

async function main() {
  const r = await fetch("/web/session", { credentials: "same-origin" });
  if (r.ok) {
    const s = await r.json();
    await start(s.account);
    return;
  }
  const info = await (await fetch("/web/info")).json();
  const enter = (form, path, prefix) => $(form).addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await call("POST", path, { address: $(prefix + "-address").value, password: $(prefix + "-password").value });
      const s = await (await fetch("/web/session", { credentials: "same-origin" })).json();
      $(form).reset();
      await start(s.account);
    } catch (err) {
      $(prefix + "-error").textContent = errorWords(err);
    }
  });
  enter("signin-form", "/web/login", "signin");
  if (info.signup) {
    $("signup-form").hidden = false;
    $("signup-address").placeholder = "you@" + info.domain;
    enter("signup-form", "/web/signup", "signup");
  }
  await externalButtons();
  $("signin").hidden = false; // only now: a submit before the handlers would skip them
}

// externalButtons shows a "Sign in with …" link per external identity
// provider the server trusts (docs/operations.md).
async function externalButtons() {
  try {
    const { providers } = await (await fetch("/web/external")).json();
    if (!providers.length) return;
    $("external-signin").replaceChildren(...providers.map((pr) =>
      el("p", {}, el("a", { class: "button external-signin", href: pr.signin }, "Sign in with " + pr.name))));
    $("external-signin").hidden = false;
  } catch (_) { /* no buttons: the password form still works */ }
}

main();
