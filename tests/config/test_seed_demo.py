"""make run seeds a fresh portal with demo data, once, through the services."""

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.core.management import call_command

from portal.access import GROUP_PERMISSIONS, apply_group_permissions
from rooms.models import Participant, Role, Room, Series
from tests.conftest import run_tasks


@pytest.mark.django_db(transaction=True)
def test_it_seeds_rooms_people_and_staff_and_acs_gets_them(superuser, emulator, capsys):
    # A transactional test before this one may have flushed the groups the migration made.
    apply_group_permissions(django_apps, GROUP_PERMISSIONS)
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "password for each" in out
    # Three rooms, and the weekly stand-up's occurrences over the 56-day horizon.
    stand_up = Series.objects.get(title="Weekly stand-up")
    assert Room.objects.filter(series=stand_up).count() == 8
    assert Room.objects.count() == 3 + 8
    assert Participant.objects.filter(role=Role.PRESENTER).count() == 3 + 8
    assert set(User.objects.filter(is_staff=True).values_list("username", flat=True)) >= {
        "sam",
        "rita",
        "aldo",
    }
    assert User.objects.get(username="rita").has_perm("rooms.change_participant")
    run_tasks()
    assert set(Room.objects.values_list("sync__state", flat=True)) == {"synced"}
    import acs_gateway as acs

    assert len(list(acs.get_gateway().list_rooms())) == 3 + 8


@pytest.mark.django_db
def test_it_adds_nothing_to_a_portal_already_in_use(superuser, emulator, capsys):
    call_command("seed_demo")
    Room.objects.all().delete()
    call_command("seed_demo")
    assert "no demo data added" in capsys.readouterr().out
    assert Room.objects.count() == 0
