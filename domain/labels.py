"""What a flag can say: the document labels (shared/domain/labels.md) and the severities of a finding
(legal_taxonomy.md: S1–S4 for advertising and services, P1–P3 for public opinion)."""

from __future__ import annotations

# Document labels (see shared/domain/labels.md).
LABELS: tuple[str, ...] = ("exaggerated_efficacy", "unapproved_service", "negative_sentiment")

# Most severe first.
SEVERITIES: tuple[str, ...] = ("S1", "S2", "S3", "S4", "P1", "P2", "P3")
