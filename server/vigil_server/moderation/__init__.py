"""Moderation: standing queries and reference banks checked against every stored segment.

stage.py checks live media and manages queries and items; rules.py holds them in memory;
rules_db.py keeps them on disk; signals/ are the kinds of evidence reference items are matched by;
banks.py keeps bank settings, review.py alert records and reviews, gate.py screens matches by
allow-lists and reviews; hash_lists.py reads and writes hash lists; lookup.py answers lookups.
"""

from vigil_server.moderation.banks import BankBook
from vigil_server.moderation.items import ItemMediaLoader
from vigil_server.moderation.lookup import Lookup
from vigil_server.moderation.migrate import migrate_v1
from vigil_server.moderation.review import AlertLog
from vigil_server.moderation.rules import Rules, StoredItem, StoredQuery
from vigil_server.moderation.rules_db import ItemRecord, RulesDb
from vigil_server.moderation.signals import SIGNAL_TYPES, Signal, SignalContext, build_signals
from vigil_server.moderation.stage import AUDIO_HOP_S, AUDIO_WINDOW_S, AudioScanner, Moderation
from vigil_server.moderation.streams import StreamMemory

__all__ = [
    "AUDIO_HOP_S",
    "AUDIO_WINDOW_S",
    "SIGNAL_TYPES",
    "AlertLog",
    "AudioScanner",
    "BankBook",
    "ItemMediaLoader",
    "ItemRecord",
    "Lookup",
    "Moderation",
    "Rules",
    "RulesDb",
    "Signal",
    "SignalContext",
    "StoredItem",
    "StoredQuery",
    "StreamMemory",
    "build_signals",
    "migrate_v1",
]
