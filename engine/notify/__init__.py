"""Notifications: events written with the state change they describe (an outbox), delivered at
least once to webhooks, Slack and email by a background sender."""
