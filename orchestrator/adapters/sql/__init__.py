"""SQL storage (SQLite or PostgreSQL through SQLAlchemy 2) and its Alembic migrations."""
