"""ACS calls per change, and whether the user waits for ACS when changing a role.

Calls are counted in the emulator's own request log. The baseline for calls is a naive
update_participants() call to ACS after every role change, there and then;
the baseline for waiting is the same request with no ACS latency, and the contrast a request
that pushes to ACS itself before answering.
"""

from __future__ import annotations

import statistics
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

import acs_gateway as acs
from benchmarks.seed import Seeded
from benchmarks.table import Report, Row, Timing, progress, ratio, timed
from benchmarks.worker import ThreadWorker, run_tasks
from identities.models import Identity
from invitations.models import RoomCalendar
from rooms import services
from rooms.models import Participant, Role, Room
from rooms.sync import desired_state

UPDATE = "Participants_Update"


def _calls(emulator, operation: str = UPDATE) -> int:
    return emulator.requests()["counts"].get(operation, 0)


def _other(role: str) -> str:
    return Role.ATTENDEE if role == Role.PRESENTER else Role.PRESENTER


def _in_step(room: Room) -> bool:
    """Whether ACS holds exactly the portal's roster for the room."""
    room.refresh_from_db()
    return acs.get_gateway().list_participants(room.acs_id) == desired_state(room)["participants"]


def make_room(seeded: Seeded, people: int, title: str) -> Room:
    """A room made through the service and pushed by the worker, as a user would make it."""
    start = timezone.now() + timedelta(hours=1)
    identities = list(Identity.objects.order_by("pk")[:people])
    room = services.room_create(
        actor=seeded.scheduler,
        title=title,
        valid_from=start,
        valid_until=start + timedelta(hours=2),
        participants=[services.ParticipantEntry(person=identity) for identity in identities],
    )
    # These rooms measure ACS Rooms calls: their people get no invitations (the rooms of the
    # throughput and drain benchmarks neither), so no e-mail shares the worker.
    RoomCalendar.objects.update_or_create(room_id=room.pk, defaults={"invitations_enabled": False})
    run_tasks()
    room.refresh_from_db()
    if not room.acs_id:
        raise RuntimeError(f"{title}: the worker did not push the room ({room.sync.last_error})")
    return room


def _naive_push(participant: Participant) -> None:
    """What a first attempt does: tell ACS about every changed participant, there and then."""
    acs.get_gateway().update_participants(
        participant.room.acs_id, upserts={participant.identity.raw_id: participant.role}
    )


def _change(actor, participants: list[Participant], *, naive: bool = False) -> None:
    # One service call, hence one transaction, per change: users clicking one after another.
    # (Services save roles with bulk_update, which sends no post_save, so the naive baseline
    # calls ACS after each service call instead of from a receiver.)
    for participant in participants:
        current = Participant.objects.get(pk=participant.pk)
        changed = services.participant_role_change(
            actor=actor, participant=current, role=_other(current.role)
        )
        if naive:
            _naive_push(changed)


def calls_per_change(report: Report, seeded: Seeded) -> Room:
    emulator = acs.embedded_emulator(None)
    emulator.clear_faults()
    room = make_room(seeded, 100, "Calls per change")
    people = list(room.participants.order_by("pk"))
    for k in (1, 10, 100):
        progress(f"ACS calls for {k} role change(s)")
        before = _calls(emulator)
        _change(seeded.role_admin, people[:k])
        run_tasks()
        calls = _calls(emulator) - before
        in_step = _in_step(room)

        before = _calls(emulator)
        _change(seeded.role_admin, people[:k], naive=True)
        naive = _calls(emulator) - before
        run_tasks()  # the portal's own push of the baseline's changes, not counted
        report.add(
            Row(
                f"ACS calls for {k} role change(s), separate transactions, then the worker",
                str(calls),
                f"{naive} (naive call per change)",
                ratio(calls, naive),
                target="1",
                met=calls == 1 and in_step,
                note="" if in_step else "ACS roster differs from the portal's",
            )
        )
    return room


def _role_url(client: Client, room: Room, participant: Participant) -> tuple[str, str]:
    """The URL to time: the portal's rooms:role view if it changes the role, else the bench one."""
    url = reverse("rooms:role", args=[room.pk, participant.pk])
    role = _other(Participant.objects.get(pk=participant.pk).role)
    response = client.post(url, {"role": role})
    changed = Participant.objects.get(pk=participant.pk).role == role
    if response.status_code < 400 and changed:
        return url, ""
    fallback = reverse("bench_role_change", args=[room.pk, participant.pk])
    return fallback, (
        f"rooms:role answered {response.status_code} (role changed: {changed}), so the "
        f"minimal equivalent was timed: {fallback}, a POST view calling "
        "participant_role_change(); re-run when rooms:role lands"
    )


def _leaked_claim(room: Room) -> bool:
    """True if the room is still claimed although no worker is running any more."""
    return (
        Room.objects.filter(pk=room.pk, sync__held_until__gt=timezone.now())
        .exclude(sync__holder="")
        .exists()
    )


LEAK = (
    "push_room() left {what} claimed after its worker returned, so every task for it answered "
    "'busy' until the 60 s lease ran out: after MAX_ROUNDS rounds of changes arriving during "
    "its push, outbox.engine.push lets the room go, enqueues it again and returns PENDING "
    "without releasing the claim"
)


def _role_requests(client: Client, url: str, participant: Participant, count: int, **extra):
    def one() -> None:
        role = _other(Participant.objects.get(pk=participant.pk).role)
        response = client.post(url, {"role": role, **extra})
        if response.status_code >= 400:
            raise RuntimeError(f"POST {url} answered {response.status_code}")
        if extra.get("push") and response.content != b"synced":
            raise RuntimeError(f"the push in the request ended {response.content!r}")

    return timed(one, count=count, warmup=2)


def _push_durations(emulator, since: int) -> float | None:
    durations = [
        entry["duration_ms"]
        for entry in emulator.requests()["requests"][since:]
        if entry["operation"] == UPDATE and entry["status"] == 200
    ]
    return statistics.median(durations) if durations else None


def user_does_not_wait(report: Report, seeded: Seeded, *, requests: int) -> None:
    emulator = acs.embedded_emulator(None)
    emulator.clear_faults()
    client = Client()
    client.force_login(seeded.role_admin)
    timings: dict[int, Timing] = {}
    fallback_note = ""
    leaks = []
    for latency in (0, 50, 500):
        # A fresh room each time, so one run's leftovers cannot slow the next.
        room = make_room(seeded, 20, f"Latency {latency} ms")
        participant = room.participants.order_by("pk").first()
        url, fallback_note = _role_url(client, room, participant)
        run_tasks()
        progress(f"role change requests with {latency} ms ACS latency, worker running")
        emulator.set_faults(latency_ms=latency)
        since = len(emulator.requests()["requests"])
        # The worker pushes while the requests are timed, as in production.
        with ThreadWorker():
            timings[latency] = _role_requests(client, url, participant, requests)
        if _leaked_claim(room):
            leaks.append(f"{latency} ms")
        run_tasks()
        pushed = _push_durations(emulator, since)
        emulator.clear_faults()
        in_step = _in_step(room)
        if latency == 0:
            continue
        speed = ratio(timings[latency].median, timings[0].median)
        notes = [f"pushes took {pushed:.0f} ms in ACS" if pushed else "no push reached ACS"]
        if not in_step:
            notes.append("ACS roster differs at the end")
        report.add(
            Row(
                f"role change request, ACS latency {latency} ms (worker pushing meanwhile)",
                timings[latency].text(),
                f"{timings[0].text()} at 0 ms",
                speed,
                target=">= 0.8x (same time)",
                met=speed is not None and speed >= 0.8,
                note="; ".join(notes),
            )
        )
    if fallback_note:
        report.note(fallback_note)
    if leaks:
        report.note(LEAK.format(what="the room of the " + ", ".join(leaks) + " run(s)"))

    progress("contrast: role change request that pushes to ACS itself, 500 ms latency")
    room = make_room(seeded, 20, "Synchronous push")
    participant = room.participants.order_by("pk").first()
    emulator.set_faults(latency_ms=500)
    try:
        sync_url = reverse("bench_role_change", args=[room.pk, participant.pk])
        synchronous = _role_requests(client, sync_url, participant, max(5, requests // 5), push="1")
    finally:
        emulator.clear_faults()
    report.add(
        Row(
            "contrast: the same request pushing to ACS itself, 500 ms latency",
            synchronous.text(),
            f"{timings[500].text()} (async, 500 ms)",
            ratio(synchronous.median, timings[500].median),
            target="- (contrast)",
        )
    )
