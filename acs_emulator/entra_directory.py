"""The local Entra ID's directory: users, groups, app registrations, kept in the emulator's store.

Seeded once per state with the demo directory (entra_demo), changed through the control API
under /_emulator/entra/ (see docs/acs-emulator.md).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from . import entra_demo
from .entra_demo import TENANT_ID
from .store import Store

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entra_users (
        oid TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
        email TEXT NOT NULL, roles TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS entra_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS entra_members (
        group_id TEXT NOT NULL, oid TEXT NOT NULL, PRIMARY KEY (group_id, oid))""",
    """CREATE TABLE IF NOT EXISTS entra_apps (
        client_id TEXT PRIMARY KEY, name TEXT NOT NULL, secret TEXT NOT NULL,
        redirect_uris TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS entra_codes (
        code TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
        oid TEXT NOT NULL, scope TEXT NOT NULL, nonce TEXT, challenge TEXT NOT NULL,
        expires TEXT NOT NULL, redeemed INTEGER NOT NULL DEFAULT 0)""",
)
DIRECTORY_TABLES = ("entra_members", "entra_users", "entra_groups", "entra_apps", "entra_codes")

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class DirectoryError(ValueError):
    """A control API request the directory refuses; status 400 or 404."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Directory:
    """Users (with their groups and app roles), groups and apps of the one local tenant."""

    def __init__(self, store: Store):
        self.store = store
        with store.write() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            # Seed once per state: a later process sharing the file keeps what was changed since.
            seeded = conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('entra_seeded', '1')"
            ).rowcount
            if seeded:
                self._seed(conn)

    # -- read

    def users(self) -> list[dict]:
        with self.store.read() as conn:
            rows = conn.execute("SELECT * FROM entra_users ORDER BY name, oid").fetchall()
            members = conn.execute(
                "SELECT oid, group_id FROM entra_members ORDER BY group_id"
            ).fetchall()
        groups: dict[str, list[str]] = {}
        for member in members:
            groups.setdefault(member["oid"], []).append(member["group_id"])
        return [self._user_dict(row, groups.get(row["oid"], [])) for row in rows]

    def user(self, oid: str) -> dict | None:
        return next((u for u in self.users() if u["oid"] == oid), None)

    @staticmethod
    def _user_dict(row, groups: list[str]) -> dict:
        return {
            "oid": row["oid"],
            "username": row["username"],
            "name": row["name"],
            "email": row["email"],
            "groups": groups,
            "roles": json.loads(row["roles"]),
        }

    def groups(self) -> list[dict]:
        with self.store.read() as conn:
            rows = conn.execute("SELECT * FROM entra_groups ORDER BY name, id").fetchall()
            members = conn.execute("SELECT * FROM entra_members ORDER BY oid").fetchall()
        return [
            {
                "id": row["id"],
                "name": row["name"],
                "members": [m["oid"] for m in members if m["group_id"] == row["id"]],
            }
            for row in rows
        ]

    def app(self, client_id: str) -> dict | None:
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT * FROM entra_apps WHERE client_id = ?", (client_id.lower(),)
            ).fetchone()
        if row is None:
            return None
        return {
            "client_id": row["client_id"],
            "name": row["name"],
            "secret": row["secret"],
            "redirect_uris": json.loads(row["redirect_uris"]),
        }

    def apps(self) -> list[dict]:
        with self.store.read() as conn:
            ids = [r["client_id"] for r in conn.execute("SELECT client_id FROM entra_apps")]
        return [app for app in (self.app(i) for i in sorted(ids)) if app is not None]

    def directory(self) -> dict:
        return {
            "tenant_id": TENANT_ID,
            "users": self.users(),
            "groups": self.groups(),
            "apps": self.apps(),
        }

    # -- write

    def _seed(self, conn) -> None:
        for group in entra_demo.GROUPS:
            conn.execute(
                "INSERT INTO entra_groups (id, name) VALUES (?, ?)", (group["id"], group["name"])
            )
        for user in entra_demo.USERS:
            self._write_user(conn, user["oid"], user)
        for app in entra_demo.APPS:
            self._write_app(conn, app["client_id"], app)

    def reset(self) -> dict:
        """Back to the demo directory (entra_demo), sign-in codes dropped."""
        with self.store.write() as conn:
            for table in DIRECTORY_TABLES:
                conn.execute(f"DELETE FROM {table}")
            self._seed(conn)
        return self.directory()

    def put_user(self, oid: str, data: dict) -> dict:
        oid = _guid(oid, "user id")
        with self.store.write() as conn:
            self._write_user(conn, oid, data)
        return self._must_user(oid)

    def _write_user(self, conn, oid: str, data: dict) -> None:
        username = _text(data, "username")
        if "@" not in username:
            raise DirectoryError("username must look like an e-mail address (user@domain).")
        name = _text(data, "name")
        email = data.get("email", username)
        if not isinstance(email, str) or "@" not in email:
            raise DirectoryError("email must be an e-mail address.")
        roles = _strings(data.get("roles", []), "roles")
        taken = conn.execute(
            "SELECT oid FROM entra_users WHERE username = ? AND oid != ?", (username, oid)
        ).fetchone()
        if taken:
            raise DirectoryError(f"Another user already has the username {username}.")
        conn.execute(
            "INSERT INTO entra_users (oid, username, name, email, roles) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (oid) DO UPDATE SET username = excluded.username, "
            "name = excluded.name, email = excluded.email, roles = excluded.roles",
            (oid, username, name, email, json.dumps(roles)),
        )
        if "groups" in data:
            self._write_groups(conn, oid, data["groups"])

    def _write_groups(self, conn, oid: str, groups: Any) -> None:
        wanted = [_guid(g, "group id") for g in _strings(groups, "groups")]
        known = {r["id"] for r in conn.execute("SELECT id FROM entra_groups")}
        unknown = [g for g in wanted if g not in known]
        if unknown:
            raise DirectoryError(f"No such group: {', '.join(unknown)}.")
        conn.execute("DELETE FROM entra_members WHERE oid = ?", (oid,))
        for group_id in dict.fromkeys(wanted):
            conn.execute("INSERT INTO entra_members (group_id, oid) VALUES (?, ?)", (group_id, oid))

    def set_user_groups(self, oid: str, data: dict) -> dict:
        self._must_user(oid)
        if "groups" not in data:
            raise DirectoryError('The body must name the user\'s groups: {"groups": [...]}.')
        with self.store.write() as conn:
            self._write_groups(conn, oid, data["groups"])
        return self._must_user(oid)

    def set_user_roles(self, oid: str, data: dict) -> dict:
        self._must_user(oid)
        if "roles" not in data:
            raise DirectoryError('The body must name the user\'s roles: {"roles": [...]}.')
        roles = _strings(data["roles"], "roles")
        with self.store.write() as conn:
            conn.execute("UPDATE entra_users SET roles = ? WHERE oid = ?", (json.dumps(roles), oid))
        return self._must_user(oid)

    def delete_user(self, oid: str) -> None:
        self._must_user(oid)
        with self.store.write() as conn:
            conn.execute("DELETE FROM entra_members WHERE oid = ?", (oid,))
            conn.execute("DELETE FROM entra_users WHERE oid = ?", (oid,))

    def put_group(self, group_id: str, data: dict) -> dict:
        group_id = _guid(group_id, "group id")
        name = _text(data, "name")
        with self.store.write() as conn:
            conn.execute(
                "INSERT INTO entra_groups (id, name) VALUES (?, ?) "
                "ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                (group_id, name),
            )
        return self._must_group(group_id)

    def add_member(self, group_id: str, data: dict) -> dict:
        self._must_group(group_id)
        oid = data.get("oid")
        if not isinstance(oid, str) or self.user(oid) is None:
            raise DirectoryError('The body must name an existing user: {"oid": "..."}.')
        with self.store.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO entra_members (group_id, oid) VALUES (?, ?)", (group_id, oid)
            )
        return self._must_group(group_id)

    def remove_member(self, group_id: str, oid: str) -> dict:
        self._must_group(group_id)
        with self.store.write() as conn:
            removed = conn.execute(
                "DELETE FROM entra_members WHERE group_id = ? AND oid = ?", (group_id, oid)
            ).rowcount
        if not removed:
            raise DirectoryError(f"User {oid} is not a member of group {group_id}.", 404)
        return self._must_group(group_id)

    def put_app(self, client_id: str, data: dict) -> dict:
        client_id = _guid(client_id, "client id")
        with self.store.write() as conn:
            self._write_app(conn, client_id, data)
        app = self.app(client_id)
        assert app is not None
        return app

    @staticmethod
    def _write_app(conn, client_id: str, data: dict) -> None:
        name = _text(data, "name")
        secret = _text(data, "secret")
        uris = _strings(data.get("redirect_uris", []), "redirect_uris")
        bad = [u for u in uris if not re.match(r"^https?://[^\s/]+", u) or "#" in u]
        if bad:
            raise DirectoryError(f"redirect_uris must be absolute http(s) URIs: {', '.join(bad)}.")
        conn.execute(
            "INSERT INTO entra_apps (client_id, name, secret, redirect_uris) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, "
            "secret = excluded.secret, redirect_uris = excluded.redirect_uris",
            (client_id, name, secret, json.dumps(uris)),
        )

    def _must_user(self, oid: str) -> dict:
        user = self.user(oid)
        if user is None:
            raise DirectoryError(f"No user with id {oid}.", 404)
        return user

    def _must_group(self, group_id: str) -> dict:
        group = next((g for g in self.groups() if g["id"] == group_id), None)
        if group is None:
            raise DirectoryError(f"No group with id {group_id}.", 404)
        return group

    # -- control API

    def control(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        """/_emulator/entra[/...]: read and change the directory (see docs/acs-emulator.md)."""
        parsed: Any = {}
        if method in ("POST", "PUT", "PATCH") and body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        if not isinstance(parsed, dict):
            return 400, _error(400, "The body must be a JSON object.")
        data: dict = parsed
        routes: dict[str, Callable[[], Any]] = {}
        match parts:
            case []:
                routes["GET"] = self.directory
            case ["reset"]:
                routes["POST"] = self.reset
            case ["users"]:
                routes["GET"] = self.users
                routes["POST"] = lambda: self.put_user(str(data.get("oid") or uuid.uuid4()), data)
            case ["users", oid]:
                routes["GET"] = lambda: self._must_user(oid)
                routes["PUT"] = lambda: self.put_user(oid, data)
                routes["DELETE"] = lambda: self.delete_user(oid)
            case ["users", oid, "groups"]:
                routes["PUT"] = lambda: self.set_user_groups(oid, data)
            case ["users", oid, "roles"]:
                routes["PUT"] = lambda: self.set_user_roles(oid, data)
            case ["groups"]:
                routes["GET"] = self.groups
            case ["groups", group_id]:
                routes["GET"] = lambda: self._must_group(group_id)
                routes["PUT"] = lambda: self.put_group(group_id, data)
            case ["groups", group_id, "members"]:
                routes["POST"] = lambda: self.add_member(group_id, data)
            case ["groups", group_id, "members", oid]:
                routes["DELETE"] = lambda: self.remove_member(group_id, oid)
            case ["apps"]:
                routes["GET"] = self.apps
            case ["apps", client_id]:
                routes["GET"] = lambda: self.app(client_id) or _raise_no_app(client_id)
                routes["PUT"] = lambda: self.put_app(client_id, data)
        action = routes.get(method)
        if action is None:
            return 404, _error(
                404, f"No control endpoint {method} /_emulator/entra/{'/'.join(parts)}."
            )
        try:
            result = action()
        except DirectoryError as exc:
            return exc.status, _error(exc.status, str(exc))
        if result is None:
            return 204, None
        return (201 if method == "POST" and parts == ["users"] else 200), result


def _raise_no_app(client_id: str):
    raise DirectoryError(f"No app with client id {client_id}.", 404)


def _error(status: int, message: str) -> dict:
    return {"error": {"code": "BadRequest" if status == 400 else "NotFound", "message": message}}


def _guid(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _GUID.match(value.lower()):
        raise DirectoryError(f"The {what} must be a GUID, like {uuid.UUID(int=0)}; got {value!r}.")
    return value.lower()


def _text(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DirectoryError(f"{name} is required and must be a non-empty string.")
    return value.strip()


def _strings(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DirectoryError(f"{name} must be a list of non-empty strings.")
    return list(value)
