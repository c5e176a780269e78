// The series form shows only the fields that apply: the weekdays for a weekly series, the
// monthly choice for a monthly one, the last day or the count for the chosen end, the minutes
// for a custom length. Without JavaScript every field shows and the server ignores the others.
(function () {
  "use strict";
  const form = document.querySelector(".series-form");
  if (!form) return;
  // By selector, not form.elements[name]: that collection's own "length" hides the field named so.
  const value = (name) => form.querySelector(`[name="${name}"]`)?.value ?? "";
  const show = (selector, visible) => {
    for (const element of form.querySelectorAll(selector)) element.hidden = !visible;
  };
  function update() {
    show(".weekdays", value("frequency") === "weekly");
    show(".monthly-by", value("frequency") === "monthly");
    show(".ends-on", value("ends") === "on");
    show(".ends-after", value("ends") === "after");
    show(".custom-length", value("length") === "custom");
  }
  form.addEventListener("change", update);
  update();
})();
