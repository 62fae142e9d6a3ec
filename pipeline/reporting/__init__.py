"""Reading the results: SQL views and queries, the report, charts, alert history, the API."""
