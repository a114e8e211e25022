"""System of record (SQLAlchemy) and the search backends."""
