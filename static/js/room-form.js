// The room form's live checks: remember which fields the user changed, and mark invalid fields.
(() => {
  const FORM = "form.room-form";

  // Capture phase, so the list is up to date before htmx's (debounced) check reads the form.
  document.addEventListener("change", (event) => {
    const form = event.target.closest?.(FORM);
    const name = event.target.name;
    if (!form || !name || name === "touched") return;
    const touched = form.querySelector("input[name=touched]");
    const names = new Set(touched.value.split(",").filter(Boolean));
    names.add(name);
    touched.value = [...names].join(",");
  }, true);

  // After a check, mark each field from the errors now beside it (for styling and screen readers).
  document.addEventListener("htmx:afterSettle", () => {
    for (const form of document.querySelectorAll(FORM)) {
      for (const field of form.querySelectorAll(".field")) {
        const invalid = field.querySelector(".field-errors li") !== null;
        field.classList.toggle("has-error", invalid);
        for (const control of field.querySelectorAll("input, select, textarea")) {
          if (invalid) control.setAttribute("aria-invalid", "true");
          else control.removeAttribute("aria-invalid");
        }
      }
    }
  });
})();
