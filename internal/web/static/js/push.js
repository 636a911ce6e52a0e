// Notifications on this device (docs/push.md): the page registers the
// service worker (/static/sw.js), subscribes with the server's VAPID key
// and hands the subscription to the server, which wakes the device by Web
// Push when a message or a call waits and no session took it. Devices
// subscribed so far are listed, each with a Remove button.
import { $, el, call, attempt, notice, errorWords, rerender, ago } from "/static/js/ui.js";

export function init() {
  $("push-enable").addEventListener("click", () => enable().catch((e) => pushError(e)));
}

export function shown() {
  $("push-section").hidden = !("serviceWorker" in navigator);
  if (!$("push-section").hidden) load().catch((e) => notice(errorWords(e)));
}

async function load() {
  const { subscriptions } = await call("GET", "/v1/push/subscriptions");
  rerender($("push-devices"), () => subscriptions.length ? subscriptions.map((s) =>
    el("li", { class: "push-device", dataset: { key: s.id, id: s.id } },
      el("div", { class: "who" }, el("span", { class: "name" }, s.device || "A device"),
        el("span", { class: "muted" }, "since " + ago(s.created))),
      el("div", { class: "actions" }, el("button", { type: "button", class: "danger", "data-action": "remove-push",
        "aria-label": "Stop notifying " + (s.device || "this device"), onclick: () => remove(s) }, "Remove")))) :
    [el("li", { class: "muted" }, "No device is notified.")]);
}

// base64url to the bytes applicationServerKey takes
function bytes(b64) {
  const s = atob(b64.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function enable() {
  const reg = await navigator.serviceWorker.register("/static/sw.js");
  if (await Notification.requestPermission() !== "granted") {
    notice("Notifications are blocked for this page: allow them in the browser's site settings.");
    return;
  }
  const { key } = await call("GET", "/v1/push/key");
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes(key) });
  await attempt(() => call("POST", "/v1/push/subscriptions", { ...sub.toJSON(), device: deviceName() }), "This device will be notified.");
  load().catch((e) => notice(errorWords(e)));
}

function pushError(e) {
  notice(e && e.name === "AbortError" ? "The browser's push service cannot be reached: notifications cannot be turned on now." : errorWords(e));
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return (browser + (os ? " on " + os : "")).slice(0, 64);
}

async function remove(s) {
  await attempt(() => call("DELETE", "/v1/push/subscriptions/" + encodeURIComponent(s.id)), "That device will no longer be notified.");
  load().catch((e) => notice(errorWords(e)));
}
