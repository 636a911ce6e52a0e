// My status: this device's presence (availability, status, activity),
// invisibility, and the personal events shared with contacts (mood,
// activity, music: docs/personal-events.md).
import { $, el, attempt, personalWords } from "/static/js/ui.js";

// a few XEP-0107 moods and the XEP-0108 general activities
const MOODS = ["happy", "excited", "relaxed", "calm", "curious", "creative", "grateful", "hopeful", "proud", "playful",
  "serious", "stressed", "tired", "sleepy", "hungry", "bored", "sad", "annoyed", "worried", "sick"];
const DOING = ["working", "relaxing", "eating", "drinking", "exercising", "traveling", "talking", "having_appointment",
  "doing_chores", "grooming", "inactive"];

let p;
let account;

export function init(ctx) {
  p = ctx.p;
  account = ctx.account;
  $("mood").replaceChildren(...MOODS.map((m) => el("option", { value: m }, m)));
  $("doing").replaceChildren(...DOING.map((d) => el("option", { value: d }, d.replace(/_/g, " "))));

  $("presence-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const pres = { availability: $("availability").value, status: $("status").value };
    const kind = $("activity-kind").value.trim();
    if (kind) pres.activity = { kind, detail: $("activity-detail").value };
    // new sessions after a reconnect start with this presence too
    p.options.presence = pres;
    attempt(() => p.setPresence(pres), "Your presence is set.");
  });
  $("invisible").addEventListener("change", (e) => {
    const on = e.target.checked;
    attempt(() => p.setInvisible(on), on ? "You are invisible: everyone sees you offline." : "You are visible again.");
  });
  const forms = {
    mood: () => ({ mood: $("mood").value, text: $("mood-text").value.trim() || undefined }),
    activity: () => ({ category: $("doing").value, text: $("doing-text").value.trim() || undefined }),
    tune: () => ({ artist: $("tune-artist").value.trim() || undefined, title: $("tune-title").value.trim() || undefined }),
  };
  for (const form of ["mood-form", "doing-form", "tune-form"]) {
    const f = $(form);
    const topic = f.dataset.topic;
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      attempt(() => p.publish(topic, JSON.parse(JSON.stringify(forms[topic]()))), "Shared with your contacts.");
    });
    f.querySelector(".clear").addEventListener("click", () => attempt(() => p.retract(topic), "No longer shared."));
  }
  // the box follows the server's privacy settings only when they change
  // (here or on another device): other events must not put back a stale
  // state under a click whose answer is still on its way
  const sync = () => { $("invisible").checked = !!p.privacy.invisible; };
  p.addEventListener("privacy", sync);
  p.addEventListener("snapshot", sync);
  p.addEventListener("change", render);
}

function render() {
  const mine = personalWords(p.personal.get(account));
  $("my-personal").textContent = mine.length ? mine.map((x) => x.text).join(" · ") : "nothing";
}
