"""Bad input gets a clear answer, never a 500, and changes nothing.

- A NUL character, which PostgreSQL can neither store nor compare, anywhere in a request (the
  address, a query parameter, a form field, a header, a cookie) is answered with a 400 page
  naming where it was, for every URL of the portal and the admin, signed in or not
  (portal.middleware.RefuseUnstorableInputMiddleware). The searches drop control characters
  whoever calls them.
- Text longer than its column is refused with a message by the forms, the services and the CSV
  import, whose limits are the columns' own; one test walks every form of the project.

The NUL cases failed with a 500 on PostgreSQL before; the 260-character e-mail failed with a 500
there and was stored past its column on SQLite.
"""

import html
import importlib
import pkgutil
from datetime import timedelta

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.validators import validate_email
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from identities import selectors as identity_selectors
from identities.admin import IdentityAdmin
from identities.models import Identity
from identities.services import NewPerson, identity_create, identity_find_or_create
from portal.selectors import HistoryFilters, history_events
from portal.services import CONTROL_CHARACTERS
from rooms import csv_import
from rooms import participant_selectors as people_selectors
from rooms import selectors as room_selectors
from rooms.models import Participant, Room, Series
from rooms.selectors import RoomFilters
from rooms.services import room_create
from tests.conftest import PASSWORD
from tests.security.test_permission_matrix import ROUTES, _concrete, _form, world  # noqa: F401


@pytest.fixture
def objects(request):
    """The permission matrix's objects (its `world` fixture): a room, a participant, a loner."""
    return request.getfixturevalue("world")


NUL = "\x00"
WITH_NUL = f"adm{NUL}in"

# Every query parameter the portal's pages, filters, searches and the admin read.
QUERY_PARAMETERS = [
    "q",
    "term",
    "page",
    "sort",
    "state",
    "sync",
    "owner",
    "day",
    "week",
    "before",
    "after",
    "actor",
    "room",
    "target",
    "action",
    "failures",
    "date_from",
    "date_to",
    "deleted",
    "identity",
    "shown",
    "next",
    "o",
    "p",
    "e",
    "all",
    "_changelist_filters",
    "app_label",
    "model_name",
    "field_name",
    "sync__state__exact",
    "window",
    "status",
]
# Every form field a portal or admin form posts, on top of the permission matrix's valid form.
FORM_FIELDS = [
    "username",
    "password",
    "next",
    "title",
    "notes",
    "valid_from",
    "valid_until",
    "time_zone",
    "version",
    "touched",
    "role",
    "action",
    "participant",
    "identity",
    "q",
    "scopes",
    "minutes",
    "display_name",
    "email",
    "csv",
    "apply",
    "more",
    "new-TOTAL_FORMS",
    "new-0-display_name",
    "new-0-email",
    "_selected_action",
    "select_across",
    "expected_version",
    "old_password",
    "new_password1",
]
ANONYMOUS_AND_ADMIN = ["anonymous", "superuser"]

# Valid as validate_email sees it, 260 characters: the column (EmailField) holds 254.
LONG_EMAIL = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 63}.com"
EMAIL_LIMIT = Identity._meta.get_field("email").max_length


def test_the_long_email_is_valid_and_longer_than_its_column():
    validate_email(LONG_EMAIL)
    assert len(LONG_EMAIL) == 260 > EMAIL_LIMIT == 254


def _state():
    """How many rows every table but the sessions (signing in writes one) has; the key rows."""
    counts = {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model is not Session
    }
    return (
        counts,
        list(Room.objects.order_by("pk").values_list()),
        list(Participant.objects.order_by("pk").values_list()),
        list(Identity.objects.order_by("pk").values_list()),
    )


def _client(request, kind: str) -> Client:
    client = Client(raise_request_exception=False)
    if kind != "anonymous":
        client.force_login(request.getfixturevalue(kind))
    return client


def _assert_refused(response, where: str) -> None:
    """A 400 page that names what held the NUL, uncacheable."""
    assert response.status_code == 400, (where, response.status_code, response.content[:300])
    text = html.unescape(response.content.decode())
    assert where in text, (where, text[:500])
    assert "control characters" in text
    assert "no-store" in response["Cache-Control"]


# ----------------------------------------------------------------------------- every URL


def _url_cases():
    for name, path in sorted(ROUTES.items()):
        if "." in name:
            # Unnamed admin redirects (<pk>/ → <pk>/change/) resolve to their view's dotted path.
            continue
        for method in ("GET", "POST"):
            for user in ANONYMOUS_AND_ADMIN:
                yield pytest.param(name, path, method, user, id=f"{method} {path} {user}")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path", "method", "user_kind"), list(_url_cases()))
def test_a_nul_in_any_parameter_of_any_url_is_refused_naming_it(
    request, objects, name, path, method, user_kind
):
    client = _client(request, user_kind)
    url = _concrete(name, path, objects)
    before = _state()
    if method == "GET":
        for parameter in QUERY_PARAMETERS:
            response = client.get(url, {parameter: f"x{NUL}y"})
            _assert_refused(response, f"The query parameter “{parameter}”")
        response = client.get(url, {f"q{NUL}": "x"})
        _assert_refused(response, "The query parameter “q␀”")
    else:
        valid = _form(objects)
        for field in FORM_FIELDS:
            response = client.post(url, {**valid, field: f"x{NUL}y"})
            _assert_refused(response, f"The form field “{field}”")
        # As a browser posts a form: urlencoded, the NUL percent-encoded.
        response = client.post(
            url, "title=Matrix&notes=a%00b", content_type="application/x-www-form-urlencoded"
        )
        _assert_refused(response, "The form field “notes”")
        response = client.post(f"{url}?q=%00", valid)
        _assert_refused(response, "The query parameter “q”")
    assert _state() == before


# ----------------------------------------------------------------------------- what the issue named


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_a_nul_in_the_sign_in_username_is_refused_and_the_right_password_still_works(
    client, superuser, url
):
    before = _state()
    body = f"username=adm%00in&password={PASSWORD}"
    response = client.post(url, body, content_type="application/x-www-form-urlencoded")
    _assert_refused(response, "The form field “username”")
    assert _state() == before
    # Nothing was counted against anyone: the right password signs in at once.
    response = client.post(url, {"username": superuser.username, "password": PASSWORD})
    assert response.status_code == 302


def _issue_urls(objects):
    room = objects["room"].pk
    return {
        "identities list": f"/identities/?q={NUL}",
        "people search": f"/rooms/{room}/people/search/?q={NUL}",
        "add people": f"/rooms/{room}/people/add/?q={NUL}",
        "admin autocomplete": (
            f"/admin/autocomplete/?term={NUL}&app_label=rooms&model_name=participant"
            "&field_name=identity"
        ),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "page", ["identities list", "people search", "add people", "admin autocomplete"]
)
def test_the_searches_the_issue_names_answer_400_not_500(client, superuser, objects, page):
    client.force_login(superuser)
    before = _state()
    url = _issue_urls(objects)[page]
    path, _, query = url.partition("?")
    params = dict(pair.split("=") for pair in query.split("&"))
    response = client.get(path, params)
    parameter = "term" if "term" in params else "q"
    _assert_refused(response, f"The query parameter “{parameter}”")
    assert _state() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "where"),
    [
        ({"User-Agent": f"Mozilla{NUL}"}, "The request header “User-Agent”"),
        ({"X-Forwarded-For": f"10.0.0.1{NUL}"}, "The request header “X-Forwarded-For”"),
        ({"HX-Current-URL": f"/rooms/{NUL}"}, "The request header “Hx-Current-Url”"),
    ],
)
def test_a_nul_in_a_header_is_refused_naming_it(client, superuser, headers, where):
    client.force_login(superuser)
    _assert_refused(client.get("/rooms/", headers=headers), where)


@pytest.mark.django_db
@pytest.mark.parametrize("cookie", ["sessionid", "portal_tz", "csrftoken"])
def test_a_nul_in_a_cookie_is_refused_before_the_session_is_read(client, cookie):
    client.cookies[cookie] = f"abcdefghijklmnop{NUL}"
    _assert_refused(client.get("/rooms/"), f"The cookie “{cookie}”")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/rooms/%00/", "/admin/rooms/room/%00/change/", "/admin/r/1/%00/", "/%00"]
)
def test_a_nul_in_the_address_is_refused(client, superuser, path):
    client.force_login(superuser)
    _assert_refused(client.get(path), "The address")


@pytest.mark.django_db
def test_other_control_characters_keep_the_message_beside_the_field(client, superuser):
    """Storable, so left to the forms, which say which field and keep what was typed."""
    client.force_login(superuser)
    start = timezone.localtime() + timedelta(hours=2)
    before = _state()
    response = client.post(
        reverse("rooms:create"),
        {
            "title": "Stand-up\x07",
            "valid_from": start.strftime("%Y-%m-%dT%H:%M"),
            "valid_until": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "time_zone": "UTC",
        },
    )
    assert response.status_code == 200
    assert CONTROL_CHARACTERS.format(field="The title") in html.unescape(response.content.decode())
    assert _state() == before


# ----------------------------------------------------------------------------- searches, directly


@pytest.mark.django_db
def test_the_searches_drop_control_characters_instead_of_querying_them(superuser, objects):
    """Whoever calls them: the searches never hand a NUL to the database."""
    person = objects["identity"]
    word = person.display_name.split()[0]
    found = identity_selectors.identity_list(search=f"{NUL}{word}{NUL}")
    assert person in list(found)
    assert list(identity_selectors.identity_list(search=NUL))
    people = people_selectors.addable_identities(room=objects["room"], query=f"{word}{NUL}")
    assert person in people
    rooms = room_selectors.room_list(user=superuser, filters=RoomFilters(q=f"Room{NUL}"))
    assert list(rooms) == [objects["room"]]
    history_events(HistoryFilters(target=f"{NUL}\x01")).count()

    request = RequestFactory().get("/admin/identities/identity/")
    request.user = superuser
    model_admin = IdentityAdmin(Identity, admin.site)
    queryset, _ = model_admin.get_search_results(request, Identity.objects.all(), f"{word}{NUL}")
    assert person in list(queryset)


# ----------------------------------------------------------------------------- text past its column


@pytest.fixture
def room(superuser, objects):
    return objects["room"]


@pytest.mark.django_db
def test_adding_a_person_with_a_260_character_email_is_refused_clearly(client, superuser, room):
    client.force_login(superuser)
    before = _state()
    response = client.post(
        reverse("rooms:participants_add", args=[room.pk]),
        {
            "role": "Attendee",
            "new-TOTAL_FORMS": "1",
            "new-INITIAL_FORMS": "0",
            "new-0-display_name": "Long Mail",
            "new-0-email": LONG_EMAIL,
            "add": "1",
        },
    )
    assert response.status_code == 200
    assert f"at most {EMAIL_LIMIT} characters" in html.unescape(response.content.decode())
    assert _state() == before


@pytest.mark.django_db
def test_creating_an_identity_with_a_260_character_email_is_refused_clearly(client, superuser):
    client.force_login(superuser)
    before = _state()
    response = client.post(
        reverse("identities:create"), {"display_name": "Long Mail", "email": LONG_EMAIL}
    )
    assert response.status_code == 200
    assert f"at most {EMAIL_LIMIT} characters" in html.unescape(response.content.decode())
    assert _state() == before


@pytest.mark.django_db
def test_importing_a_260_character_email_names_the_line_and_adds_nobody(client, superuser, room):
    client.force_login(superuser)
    before = _state()
    url = reverse("rooms:participants_import", args=[room.pk])
    text = f"name,email,role\nLong Mail,{LONG_EMAIL},\nAda,ada@example.com,\n"
    upload = SimpleUploadedFile("people.csv", text.encode(), content_type="text/csv")
    preview = client.post(url, {"file": upload, "preview": "1"})
    assert preview.status_code == 200
    assert f"Line 2: {csv_import.EMAIL_TOO_LONG}" in html.unescape(preview.content.decode())
    applied = client.post(url, {"apply": "1", "csv": text})
    assert applied.status_code == 200
    assert csv_import.EMAIL_TOO_LONG in html.unescape(applied.content.decode())
    assert _state() == before


@pytest.mark.django_db
def test_a_csv_name_with_control_characters_is_refused_at_the_preview(client, superuser, room):
    client.force_login(superuser)
    text = "name,email\nBell\x07Ringer,bell@example.com\n"
    upload = SimpleUploadedFile("people.csv", text.encode(), content_type="text/csv")
    preview = client.post(
        reverse("rooms:participants_import", args=[room.pk]), {"file": upload, "preview": "1"}
    )
    assert f"Line 2: {csv_import.NAME_CONTROL}" in html.unescape(preview.content.decode())


@pytest.mark.django_db
def test_the_services_refuse_text_longer_than_its_column_before_the_database(superuser):
    before = _state()
    with pytest.raises(ValidationError) as refused:
        identity_create(actor=superuser, display_name="Long Mail", email=LONG_EMAIL)
    assert "254 characters" in " ".join(refused.value.message_dict["email"])
    with pytest.raises(ValidationError):
        identity_find_or_create(actor=superuser, person=NewPerson("Long Mail", LONG_EMAIL))
    start = timezone.now() + timedelta(hours=1)
    with pytest.raises(ValidationError) as refused:
        room_create(
            actor=superuser,
            title="x" * 201,
            valid_from=start,
            valid_until=start + timedelta(hours=1),
        )
    assert "200 characters" in " ".join(refused.value.message_dict["title"])
    assert _state() == before


# ----------------------------------------------------------------------------- every form's limits

PROJECT = ("portal", "rooms", "identities")

# Text fields of plain forms whose value is stored, and the column it goes to.
STORED = {
    ("identities.forms.IdentityForm", "display_name"): (Identity, "display_name"),
    ("identities.forms.IdentityForm", "email"): (Identity, "email"),
    ("rooms.participant_forms.NewPersonForm", "display_name"): (Identity, "display_name"),
    ("rooms.participant_forms.NewPersonForm", "email"): (Identity, "email"),
    ("rooms.forms.RoomForm", "title"): (Room, "title"),
    ("rooms.forms.RoomForm", "notes"): (Room, "notes"),
    ("rooms.series_forms.SeriesForm", "title"): (Series, "title"),
    ("rooms.series_forms.SeriesForm", "notes"): (Series, "notes"),
    ("rooms.series_forms.RosterAddForm", "name"): (Identity, "display_name"),
    ("rooms.series_forms.RosterAddForm", "email"): (Identity, "email"),
}
# Text fields whose value is never stored: searches, filters, tokens, the previewed file.
NOT_STORED = {
    ("rooms.participant_forms.AddPeopleForm", "q"): "a search",
    ("rooms.participant_forms.CsvApplyForm", "csv"): "the file, parsed by csv_import",
    ("rooms.views.browse.RoomFilterForm", "q"): "a search",
    ("portal.forms.HistoryFilterForm", "actor"): "a filter, checked against its column",
    ("portal.forms.HistoryFilterForm", "target"): "a search",
    ("portal.forms.HistoryFilterForm", "action"): "a filter, checked against its column",
}


def _project_modules():
    for package in PROJECT:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if ".migrations" in info.name or info.name.rsplit(".", 1)[-1] in {
                "settings",
                "wsgi",
                "asgi",
            }:
                continue
            importlib.import_module(info.name)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _own_text_fields(form_class):
    """The CharFields (EmailField included) the project declares, not those Django's forms do."""
    inherited = set()
    for base in form_class.__mro__[1:]:
        if base.__module__.split(".")[0] not in PROJECT:
            inherited |= set(getattr(base, "declared_fields", {}))
    for name, field in form_class.base_fields.items():
        if isinstance(field, forms.CharField) and name not in inherited:
            yield name, field


def _column(model, name):
    try:
        field = model._meta.get_field(name)
    except Exception:
        return None
    return field if getattr(field, "concrete", False) else None


def _check(label, name, field, column, problems):
    limit = column.max_length
    if limit is not None and (field.max_length is None or field.max_length > limit):
        problems.append(f"{label}.{name}: max_length {field.max_length}, column {limit}")


@pytest.mark.django_db
def test_every_form_text_field_fits_the_column_it_is_stored_in(superuser):
    _project_modules()
    problems, seen = [], set()
    project_forms = {
        cls
        for cls in _subclasses(forms.BaseForm)
        if cls.__module__.split(".")[0] in PROJECT and not cls.__name__.startswith("_")
    }
    # The admin's forms, as it builds them for a superuser, inlines included.
    request = RequestFactory().get("/admin/")
    request.user = superuser
    for model_admin in admin.site._registry.values():
        project_forms.add(model_admin.get_form(request))
        for inline in model_admin.get_inline_instances(request):
            project_forms.add(inline.get_formset(request).form)

    for form_class in project_forms:
        label = f"{form_class.__module__}.{form_class.__qualname__}"
        model = getattr(getattr(form_class, "_meta", None), "model", None)
        for name, field in form_class.base_fields.items():
            if not isinstance(field, forms.CharField):
                continue
            column = _column(model, name) if model is not None else None
            if column is not None:
                _check(label, name, field, column, problems)
                seen.add((label, name))
        if form_class.__module__.split(".")[0] not in PROJECT:
            continue
        for name, field in _own_text_fields(form_class):
            if (label, name) in seen:
                continue
            key = (label, name)
            if key in STORED:
                stored_model, column_name = STORED[key]
                _check(label, name, field, stored_model._meta.get_field(column_name), problems)
            elif key not in NOT_STORED:
                problems.append(f"{label}.{name}: say in STORED or NOT_STORED where it goes")
    assert not problems, "\n".join(problems)
    # The table names real fields: a renamed one would otherwise go unchecked.
    for form_label, name in {**STORED, **NOT_STORED}:
        module, _, cls = form_label.rpartition(".")
        assert name in getattr(importlib.import_module(module), cls).base_fields


def test_the_csv_import_limits_are_the_columns():
    assert Identity._meta.get_field("display_name").max_length == csv_import.MAX_NAME
    assert Identity._meta.get_field("email").max_length == csv_import.MAX_EMAIL
