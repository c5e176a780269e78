"""Room views: the room form (create, edit, live checks) and the room's one-click actions."""

from urllib.parse import urlsplit

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.http import HtmxHttpRequest, needs, next_or
from portal.ids import parse_id
from portal.services import Conflict, require
from rooms import rules, services
from rooms.forms import (
    VERSION_LOST,
    RoomForm,
    conflict_rows,
    copy_initial,
    new_room_initial,
    room_initial,
)
from rooms.models import Room
from rooms.views.common import get_room_for_user, refuses_deleted

EXTEND_BY = rules.EXTEND_BY
AT_LIMIT = (
    f"“{{title}}” already lasts the {rules.MAX_DAYS} days ACS allows: it cannot be extended. "
    "Duplicate it to continue after it ends."
)
ENDED_NO_EXTEND = (
    "“{title}” has ended, and ACS no longer holds a room that has ended: it cannot be extended. "
    "Duplicate it to use it again; nothing was changed."
)
COPY_GONE = (
    "The room you are copying was deleted meanwhile, so its people cannot be copied and nothing "
    "was created. Save again to create the room without them."
)
STALE_ACTION = (
    "Someone else changed this room in the meantime, so nothing was changed. "
    "Check it and try again."
)
# Polling stops when the answer is 286 (htmx's "stop polling" status).
STOP_POLLING = 286


def _posted_version(request: HtmxHttpRequest) -> int | None:
    return parse_id(request.POST.get("version", ""))


def _local(value) -> str:
    local = timezone.localtime(value)
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()}"


def _participants(count: int) -> str:
    return f"{count} participant{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------- the room form


def _copy_context(request: HtmxHttpRequest, source: Room, copy: services.RoomCopy) -> dict:
    """What the form says about a copy before it is saved: whom it copies, and how."""
    return {
        "source": source,
        "people": [(entry.person, entry.role) for entry in copy.participants],
        "moved": copy.moved,
        "roles_kept": copy.roles_kept,
    }


def _copy_source(request: HtmxHttpRequest) -> tuple[Room | None, bool]:
    """The room the form copies (?copy= on the link, the hidden `copy` on save), and whether
    one was named. A room deleted since the page was shown is named but None: see COPY_GONE."""
    pk = parse_id(request.POST.get("copy", "") or request.GET.get("copy", ""))
    if pk is None:
        return None, False
    if request.method == "GET":
        return get_room_for_user(request, pk), True  # 404, or 410 for a deleted room
    try:
        return get_room_for_user(request, pk), True
    except Http404:
        return None, True


@refuses_deleted
@require_http_methods(["GET", "POST"])
@needs("rooms.add_room", "create rooms")
def room_create(request: HtmxHttpRequest) -> HttpResponse:
    """The new-room form; with ?copy=<room>, Duplicate: filled in from that room, and saving
    creates the room with its people. Nothing is written before Save, so Cancel leaves nothing."""
    source, copying = _copy_source(request)
    copy = services.room_copy(actor=request.user, room=source) if source else None
    if request.method == "POST":
        form = RoomForm(request.POST)
        if copying and source is None:
            form.add_error(None, COPY_GONE)
        elif form.is_valid():
            people = copy.participants if copy else ()
            try:
                room = services.room_create(
                    actor=request.user, participants=people, **form.room_fields()
                )
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, _created_message(room, len(people), copy))
                return redirect("rooms:detail", pk=room.pk)
    elif copy is not None:
        form = RoomForm(initial=copy_initial(copy))
    else:
        form = RoomForm(initial=new_room_initial())
    context: dict = {"form": form, "room": None}
    if source is not None and copy is not None:
        context["copy"] = _copy_context(request, source, copy)
    return render(request, "rooms/form.html", context)


def _created_message(room: Room, people: int, copy: services.RoomCopy | None) -> str:
    if copy is None:
        return f"Created “{room.title}”. It is being pushed to ACS; add people next."
    roles = "" if copy.roles_kept or not people else " Everyone in it is an Attendee."
    return f"Created “{room.title}” with {_participants(people)}.{roles} It is being pushed to ACS."


@refuses_deleted
@require_http_methods(["GET", "POST"])
@needs("rooms.change_room", "edit rooms")
def room_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    context: dict = {"room": room}
    if request.method == "POST":
        form = RoomForm(request.POST, room=room)
        if form.is_valid():
            version = form.cleaned_data["version"]
            try:
                if version is None:
                    raise ValidationError(VERSION_LOST)
                saved = services.room_update(
                    actor=request.user, room=room, expected_version=version, **form.room_fields()
                )
            except Conflict as conflict:
                # What saving again would change: the room as it is now against what was sent.
                context["changes"] = conflict_rows(form.room_fields(), conflict.current)
                context["conflict"] = conflict
                form = _rebase(request, conflict.current)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(request, f"Saved “{saved.title}”.")
                return redirect("rooms:detail", pk=saved.pk)
    else:
        form = RoomForm(initial=room_initial(room))
    context["form"] = form
    return render(request, "rooms/form.html", context)


def _rebase(request: HtmxHttpRequest, current: Room) -> RoomForm:
    """The user's values over the room's current version: saving again overwrites on purpose."""
    data = request.POST.copy()
    data["version"] = str(current.version)
    form = RoomForm(data, room=current)
    form.is_valid()
    return form


@refuses_deleted
@require_POST
def room_validate(request: HtmxHttpRequest) -> HttpResponse:
    """Check the room form as the user leaves each field; writes nothing."""
    user = request.user
    if not (user.has_perm("rooms.add_room") or user.has_perm("rooms.change_room")):
        require(user, "rooms.add_room", "create or edit rooms")
    touched = {name for name in request.POST.get("touched", "").split(",") if name}
    # The room being edited, if any (the edit page names it): untouched times keep their instant.
    pk = parse_id(request.GET.get("room", ""))
    room = get_room_for_user(request, pk) if pk else None
    form = RoomForm(request.POST, room=room, touched=touched)
    form.is_valid()
    return render(request, "rooms/form.html#feedback", {"form": form})


# --------------------------------------------------------------------------- actions


@refuses_deleted
@require_http_methods(["GET", "POST"])
@needs("rooms.delete_room", "delete rooms")
def room_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    if request.method == "POST":
        version = _posted_version(request)
        try:
            if version is None:
                raise ValidationError(VERSION_LOST)
            services.room_delete(actor=request.user, room=room, expected_version=version)
        except Conflict:
            messages.error(request, STALE_ACTION)
            return redirect("rooms:delete", pk=room.pk)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("rooms:delete", pk=room.pk)
        messages.success(request, f"Deleted “{room.title}”. ACS removes it in a moment.")
        return redirect("rooms:list")
    context = {"room": room, "participant_count": room.participants.count()}
    return render(request, "rooms/confirm_delete.html", context)


@refuses_deleted
@require_POST
@needs("rooms.add_room", "create rooms")
def room_duplicate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The old Duplicate button's address: the form of the copy, which only Save creates."""
    room = get_room_for_user(request, pk)
    return redirect(f"{reverse('rooms:create')}?copy={room.pk}")


@refuses_deleted
@require_POST
@needs("rooms.change_room", "edit rooms")
def room_extend(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Add a week to the room's end, up to ACS's limit (rules.MAX_ROOM_LIFETIME)."""
    room = get_room_for_user(request, pk)
    back = next_or(request, reverse("rooms:detail", args=[room.pk]))
    limit = room.valid_from + rules.MAX_ROOM_LIFETIME
    blocked = rules.extend_blocked(room.valid_from, room.valid_until, timezone.now())
    if blocked is not None:
        refusal = ENDED_NO_EXTEND if blocked == rules.ExtendBlocked.ENDED else AT_LIMIT
        messages.error(request, refusal.format(title=room.title))
        return redirect(back)
    version = _posted_version(request)
    new_end = rules.extended_until(room.valid_from, room.valid_until)
    try:
        if version is None:
            raise ValidationError(VERSION_LOST)
        services.room_update(
            actor=request.user, room=room, expected_version=version, valid_until=new_end
        )
    except Conflict:
        messages.error(request, STALE_ACTION)
        return redirect(back)
    except ValidationError as exc:
        messages.error(request, f"Could not extend “{room.title}”: {' '.join(exc.messages)}")
        return redirect(back)
    capped = f" That is the {rules.MAX_DAYS}-day limit." if new_end == limit else ""
    messages.success(request, f"Extended “{room.title}” until {_local(new_end)}.{capped}")
    return redirect(back)


@refuses_deleted
@require_POST
@needs("rooms.change_room", "retry pushing rooms")
def room_retry_sync(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    services.room_retry_sync(actor=request.user, room=room)
    messages.success(request, f"Pushing “{room.title}” to ACS again now.")
    return redirect(next_or(request, reverse("rooms:detail", args=[room.pk])))


# --------------------------------------------------------------------------- the sync badge


def badge_fingerprint(room: Room) -> str:
    """What the badge shows; a poll that would show the same thing answers 204 (no swap)."""
    entry = room.sync
    if entry is None:
        return ".0."
    next_try = str(int(entry.next_try_at.timestamp())) if entry.next_try_at else ""
    return f"{entry.state}.{entry.attempts}.{next_try}"


@require_GET
def room_sync_badge(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The room's sync badge alone, for the badge's own polling."""
    require(request.user, "rooms.view_room", "view rooms")
    # Tombstones too (no get_room_for_user): a deleted room shows "deleted" and stops polling.
    room = Room.objects.select_related("sync").filter(pk=pk).first()
    if room is None:
        if not request.htmx:
            raise Http404("No such room.")
        # The row is gone once ACS confirmed the delete: say so, and end the polling.
        return render(request, "rooms/_sync_badge.html#badge", {"room": None}, status=STOP_POLLING)
    if request.htmx and request.GET.get("shown") == badge_fingerprint(room):
        # Nothing new: no swap, so screen readers hear nothing and focus stays on the button.
        return HttpResponse(status=204)
    context = {"room": room, "badge_next": _page_path(request)}
    return render(request, "rooms/_sync_badge.html#badge", context)


def _page_path(request: HtmxHttpRequest) -> str:
    """The page the badge sits on, so "Retry now" comes back to it (not to this partial)."""
    if request.htmx and request.htmx.current_url:
        parts = urlsplit(request.htmx.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    match = request.resolver_match
    assert match is not None  # a view always runs with its resolver match
    return reverse("rooms:detail", args=[match.kwargs["pk"]])
