"""Read a CSV of people to add to a room, check every row first, then add them all or none."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

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
ALREADY_IN_ROOM = "{person} is already in the room."


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
    line: int
    name: str
    email: str
    role: str
    # The live identity with this e-mail, if the portal knows the person already.
    identity: Identity | None = None
    action: str = "add"


@dataclass
class ImportPlan:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.errors


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


def parse_participants_csv(data: bytes | str, *, room: Room, actor) -> ImportPlan:
    """Check every row of the file against the room and what the actor may do; nothing is
    written."""
    plan = ImportPlan()
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

    candidates: list[tuple[int, str, str, str]] = []
    first_line_of: dict[str, int] = {}
    for line, record in body:
        if len(record) > len(header) and any(cell.strip() for cell in record[len(header) :]):
            plan.errors.append(
                RowError(line, TOO_MANY_VALUES.format(count=len(record), expected=len(header)))
            )
            continue
        cells = _cells(record, positions)
        row_errors = _row_errors(line, cells, first_line_of, services.may_give_roles(actor))
        plan.errors += row_errors
        if not row_errors:
            role = _role(cells["role"])
            assert role is not None  # else _row_errors() refused the row's role
            candidates.append((line, cells["name"], cells["email"].lower(), role))
    _match_people(plan, candidates, room)
    return plan


def _cells(record: list[str], positions: dict[str, int]) -> dict[str, str]:
    cells = {}
    for column in COLUMNS:
        index = positions.get(column)
        value = record[index] if index is not None and index < len(record) else ""
        cells[column] = " ".join(value.split())
    return cells


def _row_errors(
    line: int, cells: dict[str, str], first_line_of: dict[str, int], may_give_roles: bool
) -> list[RowError]:
    errors = []
    if not cells["name"]:
        errors.append(RowError(line, NAME_MISSING))
    elif MAX_NAME is not None and len(cells["name"]) > MAX_NAME:
        errors.append(RowError(line, NAME_TOO_LONG))
    elif any(is_control(char) for char in cells["name"]):
        errors.append(RowError(line, NAME_CONTROL))
    email = cells["email"].lower()
    # Required: the e-mail is how a person is recognised, so importing a file twice, or a
    # person the portal knows, never makes a second identity for them.
    if not email:
        errors.append(RowError(line, EMAIL_MISSING))
    elif MAX_EMAIL is not None and len(email) > MAX_EMAIL:
        errors.append(RowError(line, EMAIL_TOO_LONG))
    else:
        try:
            validate_email(email)
        except ValidationError:
            errors.append(RowError(line, EMAIL_INVALID.format(email=cells["email"])))
        else:
            if email in first_line_of:
                errors.append(
                    RowError(line, EMAIL_REPEATED.format(email=email, first=first_line_of[email]))
                )
            else:
                first_line_of[email] = line
    role = _role(cells["role"])
    if role is None:
        roles = ", ".join(Role.values)
        errors.append(RowError(line, ROLE_UNKNOWN.format(role=cells["role"], roles=roles)))
    elif role != Role.ATTENDEE and not may_give_roles:
        permission = services.GIVE_ROLES[0]
        errors.append(RowError(line, ROLE_NOT_YOURS.format(role=role, permission=permission)))
    return errors


def _match_people(plan: ImportPlan, candidates: list, room: Room) -> None:
    """Find who the portal knows already (one query) and who is in the room (one more)."""
    emails = [email for _, _, email, _ in candidates]
    known = {
        identity.email: identity
        for identity in Identity.objects.filter(email__in=emails, deleted_at__isnull=True)
    }
    present = set(
        Participant.objects.filter(
            room=room, identity_id__in=[i.pk for i in known.values()]
        ).values_list("identity_id", flat=True)
    )
    for line, name, email, role in candidates:
        identity = known.get(email)
        if identity is not None and identity.pk in present:
            plan.errors.append(RowError(line, ALREADY_IN_ROOM.format(person=identity)))
            continue
        plan.rows.append(ImportRow(line=line, name=name, email=email, role=role, identity=identity))
    plan.errors.sort(key=lambda error: error.line or 0)


def apply_plan(*, actor, room: Room, plan: ImportPlan) -> list[Participant]:
    """Add everyone the plan lists in one service call: one transaction, one push to ACS."""
    if not plan.ok:
        raise ValidationError([str(error) for error in plan.errors] or NO_ROWS)
    entries = [
        services.ParticipantEntry(
            person=row.identity or NewPerson(display_name=row.name, email=row.email),
            role=row.role,
        )
        for row in plan.rows
    ]
    return services.participants_add(actor=actor, room=room, entries=entries)
