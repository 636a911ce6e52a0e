// People: requests to answer, contacts with live presence and what they
// share, everything one can do about a contact, adding one, the block list.
import { $, el, attempt, notice, bus, rerender, availabilityWords, relationWords, personalWords, ago } from "/static/js/ui.js";
import { nameOf, cardFor, createCard } from "/static/js/book.js";
import { unread, open as openTalk } from "/static/js/talk.js";

let p;
let account;

export function init(ctx) {
  p = ctx.p;
  account = ctx.account;
  p.addEventListener("change", render);
  bus.addEventListener("names", render);
  bus.addEventListener("unread", render);

  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const address = $("add-address").value.trim().toLowerCase();
    if (address === account) {
      notice("That is your own address: add someone else.");
      return;
    }
    const name = $("add-name").value.trim();
    const ok = await attempt(async () => {
      // the request first: a refused one (the server's address rules are
      // wider than this page's check, e.g. full-width letters) leaves no card
      await p.subscribe(address);
      if (!cardFor(address)) await createCard({ name: name || address, address });
      if ($("add-share").checked) await p.approve(address);
      return true;
    }, "Request sent to " + address + ": they appear once they approve.");
    if (ok) {
      $("add-address").value = "";
      $("add-name").value = "";
    }
  });
  $("block-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const address = $("block-address").value.trim().toLowerCase();
    if (await attempt(() => p.block(address), address + " is blocked.")) $("block-address").value = "";
  });
}

// action is a button that runs an SDK call about address and says what it did.
function action(name, label, f, done, cls = "") {
  return el("button", { type: "button", class: "act-" + name + (cls ? " " + cls : ""), "data-action": name, onclick: () => attempt(f, done) }, label);
}

function requestItem(s) {
  const a = s.address;
  return el("li", { dataset: { address: a, key: a } },
    el("div", { class: "who" }, el("span", { class: "name" }, nameOf(a)), el("span", { class: "muted" }, " wants to see your presence")),
    el("div", { class: "actions" },
      // approving also asks back, so both see each other (granted at once if they pre-approved us)
      action("approve", "Approve", async () => { await p.approve(a); await p.subscribe(a); }, "You and " + a + " can now see each other.", "approve primary"),
      action("deny", "Deny", () => p.deny(a), "Request from " + a + " denied.", "deny"),
      action("block", "Block", () => p.block(a), a + " is blocked.")));
}

function contactItem(a) {
  const s = p.subscriptions.get(a);
  const see = s.subscription === "to" || s.subscription === "both";
  const seen = s.subscription === "from" || s.subscription === "both";
  const hidden = (p.privacy.hidden || []).includes(a);
  const pr = p.presence.get(a) || { availability: "unavailable" };
  const av = see ? pr.availability : s.pending_out ? "pending" : "unknown";
  const detail = [];
  if (see) {
    detail.push(availabilityWords(pr.availability));
    if (pr.status) detail.push(pr.status);
    if (pr.activity) detail.push(pr.activity.kind + (pr.activity.detail ? ": " + pr.activity.detail : ""));
  }
  const rel = relationWords(s);
  const pes = see ? personalWords(p.personal.get(a)) : [];
  const n = unread(a);
  const name = nameOf(a);
  const more = [];
  if (see) more.push(action("unsubscribe", "Stop seeing them", () => p.unsubscribe(a), "You no longer see " + a + "."));
  else if (s.pending_out) more.push(action("cancel", "Cancel request", () => p.unsubscribe(a), "Request to " + a + " cancelled."));
  else more.push(action("subscribe", "Ask to see them", () => p.subscribe(a), "Request sent to " + a + "."));
  if (seen) more.push(action("deny", "Stop sharing with them", () => p.deny(a), a + " no longer sees you."));
  else if (!s.preapproved) more.push(action("approve", "Let them see me", () => p.approve(a), a + " may now see you."));
  if (hidden) more.push(action("unhide", "Stop hiding", () => p.unhide(a), a + " sees your presence again."));
  else more.push(action("hide", "Hide from them", () => p.hide(a), "You appear offline to " + a + "."));
  more.push(action("block", "Block", () => p.block(a), a + " is blocked."));
  more.push(action("remove", "Remove", () => p.remove(a), a + " removed: neither of you sees the other."));
  return el("li", { dataset: { address: a, availability: av, key: a } },
    el("span", { class: "dot " + av, "aria-hidden": "true" }),
    el("div", { class: "who" },
      el("span", { class: "name" }, name),
      name !== a ? el("span", { class: "muted address" }, a) : "",
      el("span", { class: "availability visually-hidden" }, av),
      el("div", { class: "status" }, detail.join(" — ")),
      pes.length ? el("div", { class: "personal" }, pes.map((x) => el("span", { class: "pe " + x.topic }, x.text))) : "",
      rel ? el("div", { class: "relation muted" }, rel) : "",
      hidden ? el("div", { class: "hidden-note muted" }, "you appear offline to them") : "",
      see && pr.last_seen && pr.availability === "unavailable" ? el("div", { class: "lastseen" }, "last seen " + ago(pr.last_seen)) : ""),
    el("div", { class: "actions" },
      see ? el("button", { type: "button", class: "act-message", "data-action": "message", onclick: () => openTalk(a) },
        "Message", n ? el("span", { class: "badge unread", "aria-label": n + " unread" }, String(n)) : "") : "",
      el("details", { class: "menu" }, el("summary", { "aria-label": "More for " + name }, "More"), el("div", { class: "menu-items" }, more))));
}

function render() {
  const reqs = [...p.subscriptions.values()].filter((s) => s.pending_in);
  rerender($("requests"), () => reqs.length ? reqs.map(requestItem) : [el("li", { class: "muted" }, "No requests.")]);
  const rc = $("requests-count");
  rc.textContent = reqs.length;
  rc.hidden = !reqs.length;
  rc.setAttribute("aria-label", reqs.length + " requests");

  const addresses = [...p.subscriptions.values()]
    .filter((s) => s.subscription !== "none" || s.pending_out || s.preapproved)
    .map((s) => s.address)
    .sort((x, y) => nameOf(x).localeCompare(nameOf(y)));
  rerender($("contacts"), () => addresses.length ? addresses.map(contactItem) : [el("li", { class: "muted" }, "No contacts yet: add one below.")]);

  const blocks = p.privacy.blocks || [];
  rerender($("blocks"), () => blocks.length
    ? blocks.map((a) => el("li", { dataset: { address: a, key: a } }, el("span", { class: "name" }, nameOf(a)),
      el("div", { class: "actions" }, action("unblock", "Unblock", () => p.unblock(a), a + " is no longer blocked."))))
    : [el("li", { class: "muted" }, "Nobody is blocked.")]);
}
