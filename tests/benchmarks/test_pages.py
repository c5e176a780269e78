"""The page benchmark's machinery: a fair stock baseline, per-query SQL timing, interleaved
requests, and the growth verdicts of `--sizes`. Never a time: only that it runs and counts."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from benchmarks import pages, scale
from benchmarks.seed import Sizes, seed
from benchmarks.table import Report

pytestmark = [pytest.mark.django_db, pytest.mark.urls("benchmarks.urls")]

TINY = Sizes(rooms=30, per_room=4, identities=25, big_room=12, events=200)


@pytest.fixture
def seeded():
    return seed(TINY)


@pytest.fixture
def client(seeded):
    client = Client()
    client.force_login(seeded.superuser)
    return client


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_the_fair_stock_room_list_runs_no_query_per_row(client):
    fair = _queries(client, reverse("baseline_admin:rooms_room_changelist"))
    naive = _queries(client, reverse("naive_admin:rooms_room_changelist"))
    assert fair <= 10
    # The naive one counts each of the 25 rows' participants on its own.
    assert naive >= fair + 25


def test_the_fair_stock_list_shows_the_same_participant_counts_as_the_naive_one(client, seeded):
    url = "baseline_admin:rooms_room_changelist"
    html = client.get(reverse(url) + f"?q={seeded.big_room.title}").content.decode()
    naive_url = reverse("naive_admin:rooms_room_changelist") + f"?q={seeded.big_room.title}"
    naive = client.get(naive_url).content.decode()
    cell = f'<td class="field-participant_count">{TINY.big_room}</td>'
    assert cell in html and cell in naive


def test_the_fair_stock_participant_list_does_not_load_the_room_per_row(client, seeded):
    query = f"?room__exact={seeded.big_room.pk}"
    fair = _queries(client, reverse("baseline_admin:rooms_participant_changelist") + query)
    naive = _queries(client, reverse("naive_admin:rooms_participant_changelist") + query)
    assert fair <= 10
    assert naive >= fair + TINY.big_room


def test_the_fair_stock_identity_list_counts_rooms_in_the_page_query(client):
    assert _queries(client, reverse("baseline_admin:identities_identity_changelist")) <= 10


def test_the_plain_dashboard_shows_the_five_cards_with_plain_queries(client):
    response = client.get(reverse("bench_plain_dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    for title in ("Live now", "Today", "Coming up", "Just ended", "Not in step with ACS"):
        assert f"<h2>{title} (" in html
    assert "Latest history" in html
    # A count and a list per card, the events, and the session and user.
    assert _queries(client, reverse("bench_plain_dashboard")) <= 14


def test_the_plain_dashboard_shows_no_rooms_to_who_may_not_see_them(seeded, django_user_model):
    nobody = django_user_model.objects.create_user(username="nobody", is_staff=True)
    client = Client()
    client.force_login(nobody)
    html = client.get(reverse("bench_plain_dashboard")).content.decode()
    assert "Live now" not in html and "Latest history" not in html


def test_the_sql_timer_counts_and_times_every_execute():
    timer = pages.SqlTimer()
    with connection.execute_wrapper(timer), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT 2")
    assert timer.count == 2
    assert timer.seconds > 0


def test_requests_are_interleaved_in_a_rotating_order(monkeypatch, client):
    order = []

    def fake_sample(client, url, clock):
        order.append(url)
        return pages.Sample(wall=0.001, cpu=0.001, sql=0.0, queries=1, db_cpu=None)

    monkeypatch.setattr(pages, "_sample", fake_sample)
    monkeypatch.setattr(pages, "_fetch", lambda client, url: (200, 0))
    stats = pages.interleaved(client, {"portal": "/a", "stock": "/b"}, count=4, budgets={})
    assert order == ["/a", "/b", "/b", "/a", "/a", "/b", "/b", "/a"]
    assert stats["portal"].n == stats["stock"].n == 4


def test_a_slow_baseline_leaves_the_rotation_once_its_budget_is_spent(monkeypatch, client):
    def fake_sample(client, url, clock):
        return pages.Sample(
            wall=1.0 if url == "/slow" else 0.001, cpu=0, sql=0, queries=1, db_cpu=None
        )

    monkeypatch.setattr(pages, "_sample", fake_sample)
    monkeypatch.setattr(pages, "_fetch", lambda client, url: (200, 0))
    stats = pages.interleaved(
        client, {"portal": "/a", "stock": "/slow"}, count=20, budgets={"stock": 3.0}
    )
    assert stats["portal"].n == 20
    assert stats["stock"].n == pages.MINIMUM


def test_the_backend_cpu_is_read_only_where_it_is_cheap():
    clock = pages.backend_cpu_clock()
    if connection.vendor == "sqlite":
        assert clock is None  # SQLite's CPU is this process's own
    else:
        sample = clock() if clock else None
        assert clock is None or (sample[0] > 0 and sample[1] >= 0)


def test_the_page_benchmark_runs_and_adds_time_cpu_and_query_rows(seeded):
    report = Report()
    measured = pages.run(report, seeded, requests=2, who=("superuser",), with_export=False)
    measures = [row.measure for row in report.rows]
    assert "rooms list, first page as superuser: time" in measures
    assert "rooms list, first page as superuser: CPU" in measures
    assert "dashboard / as superuser: queries" in measures
    assert any("NAIVE stock admin" in measure for measure in measures)
    stats = measured["rooms list, first page as superuser"]
    assert set(stats) == {"portal", "stock", "naive"}
    assert all(s.n == 2 for s in stats.values())
    assert stats["stock"].queries < stats["naive"].queries


@pytest.mark.parametrize(
    ("values", "verdict"),
    [
        ([10.0, 12.0, 15.0], "flat"),
        ([10.0, 30.0], "grows x3.0"),
        ([0.0, 0.0], "flat"),
        ([0.0, 2.0], "grows (from 0)"),
        ([5.0, 4.0], "flat"),
        ([8.44, 12.91], "grows x1.53"),
    ],
)
def test_the_growth_verdict(values, verdict):
    assert scale.growth(values) == verdict


def test_the_growth_table_names_every_size_and_a_verdict_per_figure(seeded):
    measured = pages.run(Report(), seeded, requests=1, who=("superuser",), with_export=False)
    by_size = {30: scale._strip_size(measured), 60: scale._strip_size(measured)}
    table = scale.render(by_size, ["a note"])
    assert "| page | figure | 30 rooms | 60 rooms | growth |" in table
    assert "| rooms list, first page | portal time |" in table
    assert "| rooms list, first page | stock SQL |" in table
    assert table.count("| flat |") == len(by_size[30]) * len(scale.SERIES)


def test_the_scaled_sizes_keep_quick_and_full_data():
    assert scale.sizes_for(1_000).events == 10_000
    assert scale.sizes_for(10_000).identities == 5_000
    assert scale.sizes_for(100_000).identities == 50_000


def test_a_page_that_answers_no_200_anywhere_is_reported_not_measured(monkeypatch, seeded):
    monkeypatch.setattr(pages, "_fetch", lambda client, url: (404, 0))
    report = Report()
    measured = pages.run(report, seeded, requests=2, who=("superuser",), with_export=False)
    assert all(stats == {} for stats in measured.values())
    assert report.rows[0].note == "status 404, not measured"
    assert "Not measured" in report.notes[0]
