"""SQLite and PostgreSQL through SQLAlchemy Core: schema, rows, migrations, sweeps, the store."""
