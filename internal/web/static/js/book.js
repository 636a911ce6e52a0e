// Address book: cards (with or without a presence address), search, groups,
// editing with the card's version (If-Match, so two devices cannot silently
// overwrite each other), vCard import and export. Other views ask it for
// names (nameOf) and create cards through it.
import { $, el, call, attempt, notice, bus, rerender, errorWords } from "/static/js/ui.js";

let cards = []; // every card, as GET /v1/contacts gives them
let editing = null; // the card in the editor, null for a new one

const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);

// nameOf is the address book's name for a presence address, else the address.
export function nameOf(address) {
  const c = cardFor(address);
  return (c && c.name) || address;
}

export function cardFor(address) {
  return cards.find((c) => c.address === address);
}

export async function createCard(card) {
  const c = await call("POST", "/v1/contacts", card);
  put(c);
  return c;
}

function put(c) {
  const i = cards.findIndex((x) => x.id === c.id);
  if (i >= 0) cards[i] = c;
  else cards.push(c);
  changed();
}

function changed() {
  bus.dispatchEvent(new Event("names"));
  render();
}

async function load() {
  const r = await call("GET", "/v1/contacts");
  cards = r.contacts;
  changed();
}

export function init(ctx) {
  // the CardDAV book (docs/contacts.md); clients that discover need only the server's address
  $("book-carddav").textContent = location.origin + "/dav/addressbooks/" + ctx.account + "/contacts/";
  ctx.p.addEventListener("contact", (e) => {
    // a change made on another device
    const { op, contact } = e.detail;
    if (op === "delete") cards = cards.filter((c) => c.id !== contact.id);
    else {
      const i = cards.findIndex((x) => x.id === contact.id);
      if (i < 0 || (cards[i].version || 0) < (contact.version || 0)) put(contact);
    }
    changed();
  });
  ctx.p.addEventListener("welcome", () => load().catch(() => {})); // what changed while away
  $("book-search").addEventListener("input", render);
  $("book-group").addEventListener("change", render);
  $("book-new").addEventListener("click", () => edit(null));
  $("card-cancel").addEventListener("click", closeEditor);
  $("card-delete").addEventListener("click", async () => {
    const c = editing;
    const ok = await attempt(() => call("DELETE", "/v1/contacts/" + c.id, undefined, { headers: { "If-Match": '"' + c.version + '"' } }),
      "Card of " + c.name + " deleted.");
    if (ok !== undefined) {
      cards = cards.filter((x) => x.id !== c.id);
      closeEditor();
      changed();
    }
  });
  $("card-form").addEventListener("submit", save);
  $("book-import").addEventListener("change", importFile);
}

export function shown() {
  load().catch((e) => notice(errorWords(e)));
}

async function save(e) {
  e.preventDefault();
  const card = {
    name: $("card-name").value.trim(),
    address: $("card-address").value.trim().toLowerCase() || undefined,
    emails: list($("card-emails").value),
    phones: list($("card-phones").value),
    groups: list($("card-groups").value),
    notes: $("card-notes").value,
  };
  try {
    const c = editing
      ? await call("PUT", "/v1/contacts/" + editing.id, card, { headers: { "If-Match": '"' + editing.version + '"' } })
      : await call("POST", "/v1/contacts", card);
    put(c);
    closeEditor();
    notice("Card of " + c.name + " saved.", "ok");
  } catch (err) {
    notice(errorWords(err));
    if (err.code === "conflict" && editing) {
      // someone else changed it: show theirs
      const fresh = await call("GET", "/v1/contacts/" + editing.id).catch(() => null);
      if (fresh) {
        put(fresh);
        edit(fresh);
      }
    }
  }
}

function edit(c) {
  editing = c;
  $("card-title").textContent = c ? "Edit " + c.name : "New card";
  $("card-name").value = c ? c.name : "";
  $("card-address").value = (c && c.address) || "";
  $("card-emails").value = ((c && c.emails) || []).join(", ");
  $("card-phones").value = ((c && c.phones) || []).join(", ");
  $("card-groups").value = ((c && c.groups) || []).join(", ");
  $("card-notes").value = (c && c.notes) || "";
  $("card-delete").hidden = !c;
  $("card-form").hidden = false;
  $("card-name").focus();
}

function closeEditor() {
  editing = null;
  $("card-form").hidden = true;
  $("book-new").focus();
}

async function importFile(e) {
  const file = e.target.files[0];
  if (!file) return;
  const text = await file.text();
  try {
    const r = await call("POST", "/v1/contacts/import", text, { type: "text/vcard" });
    const failed = r.failed.length ? " " + r.failed.length + " could not be read: " + r.failed.map((f) => "card " + f.card + ": " + f.error).join("; ") : "";
    notice("Imported " + r.imported + " card" + (r.imported === 1 ? "" : "s") + "." + failed, failed ? "error" : "ok");
    await load();
  } catch (err) {
    notice(errorWords(err));
  }
  e.target.value = "";
}

function render() {
  const groups = [...new Set(cards.flatMap((c) => c.groups || []))].sort();
  const sel = $("book-group");
  const chosen = sel.value;
  sel.replaceChildren(el("option", { value: "" }, "all groups"), ...groups.map((g) => el("option", { value: g }, g)));
  sel.value = groups.includes(chosen) ? chosen : "";
  $("group-names").replaceChildren(...groups.map((g) => el("option", { value: g })));

  const q = $("book-search").value.trim().toLowerCase();
  const shown = cards
    .filter((c) => !sel.value || (c.groups || []).includes(sel.value))
    .filter((c) => !q || [c.name, c.address, c.notes, ...(c.emails || []), ...(c.phones || [])].some((x) => x && x.toLowerCase().includes(q)))
    .sort((x, y) => x.name.localeCompare(y.name));
  rerender($("cards"), () => shown.length
    ? shown.map((c) => el("li", { dataset: { key: c.id, id: c.id } },
      el("div", { class: "who" },
        el("span", { class: "name" }, c.name),
        c.address ? el("span", { class: "muted address" }, c.address) : el("span", { class: "muted" }, "no presence address"),
        el("div", { class: "details" }, [...(c.emails || []), ...(c.phones || [])].join(" · ")),
        (c.groups || []).length ? el("div", { class: "groups" }, c.groups.map((g) => el("span", { class: "tag" }, g))) : ""),
      el("div", { class: "actions" }, el("button", { type: "button", class: "act-edit", "data-action": "edit", "aria-label": "Edit " + c.name, onclick: () => edit(c) }, "Edit"))))
    : [el("li", { class: "muted" }, cards.length ? "No card matches." : "No cards yet.")]);
}
