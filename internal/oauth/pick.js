// The contact picker's script (internal/oauth/picker.go): it filters the
// list as the user types, and on the answer page posts the answer to the
// app that opened the window, at the app's registered origin only, then
// closes the window.
"use strict";
(function () {
  const result = document.getElementById("result");
  if (result) {
    const origin = result.dataset.origin;
    const message = JSON.parse(result.dataset.message);
    if (window.opener && origin) {
      // the origin is the app's registered one, never "*": if the opener
      // has navigated elsewhere meanwhile, the browser drops the message
      window.opener.postMessage(message, origin);
      window.close();
    }
    return;
  }
  const search = document.getElementById("search");
  const list = document.getElementById("contacts");
  const shown = document.getElementById("shown");
  if (!search || !list) return;
  const items = Array.from(list.querySelectorAll("li")).filter((li) => li.querySelector("input"));
  const filter = () => {
    const q = search.value.trim().toLowerCase();
    let n = 0;
    for (const li of items) {
      const match = !q || li.textContent.toLowerCase().includes(q);
      li.hidden = !match;
      if (match) n++;
    }
    if (shown) shown.textContent = n + " contact(s)" + (q ? " matching “" + search.value.trim() + "”" : "");
  };
  // typing filters at once, keeping what is ticked; the search button
  // (without this script, a search on the server) is not needed then
  search.addEventListener("input", filter);
  document.getElementById("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    filter();
  });
  // the picked ones stay picked while hidden by a search: they are sent
  // with the form all the same
})();
