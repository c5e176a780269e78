// The portal's own behaviour; loaded as a file because the CSP forbids inline script.
document.addEventListener("DOMContentLoaded", () => {
  // Move focus to the main region after an htmx swap that replaced it, for keyboard users.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id === "main") {
      event.detail.target.focus();
    }
  });
});
