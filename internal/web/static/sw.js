// presenced's service worker: shows what a Web Push notification says
// (docs/push.md) — a message or a call waiting for the user while none of
// their sessions was there to take it — and opens the page when clicked.
self.addEventListener("push", (e) => {
  let p = {};
  try { p = e.data ? e.data.json() : {}; } catch { p = {}; }
  const who = p.from || "someone";
  const title = p.kind === "call" ? "Call from " + who : "Message from " + who;
  e.waitUntil(self.registration.showNotification(title, {
    body: p.kind === "call" ? "Open presenced to answer." : "Open presenced to read it.",
    tag: p.id || undefined, data: p, requireInteraction: p.kind === "call",
  }));
});

self.addEventListener("notificationclick", (e) => {
  e.notification.close();
  e.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window" });
    if (open.length) return open[0].focus();
    return self.clients.openWindow(e.notification.data?.kind === "message" ? "/#talk" : "/");
  })());
});
