"""Identity selectors: the searchable list with room counts, an identity's rooms and history."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identities import selectors, services
from portal import audit, paging
from tests.identities.factories import IdentityFactory
from tests.rooms.factories import ParticipantFactory, RoomFactory

pytestmark = pytest.mark.django_db


def names(queryset) -> list[str]:
    return [identity.display_name for identity in queryset]


def test_it_lists_live_identities_by_name():
    IdentityFactory(display_name="Zoe")
    IdentityFactory(display_name="Ada")
    IdentityFactory(display_name="Gone", deleted_at=timezone.now())
    assert names(selectors.identity_list()) == ["Ada", "Zoe"]


def test_it_includes_deleted_identities_when_asked():
    IdentityFactory(display_name="Ada")
    IdentityFactory(display_name="Gone", deleted_at=timezone.now())
    assert names(selectors.identity_list(show_deleted=True)) == ["Ada", "Gone"]


@pytest.mark.parametrize("search", ["grace", "HOPPER", "navy.mil", "8:acs:abc", "grace navy"])
def test_it_finds_an_identity_by_name_email_or_acs_id(search):
    IdentityFactory(display_name="Grace Hopper", email="grace@navy.mil", raw_id="8:acs:abc-123")
    IdentityFactory(display_name="Alan Turing", email="alan@example.com", raw_id="8:acs:def-456")
    assert names(selectors.identity_list(search=search)) == ["Grace Hopper"]


def test_it_counts_only_the_live_rooms_an_identity_is_in():
    identity = IdentityFactory()
    ParticipantFactory.create_batch(2, identity=identity)
    ParticipantFactory(identity=identity, room=RoomFactory(deleted_at=timezone.now()))
    IdentityFactory()
    counts = {i.pk: i.room_count for i in selectors.identity_list()}
    assert counts[identity.pk] == 2
    assert sorted(counts.values()) == [0, 2]


def test_the_paginator_count_leaves_the_room_subquery_out():
    IdentityFactory.create_batch(3)
    with CaptureQueriesContext(connection) as captured:
        assert selectors.identity_list().count() == 3
    assert "rooms_participant" not in captured.captured_queries[0]["sql"]


def test_a_page_counts_the_rooms_of_its_own_identities_in_two_queries():
    for name in ("Ada", "Bea", "Cy"):
        ParticipantFactory.create_batch(len(name), identity=IdentityFactory(display_name=name))

    with CaptureQueriesContext(connection) as captured:
        page = selectors.identity_page(number=2, per_page=2)
        shown = [(i.display_name, i.room_count) for i in page.object_list]

    assert shown == [("Cy", 2)]
    assert page.paginator.count == 3 and page.paginator.exact
    count_sql, page_sql = (q["sql"] for q in captured.captured_queries)
    # The count is LIMITed and has no room count; the page's room counts are for its ids only.
    assert "LIMIT" in count_sql and "rooms_participant" not in count_sql
    assert "IN (SELECT" in page_sql
    assert not page_sql.rstrip().endswith("OFFSET 2")


def test_a_page_of_many_identities_counts_only_up_to_the_cap_and_pages_on(monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 2)
    for name in ("Ada", "Bea", "Cy", "Di"):
        IdentityFactory(display_name=name)

    pages = [selectors.identity_page(number=1, per_page=1)]
    while pages[-1].has_next():
        number = pages[-1].next_page_number()
        pages.append(selectors.identity_page(number=number, per_page=1))

    first = pages[0].paginator
    assert (first.count, first.exact, first.reach_label) == (3, False, "2")
    assert [i.display_name for page in pages for i in page.object_list] == [
        "Ada",
        "Bea",
        "Cy",
        "Di",
    ]
    assert pages[-1].paginator.exact and pages[-1].paginator.num_pages == 4


def test_identity_rooms_lists_live_rooms_in_time_order():
    identity = IdentityFactory()
    later = ParticipantFactory(
        identity=identity, room=RoomFactory(valid_from=timezone.now() + timedelta(days=3))
    )
    sooner = ParticipantFactory(identity=identity)
    ParticipantFactory(identity=identity, room=RoomFactory(deleted_at=timezone.now()))
    assert list(selectors.identity_rooms(identity)) == [sooner, later]


def test_identity_events_are_the_identitys_own_newest_first(scheduler):
    identity = services.identity_create(actor=scheduler, display_name="Ada")
    other = services.identity_create(actor=scheduler, display_name="Bob")
    audit.record(action="portal.identity.noted", actor=scheduler, target=identity)
    events = selectors.identity_events(identity)
    assert [e.action for e in events] == ["portal.identity.noted", "portal.identity.created"]
    assert all(e.target_id == str(identity.pk) for e in events)
    assert selectors.identity_events(other)[0].target_label == "Bob"
