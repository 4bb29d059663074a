"""Notification settings from the environment: receivers, Slack detection, SMTP URLs, mistakes named."""

from __future__ import annotations

from engine.notify.settings import Smtp, from_env


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
        "LOOPDESK_WEBHOOK_URL: 'ftp://files.example/x' is not an http(s) URL",
        "LOOPDESK_SMTP_URL must look like smtp://host:port, got 'mail.example:25'",
    )
