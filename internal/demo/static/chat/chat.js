// The chat demo (docs/demos.md): 1-1 messages to picked contacts, kept for
// them while they are away (docs/offline.md) and shown here when they
// wait for you, and group chats with live member presence (docs/rooms.md),
// which XMPP clients signed in to this app join too.
import { $, say, App, availabilityText } from "../common.js";

const app = new App("presenced-demo-chat", "presence:read presence:publish message rooms contacts:pick addresses", { device: "chat-demo" });
let room = null; // the room shown

function line(log, from, text, note) {
  const p = document.createElement("p");
  const who = document.createElement("span");
  who.className = "from";
  who.textContent = from + ": ";
  p.append(who, text);
  if (note) {
    const n = document.createElement("span");
    n.className = "note";
    n.textContent = " (" + note + ")";
    p.append(n);
  }
  $(log).append(p);
  $(log).scrollTop = $(log).scrollHeight;
}

function renderContacts() {
  const ul = $("contacts"), to = $("to"), chosen = to.value;
  ul.replaceChildren();
  to.replaceChildren();
  for (const h of app.contacts()) {
    const li = document.createElement("li");
    li.dataset.handle = h;
    li.dataset.availability = app.p.presence.get(h)?.availability || "unavailable";
    li.innerHTML = '<span class="who"></span><span class="state"></span>';
    li.querySelector(".who").textContent = app.name(h);
    li.querySelector(".state").textContent = availabilityText(app.p.presence.get(h));
    ul.append(li);
    to.append(new Option(app.name(h), h, false, h === chosen));
  }
  if (!ul.children.length) ul.innerHTML = "<li>Nobody yet: pick contacts.</li>";
}

function renderRoom() {
  const r = room && app.p.rooms.get(room);
  $("room").hidden = !r;
  if (!r) return;
  $("room-title").textContent = "Room " + room + " (" + r.count + " here)";
  const ul = $("occupants");
  ul.replaceChildren();
  for (const o of [...r.occupants.values()].sort((a, b) => a.nick.localeCompare(b.nick))) {
    const li = document.createElement("li");
    li.dataset.nick = o.nick;
    li.dataset.availability = o.availability;
    li.innerHTML = '<span class="who"></span><span class="state"></span>';
    li.querySelector(".who").textContent = o.nick + (o.nick === r.self.nick ? " (you)" : "");
    li.querySelector(".state").textContent = availabilityText(o);
    ul.append(li);
  }
}

$("message-form").onsubmit = async (e) => {
  e.preventDefault();
  const to = $("to").value, text = $("message-text").value;
  if (!to) return say("message-status", "Pick someone to write to first.", true);
  try {
    const r = await app.p.message(to, text);
    line("messages", "You → " + app.name(to), text, r.stored ? "kept for them until they come online" : "");
    $("message-text").value = "";
    say("message-status", r.stored ? app.name(to) + " is not online: the message waits for them." : "Sent.");
  } catch (err) {
    say("message-status", err.code === "unavailable" ? app.name(to) + " cannot be reached from this app." : "Not sent: " + err.message, true);
  }
};

$("presence-form").onsubmit = async (e) => {
  e.preventDefault();
  try {
    await app.p.setPresence({ availability: $("my-availability").value, status: $("my-status").value });
  } catch (err) {
    say("conn", "Your status was not set: " + err.message, true);
  }
};

$("join-form").onsubmit = async (e) => {
  e.preventDefault();
  const name = $("room-name").value.toLowerCase(), nick = $("room-nick").value;
  try {
    if (room && room !== name) await app.p.leave(room).catch(() => {});
    room = name;
    $("room-messages").replaceChildren();
    await app.p.join(name, nick, { history: 20 });
    say("room-status", "You are in " + name + " as " + nick + ".");
    renderRoom();
    $("room-text").focus();
  } catch (err) {
    room = null;
    renderRoom();
    say("room-status", "Could not join: " + err.message + " (" + err.code + ")", true);
  }
};

$("room-form").onsubmit = async (e) => {
  e.preventDefault();
  try {
    await app.p.sendToRoom(room, $("room-text").value);
    $("room-text").value = "";
  } catch (err) {
    say("room-status", "Not sent: " + err.message, true);
  }
};

$("leave").onclick = async () => {
  const name = room;
  room = null;
  await app.p.leave(name).catch(() => {});
  renderRoom();
  say("room-status", "You left " + name + ".");
};

const p = await app.start();
if (p) {
  for (const ev of ["snapshot", "presence", "change"]) p.addEventListener(ev, renderContacts);
  app.onpicked = renderContacts;
  renderContacts();
  p.addEventListener("message", (e) => line("messages", app.name(e.detail.from), e.detail.body));
  p.addEventListener("offline", (e) => line("messages", app.name(e.detail.from), e.detail.body,
    "sent " + new Date(e.detail.sent).toLocaleString() + ", while you were away"));
  p.addEventListener("room_message", (e) => { if (e.detail.room === room) line("room-messages", e.detail.nick, e.detail.body); });
  p.addEventListener("room_snapshot", (e) => {
    if (e.detail.room !== room) return;
    for (const m of e.detail.history || []) line("room-messages", m.nick, m.body, "earlier");
    renderRoom();
  });
  p.addEventListener("room_diff", renderRoom);
  p.addEventListener("room_left", (e) => {
    if (e.detail.room === room && !p.rooms.has(room)) { // we were removed (kicked, banned …)
      say("room-status", "You were removed from " + room + ": " + e.detail.reason + ".", true);
      room = null;
    }
    renderRoom();
  });
  $("room-nick").value = p.address ? p.address.split("@")[0] : "";
}
