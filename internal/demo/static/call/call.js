// The calling demo (docs/demos.md): pick contacts, see who is online, ring
// one, and carry the WebRTC offer, answer and ICE candidates as signals of
// the call (the SDK's call API, docs/calls.md).
import { $, say, App, availabilityText } from "../common.js";

const app = new App("presenced-demo-call", "presence:read presence:publish signal contacts:pick", { device: "call-demo", calls: true });
let call = null; // the call shown, if any
let pc = null;

const endedWords = { declined: "declined", busy: "busy", cancelled: "cancelled", hangup: "hung up", timeout: "no answer",
  answered_elsewhere: "answered elsewhere (on another of your devices)", gone: "the other side went away" };

function render() {
  const ul = $("contacts");
  ul.replaceChildren();
  for (const h of app.contacts()) {
    const li = document.createElement("li");
    li.dataset.handle = h;
    li.dataset.availability = app.p.presence.get(h)?.availability || "unavailable";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = app.name(h);
    const state = document.createElement("span");
    state.className = "state";
    state.textContent = availabilityText(app.p.presence.get(h));
    const btn = document.createElement("button");
    btn.className = "call";
    btn.textContent = "Call";
    btn.setAttribute("aria-label", "Call " + app.name(h));
    btn.disabled = !!call;
    btn.onclick = () => dial(h);
    li.append(who, state, btn);
    ul.append(li);
  }
  if (!ul.children.length) ul.innerHTML = "<li>Nobody yet: pick contacts.</li>";
}

function buttons(answering, inCall) {
  $("answer").hidden = $("decline").hidden = !answering;
  $("hangup").hidden = !inCall;
  for (const b of document.querySelectorAll("button.call")) b.disabled = answering || inCall;
}

function showMedia(state) {
  $("media-state").textContent = state;
  $("media-state").dataset.state = state;
}

// follow keeps the page in step with a call until it ends.
function follow(c) {
  call = c;
  c.addEventListener("ended", (e) => {
    if (call !== c) return;
    say("call-status", "Call ended: " + (endedWords[e.detail.reason] || e.detail.reason) + ".");
    hangUpMedia();
    call = null;
    buttons(false, false);
  });
}

function hangUpMedia() {
  if (pc) pc.close();
  pc = null;
  for (const v of [$("local"), $("remote")]) {
    v.srcObject?.getTracks?.().forEach((t) => t.stop());
    v.srcObject = null;
  }
}

// media sets up the peer connection of call c; the caller makes the offer.
function media(c, offerer) {
  const conn = new RTCPeerConnection({ iceServers: [] }); // host candidates: a demo on one network
  pc = conn;
  conn.onconnectionstatechange = () => {
    showMedia(conn.connectionState);
    if (conn.connectionState === "connected" && call === c) say("call-status", "In a call with " + app.name(c.peer) + ".");
  };
  conn.ontrack = (e) => { $("remote").srcObject = e.streams[0] || new MediaStream([e.track]); };
  conn.onicecandidate = (e) => { if (e.candidate) c.signal({ candidate: e.candidate.toJSON() }).catch(() => {}); };
  const early = []; // candidates that came before the remote description
  let chain = navigator.mediaDevices.getUserMedia({ audio: true, video: true }).then((s) => {
    $("local").srcObject = s;
    for (const t of s.getTracks()) conn.addTrack(t, s);
  }, () => { // no camera or microphone: receive only
    conn.addTransceiver("audio", { direction: "recvonly" });
    conn.addTransceiver("video", { direction: "recvonly" });
  });
  const step = (f) => { chain = chain.then(f).catch((err) => say("call-status", "Media: " + err.message, true)); };
  c.addEventListener("signal", (e) => step(async () => {
    const d = e.detail.data || {};
    if (d.sdp) {
      await conn.setRemoteDescription(d.sdp);
      for (const cand of early.splice(0)) await conn.addIceCandidate(cand);
      if (d.sdp.type === "offer") {
        await conn.setLocalDescription(await conn.createAnswer());
        await c.signal({ sdp: conn.localDescription.toJSON() });
      }
    } else if (d.candidate) {
      if (conn.remoteDescription) await conn.addIceCandidate(d.candidate);
      else early.push(d.candidate);
    }
  }));
  if (offerer) step(async () => {
    await conn.setLocalDescription(await conn.createOffer());
    await c.signal({ sdp: conn.localDescription.toJSON() });
  });
}

async function dial(h) {
  if (call) return;
  buttons(false, true);
  say("call-status", "Calling " + app.name(h) + "…");
  let c;
  try {
    c = await app.p.call(h, { video: true });
  } catch (e) {
    buttons(false, false);
    say("call-status", e.code === "unavailable" || e.code === "not_accepted"
      ? app.name(h) + " cannot be reached now: not taking calls in this app. If a device of theirs allows notifications, it was told you called."
      : "The call failed: " + e.message + " (" + e.code + ").", true);
    return;
  }
  follow(c);
  say("call-status", "Ringing " + app.name(h) + "…");
  c.addEventListener("answered", () => {
    say("call-status", app.name(h) + " answered; connecting…");
    media(c, true);
  });
  $("hangup").onclick = () => c.hangup().catch(() => {});
  $("hangup").focus();
}

function incoming(c) {
  if (call) { // one call at a time
    c.reject(true).catch(() => {});
    return;
  }
  follow(c);
  buttons(true, false);
  say("call-status", "Incoming call from " + app.name(c.peer) + ".");
  $("answer").onclick = async () => {
    buttons(false, true);
    media(c, false);
    try {
      await c.answer();
      say("call-status", "Answered; connecting to " + app.name(c.peer) + "…");
    } catch (e) {
      say("call-status", "Could not answer: " + e.message, true);
    }
  };
  $("decline").onclick = () => c.reject().catch(() => {});
  $("hangup").onclick = () => c.hangup().catch(() => {});
  $("answer").focus();
}

const p = await app.start();
if (p) {
  for (const ev of ["snapshot", "presence", "change"]) p.addEventListener(ev, render);
  p.addEventListener("incoming", (e) => incoming(e.detail));
  app.onpicked = render;
  render();
}
