"""Notification settings from the environment: receivers, Slack detection, SMTP URLs, mistakes named."""

from __future__ import annotations

import logging

import pytest

from engine.notify.settings import Smtp, from_env
from engine.redaction import redact_url


def test_webhooks_slack_and_smtp_are_read_from_the_environment() -> None:
    s = from_env(
        {
            "LOOPDESK_WEBHOOK_URL": "https://crm.example/hook, https://hooks.slack.com/services/T/B/X,"
            "slack:https://chat.example/incoming",
            "LOOPDESK_WEBHOOK_SECRET": "s3",
            "LOOPDESK_SMTP_URL": "smtp://mailer:p%40ss@mail.example:587?starttls=true",
            "LOOPDESK_MAIL_FROM": "Loopdesk <noreply@example.com>",
            "LOOPDESK_BASE_URL": "https://loopdesk.example/",
        }
    )
    assert [(w.url, w.format) for w in s.webhooks] == [
        ("https://crm.example/hook", "json"),
        ("https://hooks.slack.com/services/T/B/X", "slack"),
        ("https://chat.example/incoming", "slack"),
    ]
    assert s.secret == "s3" and s.base_url == "https://loopdesk.example"
    assert s.smtp == Smtp("mail.example", 587, "mailer", "p@ss", starttls=True)
    assert s.mail_from == "Loopdesk <noreply@example.com>" and s.any and not s.problems


def test_nothing_configured_means_no_channel_and_the_default_address() -> None:
    s = from_env({})
    assert not s.any and s.base_url == "http://localhost:8501" and s.problems == ()


def test_unusable_settings_are_named_and_left_out() -> None:
    s = from_env({"LOOPDESK_WEBHOOK_URL": "ftp://files.example/x", "LOOPDESK_SMTP_URL": "mail.example:25"})
    assert s.webhooks == () and s.smtp is None
    assert s.problems == (
        "LOOPDESK_WEBHOOK_URL: ftp://files.example/… is not an http(s) URL",
        "LOOPDESK_SMTP_URL must look like smtp://host:port, got (not shown: it may hold a secret)",
    )


CANARY = "canary-Zq7xW"


@pytest.mark.parametrize(
    "env",
    [
        {"LOOPDESK_SMTP_URL": f"smtp//mailer:{CANARY}@mail.example:587"},  # no colon after the scheme
        {"LOOPDESK_SMTP_URL": f"smtp://mailer:{CANARY}@mail.example:port"},  # a port that is no number
        {"LOOPDESK_SMTP_URL": f"smtp://mailer:{CANARY}@[::1"},  # a broken IPv6 address
        {"LOOPDESK_SMTP_URL": f"smtpx://mailer:{CANARY}@mail.example"},
        {"LOOPDESK_WEBHOOK_URL": f"hxxps://hooks.slack.com/services/T0/B0/{CANARY}"},
        {"LOOPDESK_WEBHOOK_URL": f"https://[hooks.slack.com/services/T0/B0/{CANARY}"},
        {"LOOPDESK_WEBHOOK_URL": f"slack:ftp://hooks.example/{CANARY}"},
    ],
)
def test_a_malformed_setting_never_shows_the_secret_it_holds(
    env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The attack: a malformed SMTP or webhook URL wrote the SMTP password and the Slack webhook's
    secret path in clear into the log. Every message names the setting, never the secret."""
    settings = from_env(env)
    assert settings.problems and not settings.any
    with caplog.at_level(logging.WARNING):
        for problem in settings.problems:
            logging.getLogger("loopdesk.notify").warning("notifications: %s", problem)
    assert all(CANARY not in p for p in settings.problems), settings.problems
    assert CANARY not in caplog.text


def test_urls_are_shown_without_their_secrets() -> None:
    assert redact_url("https://hooks.slack.com/services/T0/B0/XYZ") == "https://hooks.slack.com/…"
    assert (
        redact_url("smtp://mailer:pw@mail.example:587?starttls=1") == "smtp://mailer:***@mail.example:587/…"
    )
    assert redact_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert redact_url("not a url") == "(not shown: it may hold a secret)"
