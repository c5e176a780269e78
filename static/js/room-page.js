// The room page: keeps keyboard focus in the people table when htmx takes a row out of it.
(() => {
  let focusNext = null;

  document.addEventListener("htmx:beforeSwap", (event) => {
    const form = event.detail.requestConfig?.elt;
    if (!form?.matches?.("form[data-remove-row]")) return;
    // An answer with a row in it is an error shown in the row: focus stays where it is.
    if (/<tr[\s>]/.test(event.detail.serverResponse || "")) return;
    const row = form.closest("tr");
    const neighbour = row?.nextElementSibling || row?.previousElementSibling;
    focusNext =
      neighbour?.querySelector("form[data-remove-row] button") ||
      document.getElementById("participants-heading");
  });

  document.addEventListener("htmx:afterSettle", () => {
    if (focusNext && document.body.contains(focusNext)) focusNext.focus();
    focusNext = null;
  });
})();

// Role pickers save once per choice. Chromium fires "change" at every arrow key (and type-ahead
// letter) on a closed <select>, so saving on "change" saved each role passed on the way. Here a
// choice from the open list (mouse, touch, or Enter in the list) saves at once; one made with
// keys on the closed picker waits until it is committed: Enter, or the focus leaving the picker.
// Escape puts the saved role back. The form's hx-trigger is "commit-role", which only this fires.
(() => {
  const PICKER = "form.role-form select[name=role]";
  // Keys that open the list rather than step through it: what is picked in the list is final.
  const opensList = (event) =>
    [" ", "Enter", "F4"].includes(event.key) || (event.altKey && event.key.startsWith("Arrow"));
  const NOT_A_CHOICE = ["Tab", "Shift", "Control", "Alt", "Meta"];
  const lastInput = new WeakMap(); // picker → "keys" | "list"
  const sentRole = new WeakMap(); // picker → the role last sent (the row is re-rendered after)
  let refocus = null; // where the focus went when leaving the picker saved its row

  const savedRole = (select) =>
    sentRole.get(select) ?? [...select.options].find((option) => option.defaultSelected)?.value;
  const isPending = (select) => select.value !== savedRole(select);
  const hint = (select) => select.form.querySelector(".role-pending");

  function showPending(select, pending) {
    select.form.classList.toggle("pending", pending);
    if (pending && !hint(select)) {
      const note = document.createElement("span");
      note.className = "role-pending";
      note.setAttribute("role", "status");
      note.textContent = "Not saved yet: Enter saves, Esc undoes";
      select.after(note);
    } else if (!pending) {
      hint(select)?.remove();
    }
  }

  function commit(select) {
    if (!isPending(select)) {
      showPending(select, false);
      return;
    }
    sentRole.set(select, select.value);
    showPending(select, false);
    select.form.dispatchEvent(new Event("commit-role"));
  }

  // The row's focusable controls, in order, so the focus can go to the same one in the new row.
  const focusables = (row) =>
    [...row.querySelectorAll("a[href], button, input, select, textarea")].filter(
      (element) => !element.disabled && element.getClientRects().length > 0,
    );

  document.addEventListener("pointerdown", (event) => {
    if (event.target.matches?.(PICKER)) lastInput.set(event.target, "list");
  }, true);

  document.addEventListener("keydown", (event) => {
    const select = event.target;
    if (!select.matches?.(PICKER)) return;
    if (event.key === "Enter" && isPending(select)) {
      event.preventDefault(); // Enter would open the list: here it commits the choice made
      commit(select);
    } else if (event.key === "Escape" && isPending(select)) {
      event.preventDefault();
      select.value = savedRole(select);
      showPending(select, false);
    } else if (opensList(event)) {
      lastInput.set(select, "list");
    } else if (!NOT_A_CHOICE.includes(event.key)) {
      lastInput.set(select, "keys");
    }
  }, true);

  document.addEventListener("change", (event) => {
    const select = event.target;
    if (!select.matches?.(PICKER)) return;
    if (lastInput.get(select) === "keys") showPending(select, isPending(select));
    else commit(select);
  }, true);

  document.addEventListener("focusout", (event) => {
    const select = event.target;
    if (!select.matches?.(PICKER) || !isPending(select)) return;
    const row = select.closest("tr");
    const next = event.relatedTarget;
    // Tabbing to the row's Remove button: the row is about to be replaced, so remember which
    // control of it was focused and focus the same one in the new row.
    if (row?.id && next && row.contains(next)) {
      refocus = { row, index: focusables(row).indexOf(next) };
    }
    commit(select);
  });

  // Other swaps (the sync badge polls) settle too: wait for the one that replaced the row.
  document.addEventListener("htmx:afterSettle", () => {
    if (!refocus || document.body.contains(refocus.row)) return;
    const row = document.getElementById(refocus.row.id);
    const lost = !document.activeElement || document.activeElement === document.body;
    if (row && lost) focusables(row)[refocus.index]?.focus();
    refocus = null;
  });
})();
