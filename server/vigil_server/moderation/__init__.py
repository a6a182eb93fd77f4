"""Moderation: standing queries and reference banks checked against every stored segment.

stage.py checks live media and manages queries and items; rules.py holds them in memory;
rules_db.py keeps them on disk; signals/ are the kinds of evidence reference items are matched by.
"""

from vigil_server.moderation.items import ItemMediaLoader
from vigil_server.moderation.migrate import migrate_v1
from vigil_server.moderation.rules import Rules, StoredItem, StoredQuery
from vigil_server.moderation.rules_db import ItemRecord, RulesDb
from vigil_server.moderation.signals import SIGNAL_TYPES, Signal, SignalContext, build_signals
from vigil_server.moderation.stage import AUDIO_HOP_S, AUDIO_WINDOW_S, AudioScanner, Moderation

__all__ = [
    "AUDIO_HOP_S",
    "AUDIO_WINDOW_S",
    "SIGNAL_TYPES",
    "AudioScanner",
    "ItemMediaLoader",
    "ItemRecord",
    "Moderation",
    "Rules",
    "RulesDb",
    "Signal",
    "SignalContext",
    "StoredItem",
    "StoredQuery",
    "build_signals",
    "migrate_v1",
]
