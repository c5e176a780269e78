"""Every URL, for every kind of user, answers the status its permissions call for.

One table says which permission each portal URL needs per method; the Django admin's URLs follow
from their model and kind (list, add, change, delete). A URL missing from the table fails the
test that checks the table covers the portal, so a new page cannot skip the matrix.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from outbox.engine import push_task
from rooms import services
from rooms.models import Participant, Role, Room, Series
from tests.conftest import run_tasks
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import ParticipantFactory, RoomFactory
from tests.urls import all_urls

USERS = ["anonymous", "scheduler", "role_admin", "auditor", "superuser"]
PUBLIC = {"login", "healthz", "favicon", "admin:login"}
# A personal join link is its own key (tests/joining cover them: no sign-in, one neutral 404).
PUBLIC |= {"joining:join", "joining:token"}
# So is a calendar feed's secret (tests/invitations/test_feeds.py: no sign-in, a neutral 404).
PUBLIC |= {"invitations:feed"}
# Health probes are for load balancers and monitors (tests/ops/test_health.py: no sign-in).
PUBLIC |= {"health_live", "health_ready", "health"}
# Entra ID sign-in starts before anyone is signed in (tests/portal/test_entra.py; test_access.py:
# no sign-in, a 404 while Entra ID is not configured).
PUBLIC |= {"oidc_authentication_init", "oidc_authentication_callback"}
ANY_SIGNED_IN = None
# The REST API's endpoints take bearer tokens, not sessions: tests/api/test_permission_matrix.py
# runs each of them for every group. Its token page and docs page are portal pages (PORTAL).
API_PAGES = {"api:tokens", "api:openapi-view"}

# URL name → {method: the permission it needs (None: any signed-in user)}.
PORTAL = {
    "dashboard": {"GET": ANY_SIGNED_IN},
    "logout": {"POST": ANY_SIGNED_IN},
    "rooms:list": {"GET": "rooms.view_room"},
    "rooms:calendar": {"GET": "rooms.view_room"},
    "rooms:create": {"GET": "rooms.add_room", "POST": "rooms.add_room"},
    "rooms:validate": {"POST": "rooms.add_room"},
    "rooms:detail": {"GET": "rooms.view_room"},
    "rooms:edit": {"GET": "rooms.change_room", "POST": "rooms.change_room"},
    "rooms:delete": {"GET": "rooms.delete_room", "POST": "rooms.delete_room"},
    "rooms:duplicate": {"POST": "rooms.add_room"},
    "rooms:extend": {"POST": "rooms.change_room"},
    "rooms:retry_sync": {"POST": "rooms.change_room"},
    "rooms:sync_badge": {"GET": "rooms.view_room"},
    "rooms:history": {"GET": "portal.view_auditevent"},
    "rooms:people": {"GET": "rooms.view_room"},
    "rooms:participants_add": {"GET": "rooms.add_participant", "POST": "rooms.add_participant"},
    "rooms:identity_search": {"GET": "rooms.add_participant"},
    "rooms:participants_bulk": {"POST": "rooms.change_participant"},
    "rooms:participants_import": {
        "GET": "rooms.add_participant",
        "POST": "rooms.add_participant",
    },
    "rooms:role": {"POST": "rooms.change_participant"},
    "rooms:participant_remove": {"POST": "rooms.delete_participant"},
    "rooms:series_list": {"GET": "rooms.view_room"},
    "rooms:series_create": {"GET": "rooms.add_room", "POST": "rooms.add_room"},
    "rooms:series_detail": {"GET": "rooms.view_room"},
    "rooms:series_edit": {"GET": "rooms.change_room", "POST": "rooms.change_room"},
    # Each roster change checks its own permission in the service (add, role, remove).
    "rooms:series_roster": {"POST": "rooms.view_room"},
    "rooms:series_cancel": {"GET": "rooms.delete_room", "POST": "rooms.delete_room"},
    "rooms:series_skip": {"POST": "rooms.delete_room"},
    "identities:list": {"GET": "identities.view_identity"},
    "identities:create": {"GET": "identities.add_identity", "POST": "identities.add_identity"},
    "identities:detail": {"GET": "identities.view_identity"},
    "identities:issue_token": {"GET": "identities.issue_token", "POST": "identities.issue_token"},
    "identities:revoke_tokens": {"POST": "identities.revoke_tokens"},
    "identities:delete": {
        "GET": "identities.delete_identity",
        "POST": "identities.delete_identity",
    },
    "history": {"GET": "portal.view_auditevent"},
    "history_export": {"GET": "portal.view_auditevent"},
    "time_zone": {"GET": ANY_SIGNED_IN, "POST": ANY_SIGNED_IN},
    "joining:link_regenerate": {"POST": "rooms.add_participant"},
    "joining:link_revoke": {"POST": "rooms.add_participant"},
    "invitations:room_calendar": {"GET": "rooms.view_room"},
    "invitations:room": {"GET": "rooms.add_participant"},
    "invitations:toggle": {"POST": "rooms.add_participant"},
    "invitations:preview": {"GET": "rooms.add_participant"},
    "invitations:resend": {"POST": "rooms.add_participant"},
    "invitations:feed_settings": {"GET": ANY_SIGNED_IN, "POST": ANY_SIGNED_IN},
    "api:tokens": {"GET": ANY_SIGNED_IN, "POST": ANY_SIGNED_IN},
    "api:openapi-view": {"GET": ANY_SIGNED_IN},
}

# Admin pages that belong to no model: any staff member may open them.
ADMIN_STAFF = {"admin:index", "admin:password_change", "admin:password_change_done"}
# Admin pages the portal never offers, to anyone: the audit trail is append-only.
# (django-tasks-db's results are written by the worker only.)
ADMIN_NOBODY = {
    "admin:portal_auditevent_add",
    "admin:portal_auditevent_delete",
    "admin:django_tasks_database_dbtaskresult_add",
    "admin:django_tasks_database_dbtaskresult_delete",
    # django-axes records sign-ins itself; a lock-out is lifted by deleting its attempt.
    "admin:axes_accessattempt_add",
    "admin:axes_accesslog_add",
    "admin:axes_accessfailurelog_add",
    # A series changes on its own page, where each change names the occurrences it reaches.
    "admin:rooms_series_add",
    "admin:rooms_series_delete",
}
ADMIN_KINDS = {"changelist": "view", "add": "add", "change": "view", "delete": "delete"}
# Reached only with real ids or from the admin's own scripts; covered by their neighbours.
ADMIN_SKIPPED = {"admin:autocomplete", "admin:jsi18n", "admin:view_on_site", "admin:logout"}


def _admin_permission(name: str) -> str | None | bool:
    """The permission an admin page needs; None for any staff; False for nobody."""
    if name in ADMIN_STAFF:
        return ANY_SIGNED_IN
    if name in ADMIN_NOBODY:
        return False
    if name.startswith("admin:app_list"):
        return ANY_SIGNED_IN
    model_part, _, kind = name.removeprefix("admin:").rpartition("_")
    for app_label in ("django_tasks_database", "identities", "portal", "rooms", "auth", "axes"):
        if model_part.startswith(app_label + "_"):
            model = model_part.removeprefix(app_label + "_")
            verb = ADMIN_KINDS.get(kind, "view")
            return f"{app_label}.{verb}_{model}"
    raise AssertionError(f"admin URL {name} has no rule in the matrix")


def _routes():
    """(view name, path pattern) for every URL, namespaces included."""
    seen = {}
    for path, _entry in all_urls():
        match = resolve(path)
        seen.setdefault(match.view_name, path)
    return seen


ROUTES = _routes()
API_ENDPOINTS = {name for name in ROUTES if name.startswith("api:") and name not in API_PAGES}


def _cases():
    for name, path in sorted(ROUTES.items()):
        if name in PUBLIC | API_ENDPOINTS or name in ADMIN_SKIPPED or name == "admin:app_list":
            continue
        if "." in name:
            # Unnamed admin redirects (<pk>/ → <pk>/change/) resolve to their view's dotted path.
            continue
        # Admin pages are read with GET here; the portal's POST endpoints are all covered.
        for method in ("GET",) if name.startswith("admin:") else ("GET", "POST"):
            for user in USERS:
                yield pytest.param(name, path, method, user, id=f"{method} {path} {user}")


@pytest.fixture
def world(superuser, emulator):
    """Objects every URL can be pointed at, pushed to ACS like real ones."""
    start = timezone.now() + timedelta(hours=1)
    room = RoomFactory(owner=superuser, valid_from=start, valid_until=start + timedelta(hours=2))
    participant = ParticipantFactory(room=room)
    loner = IdentityFactory()
    series = Series.objects.create(
        title="Matrix series",
        owner=superuser,
        time_zone="UTC",
        first_day=(start + timedelta(days=1)).date(),
        start_time=start.time().replace(second=0, microsecond=0),
        duration=timedelta(hours=1),
        frequency="weekly",
    )
    occurrence = RoomFactory(
        title="Stand-up",
        owner=superuser,
        valid_from=start + timedelta(days=1),
        valid_until=start + timedelta(days=1, hours=1),
        series=series,
        occurrence=start + timedelta(days=1),
    )
    run_tasks()
    # A queued task, so the task results' admin pages have an object to show.
    push_task.enqueue("room", room.pk)
    # A sign-in failure, lock-out and success, so the lock-out admin's pages have objects too.
    seen = {"ip_address": "198.51.100.66", "user_agent": "matrix", "http_accept": "*/*"}
    attempt = AccessAttempt.objects.create(
        username="victim",
        path_info="/login/",
        get_data="",
        post_data="",
        failures_since_start=5,
        **seen,
    )
    failure = AccessFailureLog.objects.create(username="victim", path_info="/login/", **seen)
    success = AccessLog.objects.create(username="root", path_info="/login/", **seen)
    return {
        "room": Room.objects.get(pk=room.pk),
        "series": series,
        "occurrence": occurrence,
        "participant": participant,
        "identity": loner,
        "admin": {
            "rooms_room": room.pk,
            "rooms_participant": participant.pk,
            "rooms_series": series.pk,
            "identities_identity": loner.pk,
            "auth_user": superuser.pk,
            "auth_group": Group.objects.order_by("pk").first().pk,
            "django_tasks_database_dbtaskresult": DBTaskResult.objects.order_by("pk").first().pk,
            "axes_accessattempt": attempt.pk,
            "axes_accessfailurelog": failure.pk,
            "axes_accesslog": success.pk,
        },
    }


def _concrete(name: str, path: str, world) -> str:
    """The path with ids of objects that exist (404s would hide missing permission checks)."""
    room, participant, identity = world["room"], world["participant"], world["identity"]
    if name.startswith("rooms:series"):
        path = path.replace("/series/1/", f"/series/{world['series'].pk}/", 1)
        return path.replace("/skip/1/", f"/skip/{world['occurrence'].pk}/", 1)
    if name.startswith(("rooms:", "invitations:")):
        path = path.replace("/rooms/1/", f"/rooms/{room.pk}/", 1)
        return path.replace("/people/1/", f"/people/{participant.pk}/", 1)
    if name.startswith("identities:"):
        return path.replace("/identities/1/", f"/identities/{identity.pk}/", 1)
    if name.startswith("joining:"):
        return path.replace("/links/sample/", f"/links/{participant.pk}/", 1)
    if name.startswith("admin:"):
        for model, pk in world["admin"].items():
            if name.startswith(f"admin:{model}_"):
                return path.replace("/sample/", f"/{pk}/")
    return path


def _form(world) -> dict:
    room, participant = world["room"], world["participant"]
    now = timezone.localtime()
    return {
        "title": "Matrix",
        "version": room.version,
        "valid_from": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "valid_until": (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
        "time_zone": "UTC",
        "role": "Presenter",
        "action": "role",
        "participant": [participant.pk],
        "participants": [participant.pk],
        "scopes": ["voip"],
        "minutes": "60",
        "display_name": "Matrix Person",
        "email": "matrix@example.com",
    }


def _user(request, kind):
    return None if kind == "anonymous" else request.getfixturevalue(kind)


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "path", "method", "user_kind"), list(_cases()))
def test_every_url_answers_each_user_as_its_permission_says(
    request, world, name, path, method, user_kind
):
    if name.startswith("admin:"):
        permission = _admin_permission(name)
        allowed_methods = {"GET"}
    else:
        permission = PORTAL[name].get(method, "method not allowed")
        allowed_methods = set(PORTAL[name])
    user = _user(request, user_kind)
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    url = _concrete(name, path, world)
    response = client.post(url, _form(world)) if method == "POST" else client.get(url)

    if user is None:
        assert response.status_code == 302, response
        assert "login/" in response["Location"]
        return
    if method not in allowed_methods:
        assert response.status_code == 405
        return
    if permission is False or (permission and not user.has_perm(permission)):
        assert response.status_code == 403
        if not name.startswith("admin:"):
            # The 403 page names the permission that is missing.
            assert permission in response.content.decode()
        return
    assert response.status_code in {200, 302}, (response.status_code, response.content[:500])
    if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
        assert "Content-Security-Policy" in response


def test_the_matrix_names_every_portal_url():
    portal = {
        name
        for name in ROUTES
        if not name.startswith("admin:") and name not in PUBLIC | API_ENDPOINTS
    }
    assert portal == set(PORTAL)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "path"),
    [(name, path) for name, path in sorted(ROUTES.items()) if "POST" in PORTAL.get(name, {})],
)
def test_every_post_needs_the_csrf_token_which_htmx_sends_as_a_header(superuser, world, name, path):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(superuser)
    url = _concrete(name, path, world)
    before = (Participant.objects.count(), Room.objects.count())
    refused = client.post(url, _form(world))
    assert refused.status_code == 403
    assert (Participant.objects.count(), Room.objects.count()) == before
    client.get("/")  # sets the CSRF cookie, as any page does
    token = client.cookies["csrftoken"].value
    accepted = client.post(url, _form(world), headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert accepted.status_code != 403


# ------------------------------------------------------------- the role each way of adding gives
#
# A status code is not enough: a scheduler may add people but not choose their role, so every way
# of adding someone must end with an Attendee (or a refusal) for a scheduler, and with the chosen
# role for those who may give roles.

ADDERS = ["scheduler", "role_admin", "superuser"]


def _add_page(client, room, identity):
    return client.post(
        f"/rooms/{room.pk}/people/add/",
        {
            "identity": [identity.pk],
            "role": Role.PRESENTER,
            "new-TOTAL_FORMS": "0",
            "new-INITIAL_FORMS": "0",
        },
    )


def _csv_apply(client, room, identity):
    csv = f"name,email,role\n{identity.display_name},{identity.email},Presenter\n"
    return client.post(f"/rooms/{room.pk}/people/import/", {"apply": "1", "csv": csv})


def _admin_inline(client, room, identity):
    from tests.admin_helpers import _room_form

    data = _room_form(room)
    data.update(
        {
            "participants-TOTAL_FORMS": "1",
            "participants-0-identity": str(identity.pk),
            "participants-0-role": Role.PRESENTER,
            "participants-0-room": str(room.pk),
        }
    )
    return client.post(reverse("admin:rooms_room_change", args=[room.pk]), data)


def _admin_participant(client, room, identity):
    return client.post(
        reverse("admin:rooms_participant_add"),
        {"room": room.pk, "identity": identity.pk, "role": Role.PRESENTER, "_save": "Save"},
    )


WAYS_TO_ADD = {
    "add page": _add_page,
    "CSV import": _csv_apply,
    "admin inline": _admin_inline,
    "admin participant": _admin_participant,
}


@pytest.mark.django_db
@pytest.mark.parametrize("readd", [False, True], ids=["new", "removed and added back"])
@pytest.mark.parametrize("way", list(WAYS_TO_ADD))
@pytest.mark.parametrize("user_kind", ADDERS)
def test_only_those_who_may_give_roles_add_someone_as_a_presenter(
    request, world, way, user_kind, readd
):
    user = request.getfixturevalue(user_kind)
    room, person = world["room"], world["identity"]
    if readd:
        # An Attendee removed and added back must not come back with a role the adder chose.
        person = world["participant"].identity
        services.participants_remove(
            actor=user, room=room, participant_ids=[world["participant"].pk]
        )
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = WAYS_TO_ADD[way](client, room, person)

    assert response.status_code in {200, 302, 403}
    roles = set(
        Participant.objects.filter(room=room, identity=person).values_list("role", flat=True)
    )
    if user.has_perm("rooms.change_participant"):
        assert roles == {Role.PRESENTER}, (way, response.status_code)
    else:
        # Either added as an Attendee or refused; never the role a scheduler asked for.
        assert roles <= {Role.ATTENDEE}, (way, response.status_code)
        if response.status_code == 403:
            assert "rooms.change_participant" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("user_kind", ADDERS)
def test_a_duplicate_keeps_roles_only_for_those_who_may_give_them(request, world, user_kind):
    user = request.getfixturevalue(user_kind)
    room = world["room"]
    Participant.objects.filter(pk=world["participant"].pk).update(role=Role.PRESENTER)
    copy = services.room_duplicate(actor=user, room=room)
    roles = set(copy.participants.values_list("role", flat=True))
    expected = Role.PRESENTER if user.has_perm("rooms.change_participant") else Role.ATTENDEE
    assert roles == {expected}
