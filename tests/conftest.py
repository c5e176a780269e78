"""Fixtures shared by the whole suite: users in each staff group, Hypothesis profiles."""

import os

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from hypothesis import settings as hypothesis_settings

from portal.access import (
    AUDITORS,
    GROUP_PERMISSIONS,
    ROLE_ADMINS,
    SCHEDULERS,
    apply_group_permissions,
)

PASSWORD = "correct-horse-battery-staple"

# Hypothesis: fewer examples on a developer's machine, more in CI (`.ci/run` runs with CI=true);
# HYPOTHESIS_PROFILE=dev|ci chooses one by hand. No deadline: a busy machine would make an
# example "too slow" and fail for nothing. Loaded here, before any test module builds its
# settings, so tests that name no max_examples (tests/security's FUZZ) take the profile's.
hypothesis_settings.register_profile("dev", max_examples=50, deadline=None)
hypothesis_settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").lower() in ("1", "true", "yes") else "dev"
)
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_report_header(config):
    examples = hypothesis_settings.default.max_examples
    return f"hypothesis profile: {HYPOTHESIS_PROFILE} ({examples} examples per property)"


def _member_of(django_user_model, username: str, group: str | None):
    if group and not Group.objects.filter(name=group).exists():
        # A transactional test before this one flushed what the data migration made.
        apply_group_permissions(django_apps, GROUP_PERMISSIONS)
    # Staff, as the portal's users are: the Django admin then obeys their group's permissions.
    user = django_user_model.objects.create_user(
        username=username, password=PASSWORD, is_staff=group is not None
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def scheduler(db, django_user_model):
    return _member_of(django_user_model, "sam.scheduler", SCHEDULERS)


@pytest.fixture
def role_admin(db, django_user_model):
    return _member_of(django_user_model, "rita.roleadmin", ROLE_ADMINS)


@pytest.fixture
def auditor(db, django_user_model):
    return _member_of(django_user_model, "aldo.auditor", AUDITORS)


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser(username="root", password=PASSWORD)


@pytest.fixture
def emulator(settings):
    """The embedded ACS emulator, emptied, with no faults; the portal's gateway talks to it."""
    import acs_gateway as acs

    emulator = acs.embedded_emulator(None)
    emulator.reset()
    yield emulator
    emulator.clear_faults()


def run_tasks(max_rounds: int = 50) -> int:
    """Run every due task the way db_worker does, in this process; returns how many ran."""
    from unittest import mock

    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.management.commands.db_worker import Worker

    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_rounds,
        worker_id="test-worker",
        excluded_queue_names=[],
    )
    # The worker recycles connections between tasks; inside a test's transaction that would
    # close the test's own connection (PostgreSQL), so here it keeps it.
    with mock.patch.object(db_worker, "close_old_connections", lambda: None):
        worker.run()
    return worker._run_tasks


@pytest.fixture(autouse=True, scope="session")
def _static_files_listed_once():
    """WhiteNoise lists every static file each time a test client builds its middleware (some
    30 ms, for most of the suite's tests); the files do not change during a run, so each process
    lists them once per set of settings that decides what it finds and the headers it sends."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    scan = WhiteNoiseMiddleware.add_files_from_finders
    listed: dict[str, dict] = {}
    deciding = {"DEBUG", "FORCE_SCRIPT_NAME", "INSTALLED_APPS", "STATIC_URL", "STORAGES"}

    def add_files_from_finders(self):
        key = repr(
            [
                (name, getattr(settings, name))
                for name in sorted(dir(settings))
                if name in deciding or name.startswith(("STATICFILES_", "WHITENOISE_"))
            ]
        )
        if key not in listed:
            before = dict(self.files)
            scan(self)
            listed[key] = {url: f for url, f in self.files.items() if before.get(url) is not f}
        self.files.update(listed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders)
        yield
