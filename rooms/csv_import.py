"""Read a CSV roster for a room: say what applying it does with each row (add a person, change
a role, leave it as it is, or why it cannot), then do all of it in one change, or nothing."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models.functions import Lower

from identities.models import Identity
from identities.services import NewPerson
from portal.services import CONTROL_CHARACTERS, column_length, is_control
from rooms import services
from rooms.models import Participant, Role, Room

MAX_ROWS = 1000
# The columns' limits: a longer cell would pass here and fail in the database.
MAX_NAME = column_length(Identity, "display_name")
MAX_EMAIL = column_length(Identity, "email")
COLUMNS = ("name", "email", "role")
# Spellings people put in a header, mapped to the column they mean.
HEADER_ALIASES = {"name": "name", "email": "email", "e-mail": "email", "role": "role"}

NOT_TEXT = "The file is not a CSV file: it is not UTF-8 text (save it as “CSV UTF-8”)."
NOT_CSV = "The file is not a CSV file: {error}."
EMPTY = "The file is empty."
NO_ROWS = "The file has a header row but no one to add."
MISSING_COLUMNS = (
    "The header row must name the columns name and email (role is optional); it has: {found}."
)
UNKNOWN_COLUMNS = "The header row has unknown column(s) {columns}; use name, email and role."
REPEATED_COLUMN = "The header row names the column {column} twice."
TOO_MANY_ROWS = (
    "The file has more than {limit:,} people ({count:,} rows); split it into smaller files."
)
TOO_MANY_VALUES = "The row has {count} values, but the header names {expected} columns."
NAME_MISSING = "The name is missing."
NAME_TOO_LONG = f"The name is longer than {MAX_NAME} characters."
NAME_CONTROL = CONTROL_CHARACTERS.format(field="The name")
EMAIL_MISSING = "The e-mail address is missing."
EMAIL_TOO_LONG = f"The e-mail address is longer than {MAX_EMAIL} characters."
EMAIL_INVALID = "{email!r} is not a valid e-mail address."
ROLE_UNKNOWN = "{role!r} is not a role; choose one of {roles}."
ROLE_NOT_YOURS = (
    "You may not give the role {role}: it needs the permission “{permission}”. "
    "Leave the role empty (Attendee) or ask a role admin to import the file."
)
EMAIL_REPEATED = "{email} is on line {first} already."
EMAIL_REPEATED_ROLE = (
    "{email} is on line {first} already as {first_role}, here as {role}: "
    "list each person once, with the role they should have."
)
ROLE_CHANGE_NOT_YOURS = (
    "You may not change the role of {person} from {old} to {new}: it needs the permission "
    "“{permission}”. Keep their role ({old}) in the file or ask a role admin to import it."
)
PREVIEW_OUTDATED = (
    "The room changed after your preview, so nothing was applied. "
    "This is what applying the file would do now: check it and apply again."
)
NOTHING_TO_APPLY = (
    "Everyone in the file is in the room with that role already: nothing was changed."
)


class Action(StrEnum):
    """What applying the file does with one of its rows."""

    ADD = "add"
    CHANGE = "change"
    UNCHANGED = "unchanged"
    ERROR = "error"


class RowError(NamedTuple):
    """One reason the file cannot be imported; line is None when it is about the whole file."""

    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"Line {self.line}: {self.message}"


@dataclass(frozen=True)
class ImportRow:
    """One person row of the file and what applying it does."""

    line: int
    name: str
    email: str
    # The role the person will have; for an error row, the cell as written.
    role: str
    # The live identity with this e-mail, if the portal knows the person already.
    identity: Identity | None = None
    action: str = Action.ADD
    # For someone in the room already: their participant row and the role they have now.
    participant_id: int | None = None
    old_role: str | None = None
    # Why an error row cannot be applied.
    reasons: tuple[str, ...] = ()


@dataclass
class ImportPlan:
    """Every row of a file with what applying it does, and everything wrong with it."""

    # Every person row in file order, error rows too (the preview shows them all).
    entries: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    room_id: int | None = None
    # People in the room whom the file does not list: they stay (a file never removes anyone).
    not_in_file: int = 0

    @property
    def rows(self) -> list[ImportRow]:
        """The rows without problems."""
        return [row for row in self.entries if row.action != Action.ERROR]

    @property
    def adds(self) -> list[ImportRow]:
        return [row for row in self.entries if row.action == Action.ADD]

    @property
    def changes(self) -> list[ImportRow]:
        return [row for row in self.entries if row.action == Action.CHANGE]

    @property
    def unchanged(self) -> list[ImportRow]:
        return [row for row in self.entries if row.action == Action.UNCHANGED]

    @property
    def error_rows(self) -> list[ImportRow]:
        return [row for row in self.entries if row.action == Action.ERROR]

    @property
    def counts(self) -> dict[str, int]:
        """How many rows each action has (the preview's summary)."""
        counts = dict.fromkeys(Action, 0)
        for row in self.entries:
            counts[Action(row.action)] += 1
        return {str(action): count for action, count in counts.items()}

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.errors

    @property
    def has_changes(self) -> bool:
        return any(row.action in (Action.ADD, Action.CHANGE) for row in self.entries)

    @property
    def fingerprint(self) -> str:
        """A digest of what applying does, row by row: the preview's Apply carries it, so an
        apply whose re-check of the room finds something else to do is shown, not done."""
        parts = [str(self.room_id)] + [
            f"{row.line}|{row.action}|{row.identity.pk if row.identity else row.email}|"
            f"{row.old_role}|{row.role}"
            for row in self.rows
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _text(data: bytes | str) -> str | None:
    if isinstance(data, bytes):
        try:
            # utf-8-sig drops the byte-order mark Excel writes in front of "CSV UTF-8" files.
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return None
    return data.removeprefix("\ufeff")


def _delimiter(text: str) -> str:
    """Sniff the delimiter from the header row: Excel in many European locales writes `;`."""
    header = text.lstrip().splitlines()[0] if text.strip() else ""
    return ";" if header.count(";") > header.count(",") else ","


def _columns(header: list[str]) -> dict[str, int] | RowError:
    """Each column's position in the header row, or what is wrong with the header."""
    names = [cell.strip().lower() for cell in header]
    unknown = [name for name in names if name and name not in HEADER_ALIASES]
    if unknown:
        return RowError(1, UNKNOWN_COLUMNS.format(columns=", ".join(map(repr, unknown))))
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        column = HEADER_ALIASES[name]
        if column in positions:
            return RowError(1, REPEATED_COLUMN.format(column=column))
        positions[column] = index
    if not {"name", "email"} <= positions.keys():
        found = ", ".join(repr(name) for name in names if name) or "nothing"
        return RowError(1, MISSING_COLUMNS.format(found=found))
    return positions


def _role(value: str) -> str | None:
    if not value:
        return Role.ATTENDEE
    return {role.lower(): role for role in Role.values}.get(value.lower())


@dataclass
class _Candidate:
    """A row as read, before the room is looked at; role None: the file names no roles."""

    line: int
    cells: dict[str, str]
    email: str
    role: str | None
    reasons: list[str]


def parse_participants_csv(data: bytes | str, *, room: Room, actor) -> ImportPlan:
    """Check every row of the file against the room and what the actor may do, and say what
    applying it would do with each row; nothing is written."""
    plan = ImportPlan(room_id=room.pk)
    text = _text(data)
    if text is None or "\x00" in text:
        plan.errors.append(RowError(None, NOT_TEXT))
        return plan
    if not text.strip():
        plan.errors.append(RowError(None, EMPTY))
        return plan
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        records = [(reader.line_num, record) for record in reader]
    except csv.Error as exc:
        plan.errors.append(RowError(reader.line_num or None, NOT_CSV.format(error=exc)))
        return plan
    # Blank lines separate nothing in a CSV file; Excel leaves them at the end.
    records = [(line, record) for line, record in records if any(cell.strip() for cell in record)]
    if not records:
        plan.errors.append(RowError(None, EMPTY))
        return plan
    header_line, header = records[0]
    positions = _columns(header)
    if isinstance(positions, RowError):
        plan.errors.append(positions._replace(line=header_line))
        return plan
    body = records[1:]
    if not body:
        plan.errors.append(RowError(None, NO_ROWS))
        return plan
    if len(body) > MAX_ROWS:
        # Checked first and alone: a file this long would bury the verdict under row messages.
        plan.errors.append(
            RowError(body[MAX_ROWS][0], TOO_MANY_ROWS.format(limit=MAX_ROWS, count=len(body)))
        )
        return plan

    candidates = _read_rows(body, header, positions)
    _match_people(plan, candidates, room, may_give_roles=services.may_give_roles(actor))
    return plan


def _read_rows(
    body: list[tuple[int, list[str]]], header: list[str], positions: dict[str, int]
) -> list[_Candidate]:
    """Each row's cells and what is wrong with it on its own or beside the rows above it."""
    candidates = []
    first_of: dict[str, tuple[int, str | None]] = {}
    for line, record in body:
        cells = _cells(record, positions)
        email = cells["email"].lower()
        # Without a role column the file says nothing of roles: those in the room keep theirs.
        role = _role(cells["role"]) if "role" in positions else None
        if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
            reasons = [TOO_MANY_VALUES.format(count=len(record), expected=len(header))]
        else:
            reasons = _row_errors(cells, email, role, positions, first_of, line)
        candidates.append(_Candidate(line, cells, email, role, reasons))
    return candidates


def _cells(record: list[str], positions: dict[str, int]) -> dict[str, str]:
    cells = {}
    for column in COLUMNS:
        index = positions.get(column)
        value = record[index] if index is not None and index < len(record) else ""
        cells[column] = " ".join(value.split())
    return cells


def _row_errors(
    cells: dict[str, str],
    email: str,
    role: str | None,
    positions: dict[str, int],
    first_of: dict[str, tuple[int, str | None]],
    line: int,
) -> list[str]:
    errors = []
    if not cells["name"]:
        errors.append(NAME_MISSING)
    elif MAX_NAME is not None and len(cells["name"]) > MAX_NAME:
        errors.append(NAME_TOO_LONG)
    elif any(is_control(char) for char in cells["name"]):
        errors.append(NAME_CONTROL)
    # Required: the e-mail is how a person is recognised, so importing a file twice, or a
    # person the portal knows, never makes a second identity for them.
    if not email:
        errors.append(EMAIL_MISSING)
    elif MAX_EMAIL is not None and len(email) > MAX_EMAIL:
        errors.append(EMAIL_TOO_LONG)
    else:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(EMAIL_INVALID.format(email=cells["email"]))
        else:
            if email in first_of:
                errors.append(_repeated(email, role, *first_of[email]))
            else:
                first_of[email] = (line, role)
    if "role" in positions and role is None:
        roles = ", ".join(Role.values)
        errors.append(ROLE_UNKNOWN.format(role=cells["role"], roles=roles))
    return errors


def _repeated(email: str, role: str | None, first: int, first_role: str | None) -> str:
    """A person listed twice: saying which two roles the file gives them, if it gives two."""
    if role is not None and first_role is not None and role != first_role:
        return EMAIL_REPEATED_ROLE.format(
            email=email, first=first, first_role=first_role, role=role
        )
    return EMAIL_REPEATED.format(email=email, first=first)


def _match_people(
    plan: ImportPlan, candidates: list[_Candidate], room: Room, *, may_give_roles: bool
) -> None:
    """Find who the portal knows already (one query) and who is in the room (two more), and
    decide each row: add, change the role, leave as it is, or refuse."""
    good = [c for c in candidates if not c.reasons]
    known = {
        identity.email.lower(): identity
        for identity in Identity.objects.filter(deleted_at__isnull=True)
        .alias(email_key=Lower("email"))
        .filter(email_key__in=sorted({c.email for c in good}))
    }
    present = {
        identity_id: (pk, role)
        for identity_id, pk, role in Participant.objects.filter(
            room=room, identity_id__in=[i.pk for i in known.values()]
        ).values_list("identity_id", "pk", "role")
    }
    plan.not_in_file = Participant.objects.filter(room=room).count() - len(present)
    for candidate in candidates:
        row = _decide(candidate, known, present, may_give_roles)
        plan.entries.append(row)
        plan.errors += [RowError(row.line, reason) for reason in row.reasons]
    plan.errors.sort(key=lambda error: error.line or 0)


def _decide(
    candidate: _Candidate,
    known: Mapping[str, Identity],
    present: Mapping[int, tuple[int, str]],
    may_give_roles: bool,
) -> ImportRow:
    row = ImportRow(
        line=candidate.line,
        name=candidate.cells["name"],
        email=candidate.email,
        role=candidate.role or candidate.cells["role"] or Role.ATTENDEE,
    )
    if candidate.reasons:
        return replace(row, action=Action.ERROR, reasons=tuple(candidate.reasons))
    identity = known.get(candidate.email)
    permission = services.GIVE_ROLES[0]
    if identity is None or identity.pk not in present:
        # Someone new to the room: as when adding by hand, only role admins give a role.
        role = candidate.role or Role.ATTENDEE
        row = replace(row, role=role, identity=identity)
        if role != Role.ATTENDEE and not may_give_roles:
            reason = ROLE_NOT_YOURS.format(role=role, permission=permission)
            return replace(row, action=Action.ERROR, reasons=(reason,))
        return row
    participant_id, old_role = present[identity.pk]
    role = candidate.role or old_role
    row = replace(
        row, role=role, identity=identity, participant_id=participant_id, old_role=old_role
    )
    if role == old_role:
        return replace(row, action=Action.UNCHANGED)
    if not may_give_roles:
        reason = ROLE_CHANGE_NOT_YOURS.format(
            person=identity, old=old_role, new=role, permission=permission
        )
        return replace(row, action=Action.ERROR, reasons=(reason,))
    return replace(row, action=Action.CHANGE)


def apply_plan(*, actor, room: Room, plan: ImportPlan) -> services.RosterChange:
    """Add everyone the plan adds and change the roles it changes in one service call: one
    transaction, one push to ACS. A plan with any error row applies nothing."""
    if not plan.ok:
        raise ValidationError([str(error) for error in plan.errors] or NO_ROWS)
    entries = [
        services.ParticipantEntry(
            person=row.identity or NewPerson(display_name=row.name, email=row.email),
            role=row.role,
        )
        for row in plan.adds
    ]
    roles = {row.participant_id: row.role for row in plan.changes if row.participant_id}
    return services.participants_apply_roster(actor=actor, room=room, add=entries, roles=roles)


def preview_is_current(plan: ImportPlan, shown: str | None) -> bool:
    """Whether the plan checked at Apply is the one the preview showed (its fingerprint).

    A post without one (not from the preview page) applies what the file says now, as checked.
    """
    return shown is None or shown == plan.fingerprint


def applied_message(result: services.RosterChange, room: Room) -> str:
    """What an apply did, in a sentence for the room page."""
    added, changed = len(result.added), len(result.changed)
    if added and changed:
        return (
            f"Added {_people(added)} to {room.title} and changed the role of "
            f"{_people(changed)}, as the file says."
        )
    if added:
        return f"Added {_people(added)} from the file to {room.title}."
    if changed:
        return f"Changed the role of {_people(changed)} in {room.title}, as the file says."
    return NOTHING_TO_APPLY


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"
