"""What the admin shows of an object's outbox row: a state column and one read-only sync panel."""

import json

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from portal.templatetags.portal_tags import when


class SyncPanelMixin:
    """For the admin of a model with a `sync` SyncRelation: list column, filter, sync panel."""

    @admin.display(description="sync", ordering="sync__state")
    def sync_state(self, obj):
        entry = obj.sync
        return entry.get_state_display() if entry is not None else "—"

    @admin.display(description="where it stands with ACS")
    def sync_panel(self, obj):
        entry = obj.sync
        if entry is None:
            return "Never pushed."
        rows = [
            ("State", entry.get_state_display()),
            ("Error", entry.last_error or "—"),
            ("Attempts", entry.attempts),
            ("Next try", when(entry.next_try_at)),
            ("Last synced", when(entry.confirmed_at)),
            ("Held by", entry.holder or "—"),
        ]
        confirmed = json.dumps(entry.acs, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html(
            '<dl class="sync-panel">{}</dl><pre class="audit-json">{}</pre>',
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows),
            confirmed,
        )
