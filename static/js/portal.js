// The portal's own behaviour; loaded as a file because the CSP forbids inline script.
(() => {
  // Lets the stylesheet hide no-JavaScript fallbacks (such as "Save" beside a select that saves itself).
  document.documentElement.classList.add("js");
  // Tell the server the browser's time zone, so times are shown in it from the next page on.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && !document.cookie.split("; ").includes(`portal_tz=${zone}`)) {
    document.cookie = `portal_tz=${zone}; path=/; max-age=31536000; SameSite=Lax`;
  }
})();

document.addEventListener("DOMContentLoaded", () => {
  // The phone menu: "Menu" shows or hides it. The stylesheet folds it only on a narrow screen
  // and only once this file runs, so without JavaScript the whole menu stays in view.
  const menuButton = document.querySelector(".nav-toggle[aria-controls]");
  const menu = menuButton && document.getElementById(menuButton.getAttribute("aria-controls"));
  if (menuButton && menu) {
    const setOpen = (open) => menuButton.setAttribute("aria-expanded", String(open));
    menuButton.addEventListener("click", () => {
      setOpen(menuButton.getAttribute("aria-expanded") !== "true");
    });
    // Escape folds an open menu and gives the focus back to its button, as a disclosure should.
    menu.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || menuButton.getAttribute("aria-expanded") !== "true") return;
      if (menuButton.offsetParent === null) return; // a wide screen: there is nothing to fold
      setOpen(false);
      menuButton.focus();
    });
  }

  // Move focus to the main region after an htmx swap that replaced it, for keyboard users.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "main") {
      event.detail.target.focus();
    }
  });

  // Copy buttons: <button data-copy="#element-id">; the token is never sent anywhere else.
  document.body.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = source.value ?? source.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard refused (no HTTPS, no permission): select the text so Ctrl+C works.
      if (source.select) source.select();
    }
    button.textContent = "Copied";
  });

  // Confirmations: <form data-confirm="Delete this room?"> asks before submitting.
  document.body.addEventListener("submit", (event) => {
    const message = event.target.dataset?.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  // Date inputs show the date as the browser's language writes it (12/21/2026 in en-US); beside
  // each one the portal spells it out as it does everywhere else, "Mon 21 Dec 2026".
  const spell = (input) => {
    let note = input.nextElementSibling;
    if (!note || !note.classList.contains("date-spelled")) {
      note = document.createElement("span");
      note.className = "date-spelled muted";
      note.setAttribute("aria-live", "polite");
      input.after(note);
    }
    const match = /^(\d{4})-(\d{2})-(\d{2})/.exec(input.value || "");
    if (!match) {
      note.textContent = "";
      return;
    }
    const day = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
    const part = (options) => day.toLocaleDateString("en-GB", options);
    note.textContent = `${part({ weekday: "short" })} ${match[3]} ${part({ month: "short" })} ${match[1]}`;
  };
  const spellAll = (root) => {
    for (const input of root.querySelectorAll("input[type=date]")) spell(input);
  };
  spellAll(document);
  document.body.addEventListener("input", (event) => {
    if (event.target.matches?.("input[type=date]")) spell(event.target);
  });
  document.body.addEventListener("htmx:afterSettle", (event) => spellAll(event.detail.elt));

  // "Select all" checkboxes: <input type="checkbox" data-select-all="name-of-row-boxes">.
  document.body.addEventListener("change", (event) => {
    const name = event.target.dataset?.selectAll;
    if (!name) return;
    for (const box of document.querySelectorAll(`input[type=checkbox][name="${name}"]`)) {
      box.checked = event.target.checked;
    }
  });
});
