"""The identities list past the count cap: it says "more than", and pages on without a total."""

import pytest
from django.urls import reverse

from portal import paging
from tests.identities.factories import IdentityFactory

LIST = reverse("identities:list")


@pytest.fixture
def as_auditor(client, auditor):
    client.force_login(auditor)
    return client


def test_a_list_longer_than_the_cap_says_more_than_and_pages_on(as_auditor, monkeypatch):
    monkeypatch.setattr(paging, "COUNT_CAP", 2)
    for n in range(30):
        IdentityFactory(display_name=f"Match {n:02}")

    first = as_auditor.get(LIST, {"q": "match"}).text
    second = as_auditor.get(LIST, {"q": "match", "page": "2"}).text

    # The first page needs 25 counted: more than that is all the list says.
    assert "More than 25 identities matching" in first
    assert "Page 1</span>" in first
    assert 'href="?q=match&amp;page=2"' in first
    # The second page counts to its end and finds the last of the 30: exact again.
    assert "30 identities matching" in second
    assert "Page 2 of 2" in second
    assert "Match 29" in second and "Match 00" not in second
