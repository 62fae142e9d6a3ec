"""Webhook delivery: endpoints, Standard Webhooks signing, the notifier loop."""
