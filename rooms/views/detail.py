"""The room page: its facts, its people (roles, bulk changes, adding, CSV import), its history."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identities.services import NewPerson
from portal.http import HtmxHttpRequest, needs, render_page
from portal.ids import parse_id, parse_ids
from portal.services import require
from rooms import csv_import, services
from rooms import participant_selectors as selectors
from rooms.models import Participant, Room
from rooms.participant_forms import (
    ROLE_CHOICES,
    ROLES,
    AddPeopleForm,
    CsvApplyForm,
    CsvUploadForm,
    NewPersonFormSet,
)
from rooms.rules import extend_blocked, window_state
from rooms.selectors import DeletedRoom
from rooms.views.common import (
    DELETED,
    deleted_context,
    get_room_for_user,
    get_room_or_deleted,
    refuses_deleted,
)
from rooms.views.people_rows import RowKit, csrf_input, stamp_rows

DETAIL = "rooms/detail.html"
ADD = "rooms/participants_add.html"
IMPORT = "rooms/participants_import.html"

NOTHING_SELECTED = "Select at least one person first: nothing was changed."
UNKNOWN_ACTION = "Choose whether to change the selected people's role or remove them."
REMOVED_MEANWHILE = "This person was removed from the room meanwhile; nothing was changed."
# The people table shows this many rows, and "Show more people" adds as many again: a room of
# thousands renders in the time of a few hundred.
PEOPLE_PAGE = 200

CHANGE_ROLES = ("rooms.change_participant", "change participants' roles")
REMOVE_PEOPLE = ("rooms.delete_participant", "remove participants")
ADD_PEOPLE = ("rooms.add_participant", "add participants")
READ_HISTORY = ("portal.view_auditevent", "read the history")


def page_start(value) -> int:
    """Where the asked rows start: a whole number of pages in, 0 for anything else."""
    try:
        start = int(value)
    except (TypeError, ValueError):
        return 0
    return start - start % PEOPLE_PAGE if 0 <= start <= 10_000_000 else 0


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"


def _message(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _is_partial(request: HtmxHttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted


def _detail_url(room: Room, anchor: str = "participants") -> str:
    return f"{reverse('rooms:detail', args=[room.pk])}#{anchor}"


def _table_context(request: HtmxHttpRequest, room: Room) -> dict:
    """What the people table and its rows need to decide which controls to show.

    The permissions are looked up here once, and the rows' shared parts (URLs, CSRF input,
    role options) made once by RowKit, rather than in each of up to hundreds of rows.
    """
    user = request.user
    can_change = user.has_perm("rooms.change_participant")
    can_remove = user.has_perm("rooms.delete_participant")
    can_select = can_change or can_remove
    return {
        "room": room,
        "roles": ROLES,
        "role_choices": ROLE_CHOICES,
        "can_change": can_change,
        "can_remove": can_remove,
        "can_select": can_select,
        # Name, e-mail, ACS id, role, added; plus the tick box and the remove button.
        "columns": 5 + can_select + can_remove,
        "csrf_input": csrf_input(request),
        "row_kit": RowKit.for_room(room),
    }


def _people_page(request: HtmxHttpRequest, room: Room, context: dict, start: int) -> None:
    """Rows `start` to `start + PEOPLE_PAGE` of the people table into the context, and whether
    there are more (`more_from`: where the next rows start)."""
    people = selectors.room_participants(room=room)[start : start + PEOPLE_PAGE + 1]
    rows = context["row_kit"].rows(people)
    more = len(rows) > PEOPLE_PAGE
    rows = rows[:PEOPLE_PAGE]
    context["rows"] = rows
    context["rows_html"] = stamp_rows(request, f"{DETAIL}#participant_row", context, rows)
    context["more_from"] = start + PEOPLE_PAGE if more else None
    # Counted only when there are more than the rows shown.
    context["people_count"] = (
        selectors.room_participant_count(room=room) if more or start else len(rows)
    )


def _page_context(
    request: HtmxHttpRequest, room: Room, *, history=True, people_from: int = 0, **extra
) -> dict:
    context = _table_context(request, room)
    _people_page(request, room, context, people_from)
    if history and request.user.has_perm("portal.view_auditevent"):
        context["events"], context["next_before"] = selectors.room_history(room=room)
    context.update(extra)
    return context


def _with_sync_badge(request: HtmxHttpRequest, response: HttpResponse, room: Room) -> HttpResponse:
    """Add the room's sync badge to an htmx answer, swapped in out of band, so the page shows
    the push a change started (and polls it) without a reload."""
    current = Room.objects.select_related("sync").filter(pk=room.pk).first()
    badge = render_to_string(
        "rooms/_sync_badge.html#badge",
        {"room": current, "oob": True, "badge_next": reverse("rooms:detail", args=[room.pk])},
        request=request,
    )
    response.content += badge.encode()
    return response


def _row(request: HtmxHttpRequest, room: Room, participant: Participant | None, **extra):
    """One row of the people table (or, if they left the room, a row saying so)."""
    context = {**_table_context(request, room), **extra}
    if participant is None:
        context.setdefault("row_error", REMOVED_MEANWHILE)
        return render(request, f"{DETAIL}#participant_gone", context)
    context["row"] = context["row_kit"].row(participant)
    return render(request, f"{DETAIL}#participant_row", context)


@require_GET
def room_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The room page; a deleted room's page is read-only, from its tombstone or its history."""
    room = get_room_or_deleted(request, pk)
    if isinstance(room, DeletedRoom):
        return render(request, DELETED, deleted_context(request, room))
    now = timezone.now()
    context = _page_context(
        request,
        room,
        # Live, upcoming or ended, as the list says; and whether "Extend" can apply at all.
        window_state=window_state(room.valid_from, room.valid_until, now),
        extend_blocked=extend_blocked(room.valid_from, room.valid_until, now),
        # Without JavaScript, "Show more people" opens the page at the next rows.
        people_from=page_start(request.GET.get("people_from")),
    )
    return render_page(request, DETAIL, context, partial="participants")


@require_GET
def room_people(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The people table's next rows (?from=N), which "Show more people" adds below the others."""
    room = get_room_for_user(request, pk)
    start = page_start(request.GET.get("from"))
    if not _is_partial(request):
        return redirect(
            f"{reverse('rooms:detail', args=[room.pk])}?people_from={start}#participants"
        )
    context = _table_context(request, room)
    _people_page(request, room, context, start)
    return render(request, f"{DETAIL}#people_more", context)


@require_GET
@needs(*READ_HISTORY)
def room_history(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The room's whole history, a deleted room's too."""
    found = get_room_or_deleted(request, pk)
    room = found.room if isinstance(found, DeletedRoom) else found
    events, next_before = selectors.room_history(
        room=room, before=parse_id(request.GET.get("before", ""))
    )
    context = {"room": room, "events": events, "next_before": next_before, "history_page": True}
    return render_page(request, DETAIL, context, partial="history_items")


@refuses_deleted
@require_POST
@needs(*CHANGE_ROLES)
def participant_role(request: HtmxHttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    participant = selectors.room_participant(room=room, participant_pk=participant_pk)
    role = request.POST.get("role", "")
    error = REMOVED_MEANWHILE if participant is None else None
    if participant is not None:
        try:
            participant = services.participant_role_change(
                actor=request.user, participant=participant, role=role
            )
        except ValidationError as exc:
            error = _message(exc)
            # Show the row as it is now: unchanged, or gone if it was removed meanwhile.
            participant = selectors.room_participant(room=room, participant_pk=participant_pk)
    if _is_partial(request):
        if error:
            return _row(request, room, participant, row_error=error)
        return _with_sync_badge(request, _row(request, room, participant, saved=True), room)
    if error:
        messages.error(request, error)
    else:
        assert participant is not None  # without an error, the service returned the changed row
        name = participant.identity.display_name
        messages.success(request, f"{name} is now {participant.get_role_display()}.")
    return redirect(_detail_url(room))


@refuses_deleted
@require_POST
@needs(*REMOVE_PEOPLE)
def participant_remove(request: HtmxHttpRequest, pk: int, participant_pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    participant = selectors.room_participant(room=room, participant_pk=participant_pk)
    error = None
    if participant is None:
        notice = "This person had already been removed from the room."
    else:
        notice = f"Removed {participant.identity.display_name} from the room."
        try:
            services.participants_remove(
                actor=request.user, room=room, participant_ids=[participant.pk]
            )
        except ValidationError as exc:
            error = _message(exc)
    if _is_partial(request):
        if error:
            return _row(request, room, participant, row_error=error)
        # An empty row replaces the removed one; the count and the notice update beside it.
        context = {"notice": notice, "count": selectors.room_participant_count(room=room)}
        response = render(request, f"{DETAIL}#participant_removed", context)
        return _with_sync_badge(request, response, room)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect(_detail_url(room))


@refuses_deleted
@require_POST
def participants_bulk(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    ids = parse_ids(request.POST.getlist("participant"))
    # The pressed button names the action (both buttons submit the same form).
    actions = request.POST.getlist("action")
    action = next((name for name in ("remove", "role") if name in actions), None)
    notice = error = None
    if action == "role":
        require(request.user, *CHANGE_ROLES)
        role = request.POST.get("role", "")
        if not ids:
            error = NOTHING_SELECTED
        else:
            try:
                changed = services.participants_roles_change(
                    actor=request.user, room=room, roles=dict.fromkeys(ids, role)
                )
            except ValidationError as exc:
                error = _message(exc)
            else:
                if changed:
                    notice = f"Changed the role of {_people(len(changed))} to {role}."
                else:
                    notice = f"Everyone selected already had the role {role}; nothing changed."
    elif action == "remove":
        require(request.user, *REMOVE_PEOPLE)
        if not ids:
            error = NOTHING_SELECTED
        else:
            try:
                removed = services.participants_remove(
                    actor=request.user, room=room, participant_ids=ids
                )
            except ValidationError as exc:
                error = _message(exc)
            else:
                notice = f"Removed {_people(removed)} from the room."
    else:
        error = UNKNOWN_ACTION
    if _is_partial(request):
        context = _page_context(request, room, history=False, notice=notice, error=error)
        return _with_sync_badge(request, render(request, f"{DETAIL}#participants", context), room)
    if error:
        messages.error(request, error)
    else:
        assert notice is not None  # every action ends with a notice or an error
        messages.success(request, notice)
    return redirect(_detail_url(room))


def _add_context(
    request: HtmxHttpRequest, room: Room, *, form, formset, q: str = "", chosen=()
) -> dict:
    chosen_people = selectors.chosen_identities(pks=chosen)
    matches = selectors.addable_identities(
        room=room, query=q, exclude=[identity.pk for identity in chosen_people]
    )
    return {
        "room": room,
        "form": form,
        "formset": formset,
        "q": q,
        "chosen": chosen_people,
        "matches": matches,
        "limit": selectors.SEARCH_LIMIT,
        "roles": ROLES,
        "may_give_roles": services.may_give_roles(request.user),
    }


@refuses_deleted
@require_http_methods(["GET", "POST"])
@needs(*ADD_PEOPLE)
def participants_add(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    if request.method == "GET":
        context = _add_context(
            request,
            room,
            form=AddPeopleForm(),
            formset=NewPersonFormSet(prefix="new"),
            q=request.GET.get("q", "").strip(),
        )
        return render(request, ADD, context)

    chosen = parse_ids(request.POST.getlist("identity"))
    if "more" in request.POST:
        # "Add another row" without JavaScript: the same form, one blank row more, unsaved.
        data = request.POST.copy()
        total = parse_id(request.POST.get("new-TOTAL_FORMS", "")) or 0
        data["new-TOTAL_FORMS"] = str(total + 1)
        context = _add_context(
            request,
            room,
            form=AddPeopleForm(initial={"role": request.POST.get("role")}),
            formset=NewPersonFormSet(data, prefix="new"),
            chosen=chosen,
        )
        return render(request, ADD, context)

    form = AddPeopleForm(request.POST)
    formset = NewPersonFormSet(request.POST, prefix="new")
    if form.is_valid() and formset.is_valid():
        role = form.cleaned_data["role"]
        entries = [
            services.ParticipantEntry(person=identity, role=role)
            for identity in form.cleaned_data["identity"]
        ]
        entries += [
            services.ParticipantEntry(
                person=NewPerson(display_name=row["display_name"], email=row.get("email", "")),
                role=role,
            )
            for row in formset.cleaned_data
            if row.get("display_name", "").strip()
        ]
        try:
            added = services.participants_add(actor=request.user, room=room, entries=entries)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            messages.success(request, f"Added {_people(len(added))} to {room.title}.")
            return redirect(_detail_url(room))
    context = _add_context(request, room, form=form, formset=formset, chosen=chosen)
    # 200 like any re-shown form: the errors are on the page, beside what caused them.
    return render(request, ADD, context)


@refuses_deleted
@require_GET
@needs(*ADD_PEOPLE)
def identity_search(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    q = request.GET.get("q", "").strip()
    context = _add_context(
        request,
        room,
        form=AddPeopleForm(),
        formset=NewPersonFormSet(prefix="new"),
        q=q,
        chosen=parse_ids(request.GET.getlist("identity")),
    )
    return render_page(request, ADD, context, partial="identity_results")


@refuses_deleted
@require_http_methods(["GET", "POST"])
@needs(*ADD_PEOPLE)
def participants_import(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    room = get_room_for_user(request, pk)
    upload_form = CsvUploadForm()
    apply_form = plan = None
    apply_errors: list[str] = []
    outdated = False
    if request.method == "POST" and "apply" in request.POST:
        apply_form = CsvApplyForm(request.POST)
        if apply_form.is_valid():
            # Checked again: the room may have changed since the preview.
            plan = csv_import.parse_participants_csv(
                apply_form.cleaned_data["csv"], room=room, actor=request.user
            )
            outdated = not csv_import.preview_is_current(plan, request.POST.get("plan"))
            if plan.ok and not outdated:
                try:
                    result = csv_import.apply_plan(actor=request.user, room=room, plan=plan)
                except ValidationError as exc:
                    apply_errors = exc.messages
                else:
                    messages.success(request, csv_import.applied_message(result, room))
                    return redirect(_detail_url(room))
        else:
            # An ErrorList yields each message as text; the stubs type its items as the errors.
            apply_errors = [str(error) for errors in apply_form.errors.values() for error in errors]
    elif request.method == "POST":
        upload_form = CsvUploadForm(request.POST, request.FILES)
        if upload_form.is_valid():
            text = upload_form.cleaned_data["file"]
            plan = csv_import.parse_participants_csv(text, room=room, actor=request.user)
            apply_form = CsvApplyForm(initial={"csv": text})
    context = {
        "room": room,
        "upload_form": upload_form,
        "apply_form": apply_form,
        "plan": plan,
        "apply_errors": apply_errors,
        # Said only beside a plan that could be applied: with errors, those say it all.
        "outdated": csv_import.PREVIEW_OUTDATED if outdated and plan and plan.ok else "",
        "columns": csv_import.COLUMNS,
        "max_rows": csv_import.MAX_ROWS,
        "roles": ROLES,
        "may_give_roles": services.may_give_roles(request.user),
    }
    return render(request, IMPORT, context)
