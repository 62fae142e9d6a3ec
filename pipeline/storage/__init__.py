"""Storage: SQLAlchemy 2 tables, the engine factory and the queries finsent runs."""
