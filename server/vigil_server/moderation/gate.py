"""What stands between a match and an alert: allow-lists, reviewers' dismissals, and the alert record.

For one piece of live media (a frame, an audio window, a stream's whole file, an archived frame),
the items it matched are screened together:

- an item of an allow-list bank raises no alert, and when one matched, no other bank's item does
  either: those alerts are counted on each allow-list bank that matched (BankInfo.suppressed);
- a (stream, query or item) pair a reviewer dismissed raises no alert;
- every alert that passes is recorded (review.py) before it is returned for delivery.

Blocking (it writes to the moderation database): call it off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from vigil_server.moderation.banks import BankBook
from vigil_server.moderation.review import AlertLog
from vigil_server.moderation.rules import Rules, StoredItem, reference_alert
from vigil_server.moderation.signals import Comparison
from vigil_server.types import Alert, Segment

log = logging.getLogger(__name__)

Matches = Sequence[tuple[StoredItem, Sequence[Comparison]]]


class AlertGate:
    def __init__(self, rules: Rules, banks: BankBook, log: AlertLog):
        self.rules = rules
        self.banks = banks
        self.log = log

    def allowed(self, matches: Matches) -> list[StoredItem]:
        """The matched items that are in allow-list banks."""
        return [stored for stored, _ in matches if self.rules.bank(stored.item.tenant, stored.item.bank).allow_list]

    def screen(self, matches: Matches, segment: Segment, **fields: Any) -> list[Alert]:
        """The reference alerts one piece of media raises (not yet recorded: see `admit`)."""
        allowed = self.allowed(matches)
        allowed_ids = {stored.item.item_id for stored in allowed}
        blocked = [(stored, comparisons) for stored, comparisons in matches if stored.item.item_id not in allowed_ids]
        if allowed:
            if blocked:
                banks = {(s.item.tenant, s.item.bank) for s in allowed}
                self.banks.count_suppressed(dict.fromkeys(banks, len(blocked)))
                log.info("%s %.1f s: %d alert(s) kept back by allow-list bank(s) %s", segment.stream_id,
                         segment.start, len(blocked), ", ".join(sorted(b for _, b in banks)))  # fmt: skip
            return []
        return [reference_alert(stored.item, segment, list(comparisons), **fields) for stored, comparisons in blocked]

    def admit(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Alerts whose pair no reviewer dismissed, recorded: these may be delivered."""
        kept = [a for a in alerts if not self.log.dismissed(a.tenant, a.stream_id, a.match_id)]
        self.log.record(kept)
        return kept
