// The room form: Ends follows Starts and the Length picker; live checks see which fields the user
// changed; invalid fields are marked. Without JavaScript the server does the same on save
// (rooms.forms.RoomForm._end_follows_start), so this only makes it happen as the user types.
(() => {
  const FORM = "form.room-form";
  const MINUTE = 60 * 1000;
  // What each form's Starts held before the user's last change (to move Ends by as much).
  const startBefore = new WeakMap();

  // A datetime-local value as minutes of wall-clock time (read as if UTC: no zone, no DST), and
  // back. The server computes in the same wall-clock time.
  const parse = (value) => {
    const match = /^(\d{4})-\d\d-\d\dT\d\d:\d\d/.exec(value || "");
    if (!match || match[1] < "1900" || match[1] > "9998") return null;
    const ms = Date.parse(`${match[0]}:00Z`);
    return Number.isNaN(ms) ? null : ms;
  };
  const format = (ms) => new Date(ms).toISOString().slice(0, 16);

  const fields = (form) => ({
    start: form.querySelector("[name=valid_from]"),
    end: form.querySelector("[name=valid_until]"),
    length: form.querySelector("select[name=length]"),
  });
  // The chosen length in milliseconds, or null for Custom.
  const preset = (select) => {
    const minutes = Number.parseInt(select?.value, 10);
    return Number.isFinite(minutes) && minutes > 0 ? minutes * MINUTE : null;
  };

  const startMoved = (form) => {
    const { start, end, length } = fields(form);
    const newStart = parse(start.value);
    if (newStart === null) return; // still being typed: wait for a whole date and time
    const oldStart = startBefore.get(form);
    const oldEnd = parse(end.value);
    let newEnd = null;
    if (preset(length) !== null) newEnd = newStart + preset(length);
    else if (oldEnd !== null && oldStart != null) newEnd = oldEnd + (newStart - oldStart);
    if (newEnd !== null) end.value = format(newEnd);
    startBefore.set(form, newStart);
  };

  const lengthChosen = (form) => {
    const { start, end, length } = fields(form);
    const begin = parse(start.value);
    if (begin !== null && preset(length) !== null) end.value = format(begin + preset(length));
  };

  // An Ends typed by hand: the picker shows the length that matches, else Custom.
  const endTyped = (form) => {
    const { start, end, length } = fields(form);
    const begin = parse(start.value);
    const finish = parse(end.value);
    if (!length || begin === null || finish === null) return;
    const minutes = String((finish - begin) / MINUTE);
    const match = [...length.options].some((option) => option.value === minutes);
    length.value = match ? minutes : "custom";
  };

  const follow = (event) => {
    const form = event.target.closest?.(FORM);
    if (!form) return;
    if (event.target.name === "valid_from") startMoved(form);
    else if (event.target.name === "length") lengthChosen(form);
    else if (event.target.name === "valid_until") endTyped(form);
  };
  // Capture phase, so Ends is moved before htmx's (debounced) live check reads the form.
  document.addEventListener("input", follow, true);
  document.addEventListener("change", follow, true);
  for (const form of document.querySelectorAll(FORM)) {
    const start = parse(fields(form).start?.value);
    if (start !== null) startBefore.set(form, start);
  }

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
