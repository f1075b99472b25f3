"""Synthetic demo region: a believable county of firms and their department feeds.

``generate_region`` builds the firms, records, relations, guarantees and defaults;
``write_feeds`` writes them as the CSV / JSON Lines files departments send.
"""

from __future__ import annotations

from server.demo.synth import (
    FEED_SOURCES,
    HISTORY_MONTHS,
    Region,
    feed_columns,
    generate_region,
    write_feeds,
)

__all__ = [
    "FEED_SOURCES",
    "HISTORY_MONTHS",
    "Region",
    "feed_columns",
    "generate_region",
    "write_feeds",
]
