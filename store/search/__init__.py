"""Search: one interface, two backends (embedded SQLite FTS5, Elasticsearch 8)."""
