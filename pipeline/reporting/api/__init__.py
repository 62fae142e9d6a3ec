"""The HTTP API and dashboard: health, metrics, trends, alerts and items, behind a bearer token."""
