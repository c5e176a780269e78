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
