"""With the database gone during a request: a clear error page, and nothing half-written."""

import pytest
from django.db import OperationalError, connection
from django.test import Client


def _database_down(after: int = 0):
    """An execute wrapper that lets `after` queries through, then fails like a lost server."""
    seen = {"n": 0}

    def wrapper(execute, sql, params, many, context):
        seen["n"] += 1
        if seen["n"] > after:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    return wrapper


@pytest.fixture
def browser(scheduler):
    client = Client(raise_request_exception=False)
    client.force_login(scheduler)
    return client


@pytest.mark.django_db
def test_it_shows_a_page_saying_the_database_is_unavailable(browser):
    with connection.execute_wrapper(_database_down()):
        response = browser.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    page = response.content.decode()
    assert "database is unavailable" in page
    assert "nothing of it was written" in page


@pytest.mark.django_db
def test_a_bug_is_still_a_plain_server_error(browser, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(
        "django.contrib.auth.middleware.LoginRequiredMiddleware.process_view", broken
    )
    response = browser.get("/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


@pytest.mark.django_db
def test_a_missing_page_is_a_404_page_with_the_menu(browser):
    response = browser.get("/no-such-page/")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()
