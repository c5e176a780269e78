"""A model's link to its outbox row, so lists read an object's sync state in the same query."""

from typing import Any, cast

from django.db import models
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor
from django.db.models.sql.where import AND, WhereNode


class _OfKind(ForwardManyToOneDescriptor):
    """`obj.sync` without select_related, and prefetches (fetch modes): this kind's rows only."""

    def get_queryset(self, **hints):
        return super().get_queryset(**hints).filter(kind=self.field.kind)


class SyncRelation(models.ForeignObject):
    """The outbox entry of this object: `Room.sync` is the Entry with kind "room", this id.

    No column: it joins the object's id to Entry.object_id, with the kind in the join's ON
    clause, so `select_related("sync")`, `filter(sync__state=…)` and `order_by("sync__state")`
    read one row per object in one query. Read-only: never assign it (that would set the id).
    """

    forward_related_accessor_class = _OfKind

    def __init__(self, kind: str, **kwargs):
        self.kind = kind
        kwargs.setdefault("on_delete", models.DO_NOTHING)
        kwargs.setdefault("from_fields", ["id"])
        kwargs.setdefault("to_fields", ["object_id"])
        kwargs.setdefault("related_name", "+")
        kwargs.setdefault("null", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("to", "outbox.Entry")
        super().__init__(**kwargs)
        # No column, so no constraint: schema editors ask when the field is removed.
        self.db_constraint = False

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        kwargs["kind"] = self.kind
        for default in ("on_delete", "from_fields", "to_fields", "related_name", "null", "to"):
            kwargs.pop(default, None)
        kwargs.pop("editable", None)
        return name, "outbox.fields.SyncRelation", args, kwargs

    def get_extra_restriction(self, alias, related_alias):
        # In a join `alias` is the entry's table; when Django trims the join from a subquery
        # it passes None and the entry's alias second.
        entry_alias = alias if alias is not None else related_alias
        field = cast(models.Field, self.remote_field.model._meta.get_field("kind"))
        exact = field.get_lookup("exact")
        assert exact is not None
        return WhereNode([cast(Any, exact(field.get_col(entry_alias), self.kind))], AND)

    def _check_unique_target(self):
        # Entry is unique on (kind, object_id); the kind is this relation's constant.
        return []
