"""Alembic revisions, one file each; a new table or column in store.models needs a new revision here."""
