"""The portal at a phone's width and a desktop's: nothing wider than the screen, the folding
menu, dark mode, and a role picker that saves once per choice, keyboard included."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from identities.services import NewPerson
from portal.models import AuditEvent
from rooms.models import Participant, Room
from rooms.services import ParticipantEntry, room_create
from tests.browser.conftest import screenshot, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

# 60 characters: the kind of address that pushed the Remove column out of the table.
LONG_EMAIL = "augusta.ada.king.countess.of.lovelace@analytical-engines.org"
PHONE = {"width": 390, "height": 844}
ROLE_CHANGED = "portal.participant.role_changed"


@pytest.fixture
def room(superuser) -> Room:
    start = timezone.now() + timedelta(hours=1)
    # Ada starts on the first role, so two arrow keys down pass one role and stop on another.
    people = [
        ("Ada Lovelace", LONG_EMAIL, "Presenter"),
        ("Alan Turing", "alan@example.com", "Attendee"),
    ]
    return room_create(
        actor=superuser,
        title="Quarterly planning with the analytical engine working group",
        valid_from=start,
        valid_until=start + timedelta(hours=2),
        participants=[
            ParticipantEntry(person=NewPerson(display_name=name, email=email), role=role)
            for name, email, role in people
        ],
    )


def _page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _fits_the_screen(page) -> bool:
    scroll_width, inner_width = _page_width(page)
    return scroll_width <= inner_width


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, "not rendered"
    return box


def _role_requests(page) -> list[str]:
    """Collect the role changes the page sends from now on."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/role/" in r.url else None)
    return sent


def test_the_long_email_fits_in_the_first_place():
    assert len(LONG_EMAIL) == 60


def test_on_a_phone_the_role_picker_beside_a_long_email_is_reachable_without_scrolling(
    page, superuser, room
):
    page.set_viewport_size(PHONE)
    sign_in(page, superuser)
    page.goto(f"/rooms/{room.pk}/")
    assert _fits_the_screen(page), _page_width(page)

    picker = page.get_by_label("Role of Ada Lovelace")
    remove = page.get_by_role("button", name="Remove Ada Lovelace")
    for control in (picker, remove):
        expect(control).to_be_visible()
        box = _box(control)
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    # The e-mail wraps inside its card instead of widening it.
    email = page.get_by_role("link", name=LONG_EMAIL)
    assert _box(email)["x"] + _box(email)["width"] <= PHONE["width"]

    picker.select_option("Consumer")
    row = page.locator("tr", has=page.get_by_label("Role of Ada Lovelace"))
    expect(row.get_by_role("status")).to_have_text("Saved")
    assert Participant.objects.get(room=room, identity__email=LONG_EMAIL).role == "Consumer"
    # Last: Playwright's screenshot leaves an empty style attribute on inputs, which htmx would
    # copy onto a swapped row, and the CSP would then report.
    screenshot(page, "layout-room-phone")
    assert page.console_errors == []


@pytest.mark.parametrize("width", [1280, 980, 800])
def test_on_a_desktop_the_people_table_fits_its_box(page, superuser, room, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, superuser)
    page.goto(f"/rooms/{room.pk}/")
    screenshot(page, f"layout-room-{width}")

    frame = page.locator("#participants .table-wrap")
    remove = page.get_by_role("button", name="Remove Ada Lovelace")
    frame_box, remove_box = _box(frame), _box(remove)
    assert remove_box["x"] + remove_box["width"] <= frame_box["x"] + frame_box["width"]
    assert frame.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert _fits_the_screen(page), _page_width(page)
    assert page.console_errors == []


@pytest.mark.parametrize("width", [390, 700, 820, 980, 1280])
def test_every_list_fits_the_screen(page, superuser, room, width):
    page.set_viewport_size({"width": width, "height": 844})
    sign_in(page, superuser)
    ada = Participant.objects.get(room=room, identity__email=LONG_EMAIL).identity
    for name, path in {
        "dashboard": "/",
        "rooms": "/rooms/",
        "calendar": f"/rooms/calendar/?week={room.valid_from:%Y-%m-%d}",
        "identities": "/identities/",
        "identity": f"/identities/{ada.pk}/",
        "history": "/history/",
    }.items():
        page.goto(path)
        screenshot(page, f"layout-{name}-{width}")
        assert _fits_the_screen(page), (path, _page_width(page))
        for frame in page.locator(".table-wrap").all():
            assert frame.evaluate("el => el.scrollWidth <= el.clientWidth"), path
    assert page.console_errors == []


def test_on_a_phone_the_menu_folds_behind_its_button(page, superuser):
    page.set_viewport_size(PHONE)
    sign_in(page, superuser)
    menu = page.get_by_role("button", name="Menu")
    rooms_link = page.get_by_role("link", name="Rooms", exact=True)
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_have_attribute("aria-controls", "site-menu")
    expect(rooms_link).to_be_hidden()
    # The bar holds the brand and the button: a line, not a third of the screen.
    assert _box(page.locator("header.topbar"))["height"] < PHONE["height"] / 10
    screenshot(page, "layout-menu-folded")

    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(rooms_link).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "layout-menu-open")
    rooms_link.focus()
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()

    menu.click()
    rooms_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rooms")
    expect(page.get_by_role("link", name="Rooms", exact=True)).to_be_hidden()
    assert page.console_errors == []


def test_on_a_wide_screen_the_menu_shows_without_a_button(page, superuser):
    sign_in(page, superuser)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("link", name="Rooms", exact=True)).to_be_visible()


def test_without_javascript_a_phone_shows_the_whole_menu(chromium, live_server, superuser):
    context = chromium.new_context(
        base_url=live_server.url, viewport=PHONE, java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill(superuser.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        for name in ("Dashboard", "Rooms", "Identities", "History"):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        assert _fits_the_screen(page)
    finally:
        context.close()


def _luminance(rgb: str) -> float:
    """WCAG relative luminance of a computed colour such as "rgb(13, 17, 23)"."""
    channels = [int(part) / 255 for part in rgb[rgb.index("(") + 1 : -1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


COLOURS = """() => {
  const colour = (selector, property) => {
    const el = document.querySelector(selector);
    return el ? getComputedStyle(el)[property] : null;
  };
  return {
    text: colour("body", "color"),
    page: colour("body", "backgroundColor"),
    muted: colour(".lead", "color"),
    link: colour("main a", "color"),
    card: colour(".card", "backgroundColor"),
    cardText: colour(".card h2", "color"),
  };
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_page_follows_the_systems_colour_scheme_and_stays_readable(
    chromium, live_server, superuser, scheme
):
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, color_scheme=scheme
    )
    try:
        page = context.new_page()
        sign_in(page, superuser)
        screenshot(page, f"layout-dashboard-{scheme}")
        colours = page.evaluate(COLOURS)
        page_is_dark = _luminance(colours["page"]) < 0.05
        assert page_is_dark == (scheme == "dark"), colours
        assert (_luminance(colours["card"]) < 0.05) == (scheme == "dark"), colours
        assert _contrast(colours["text"], colours["page"]) >= 4.5, colours
        assert _contrast(colours["cardText"], colours["card"]) >= 4.5, colours
        assert _contrast(colours["muted"], colours["page"]) >= 4.5, colours
        assert _contrast(colours["link"], colours["card"]) >= 4.5, colours
    finally:
        context.close()


def _ada(room) -> Participant:
    return Participant.objects.get(room=room, identity__email=LONG_EMAIL)


def _role_changes(room) -> list[dict]:
    events = AuditEvent.objects.filter(action=ROLE_CHANGED, room_id=room.pk).order_by("pk")
    return [event.changes["role"] for event in events]


def _open_picker(page, superuser, room):
    sign_in(page, superuser)
    page.goto(f"/rooms/{room.pk}/")
    picker = page.get_by_label("Role of Ada Lovelace")
    roles = picker.evaluate("select => [...select.options].map((option) => option.value)")
    assert roles.index(_ada(room).role) == 0
    return picker, roles


def test_two_arrow_keys_then_tab_change_the_role_once(page, superuser, room):
    picker, roles = _open_picker(page, superuser, room)
    sent = _role_requests(page)
    row = page.locator(f"#participant-{_ada(room).pk}")
    picker.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(picker).to_have_value(roles[2])
    # Passing a role on the way saves nothing; the row says the choice is not saved yet.
    expect(row.locator(".role-pending")).to_contain_text("Not saved yet")
    assert sent == [] and _role_changes(room) == []

    page.keyboard.press("Tab")
    expect(row.locator(".row-saved")).to_have_text("Saved")
    assert len(sent) == 1
    assert _role_changes(room) == [{"before": roles[0], "after": roles[2]}]
    assert _ada(room).role == roles[2]
    # The focus went on to the row's Remove button, and is still there in the new row.
    expect(page.get_by_role("button", name="Remove Ada Lovelace")).to_be_focused()
    assert page.console_errors == []


def test_escape_undoes_a_role_chosen_with_the_keys_and_enter_saves_one(page, superuser, room):
    picker, roles = _open_picker(page, superuser, room)
    sent = _role_requests(page)
    row = page.locator(f"#participant-{_ada(room).pk}")
    picker.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(picker).to_have_value(roles[0])
    expect(row.locator(".role-pending")).to_have_count(0)
    # Leaving the picker with the saved role back in it sends nothing.
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    expect(picker).to_be_focused()

    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(row.locator(".row-saved")).to_have_text("Saved")
    expect(picker).to_be_focused()
    assert len(sent) == 1
    assert _role_changes(room) == [{"before": roles[0], "after": roles[1]}]
    assert page.console_errors == []


def test_a_pick_from_the_list_saves_at_once(page, superuser, room):
    picker, roles = _open_picker(page, superuser, room)
    sent = _role_requests(page)
    row = page.locator(f"#participant-{_ada(room).pk}")
    # As a mouse pick does: the list's choice fires one change, with no arrow key before it.
    picker.select_option(roles[3])
    expect(row.locator(".row-saved")).to_have_text("Saved")
    assert len(sent) == 1
    assert _role_changes(room) == [{"before": roles[0], "after": roles[3]}]
