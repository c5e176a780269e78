"""The menu links to the served emulator's inbox, where a newcomer reads the invitations sent."""

from django.urls import reverse

INBOX = "http://127.0.0.1:8791/_emulator/inbox"


def test_the_menu_links_to_the_emulators_inbox_when_it_is_served(client, scheduler, settings):
    settings.ACS_EMULATOR_INBOX_URL = INBOX
    client.force_login(scheduler)
    page = client.get(reverse("dashboard")).content.decode()
    assert f'href="{INBOX}"' in page
    assert "Sent e-mails (emulator)" in page


def test_no_inbox_link_without_a_served_emulator(client, scheduler, settings):
    settings.ACS_EMULATOR_INBOX_URL = ""
    client.force_login(scheduler)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Sent e-mails (emulator)" not in page
