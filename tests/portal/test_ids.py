"""Ids from the browser: only those a row could have reach the database."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.ids import MAX_ID, parse_id, parse_ids
from rooms.services import room_create


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("42", 42),
        (str(MAX_ID), MAX_ID),
        (str(MAX_ID + 1), None),
        ("9" * 40, None),
        ("0", None),
        ("-1", None),
        ("²", None),  # a digit to str.isdigit(), not to int()
        ("١٢", None),  # Arabic-Indic digits
        ("1.0", None),
        ("", None),
        (" 1", None),
    ],
)
def test_parse_id_takes_only_ascii_digits_in_range(value, expected):
    assert parse_id(value) == expected


def test_parse_ids_keeps_each_real_id_once_in_order():
    assert parse_ids(["3", "x", "1", "3", "9" * 40, "2"]) == [3, 1, 2]


@pytest.mark.django_db
def test_pages_answer_ids_no_row_could_have_without_an_error(client, superuser):
    client.force_login(superuser)
    start = timezone.now() + timedelta(hours=1)
    room = room_create(
        actor=superuser, title="Ids", valid_from=start, valid_until=start + timedelta(hours=1)
    )
    huge = "9" * 40
    add = reverse("rooms:participants_add", args=[room.pk])
    response = client.post(
        add,
        {
            "role": "Attendee",
            "identity": [huge],
            "add": "1",
            "new-TOTAL_FORMS": "3",
            "new-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "One of the people you ticked" in response.content.decode()
    response = client.post(add, {"role": "Attendee", "more": "1", "new-TOTAL_FORMS": "²"})
    assert response.status_code == 200
    bulk = reverse("rooms:participants_bulk", args=[room.pk])
    assert client.post(bulk, {"participant": [huge, "²"], "action": "remove"}).status_code in (
        200,
        302,
    )
    history = reverse("rooms:history", args=[room.pk])
    assert client.get(history, {"before": "²"}).status_code == 200
    assert client.get(reverse("history"), {"before": huge, "after": "²"}).status_code == 200
