"""Alembic migrations of the system of record (store.models); run them with store.migrate or `yijian db upgrade`."""
