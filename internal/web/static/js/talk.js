// Messages: one conversation per contact, unread counts, sending. The
// server does not keep message history; this tab keeps what it sent and
// received in sessionStorage, so a reload keeps the conversations and
// closing the tab forgets them.
import { $, el, bus, rerender, bare, time, errorWords, notice } from "/static/js/ui.js";
import { nameOf } from "/static/js/book.js";

let p;
let key;
let talks = {}; // bare address → { messages: [{dir, body, sent, status}], unread }
let current = null;

export function unread(address) {
  return (talks[address] && talks[address].unread) || 0;
}

function save() {
  try {
    sessionStorage.setItem(key, JSON.stringify(talks));
  } catch (_) { /* full or disabled: keep them in memory */ }
}

function changed() {
  save();
  const total = Object.values(talks).reduce((n, t) => n + t.unread, 0);
  const b = $("unread-count");
  b.textContent = total;
  b.hidden = !total;
  b.setAttribute("aria-label", total + " unread");
  document.title = (total ? "(" + total + ") " : "") + "presenced";
  bus.dispatchEvent(new Event("unread"));
  render();
}

function talk(address) {
  return (talks[address] ||= { messages: [], unread: 0 });
}

function reading() {
  return current && !$("view-talk").hidden && document.visibilityState === "visible";
}

export function init(ctx) {
  p = ctx.p;
  key = "presenced-talk:" + ctx.account;
  try {
    talks = JSON.parse(sessionStorage.getItem(key)) || {};
  } catch (_) {
    talks = {};
  }
  p.addEventListener("message", (e) => {
    const m = e.detail;
    const from = bare(m.from);
    const t = talk(from);
    t.messages.push({ dir: "in", body: m.body, sent: m.sent || new Date().toISOString() });
    if (!(reading() && current === from)) t.unread++;
    changed();
  });
  bus.addEventListener("names", render);
  document.addEventListener("visibilitychange", () => shown());
  $("send-form").addEventListener("submit", send);
  $("new-talk-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const a = $("new-talk-address").value.trim().toLowerCase();
    $("new-talk-address").value = "";
    open(a);
  });
  changed();
}

// open shows the conversation with address.
export function open(address) {
  current = address;
  talk(address);
  if (location.hash !== "#talk") location.hash = "#talk";
  else shown();
  $("send-body").focus();
}

export function shown() {
  if (reading() && talks[current] && talks[current].unread) {
    talks[current].unread = 0;
    changed();
  } else render();
}

async function send(e) {
  e.preventDefault();
  const to = current;
  const body = $("send-body").value;
  if (!to || !body.trim()) return;
  const m = { dir: "out", body, sent: new Date().toISOString(), status: "sending" };
  talk(to).messages.push(m);
  $("send-body").value = "";
  changed();
  try {
    const r = await p.message(to, body);
    m.status = r.delivered ? "delivered" : "not delivered";
  } catch (err) {
    m.status = "not sent: " + errorWords(err);
    notice(errorWords(err));
  }
  changed();
}

function render() {
  const addresses = Object.keys(talks).sort((x, y) => last(talks[y]).localeCompare(last(talks[x])));
  rerender($("conversations"), () => addresses.length
    ? addresses.map((a) => el("li", { dataset: { key: a, address: a }, class: a === current ? "current" : "" },
      el("button", { type: "button", class: "conv", "data-action": "open", "aria-current": a === current ? "true" : false, onclick: () => open(a) },
        el("span", { class: "name" }, nameOf(a)),
        talks[a].unread ? el("span", { class: "badge unread" }, String(talks[a].unread), el("span", { class: "visually-hidden" }, " unread")) : "")))
    : [el("li", { class: "muted" }, "No conversations yet.")]);
  $("send-form").hidden = !current;
  if (!current) return;
  $("conversation-title").textContent = "With " + nameOf(current);
  const msgs = talks[current].messages;
  $("messages").replaceChildren(...msgs.map((m) => el("div", { class: "msg " + m.dir },
    el("span", { class: "visually-hidden" }, m.dir === "in" ? nameOf(current) + ": " : "You: "),
    el("span", { class: "body" }, m.body),
    el("span", { class: "meta" }, time(m.sent) + (m.status && m.status !== "delivered" ? " · " + m.status : "")))));
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}

function last(t) {
  const m = t.messages[t.messages.length - 1];
  return m ? m.sent : "";
}
