"""Segmentation, legal rule engine, transformer model, institution linking."""
