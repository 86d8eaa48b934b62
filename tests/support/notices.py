"""One good notice of each type, for the notice tests."""

from __future__ import annotations

from typing import Any

ENCOUNTER: dict[str, Any] = {
    "type": "encounter",
    "domain": "sea",
    "time": "2026-11-22T07:30:00.000000Z",
    "position": {"lat": "24.5", "lon": "121.75"},
    "own_unit": {"type": "destroyer", "id": "DDG-89"},
    "other_unit": {"type": "destroyer"},
    "cpa": {"value": "150", "unit": "yd"},
    "behaviours": ["crossing-ahead", "unsafe-proximity"],
    "requested_action": {"code": "maintain-safe-distance", "text": "Keep 2 NM clear."},
}
ACTIVITY: dict[str, Any] = {
    "type": "activity",
    "activity": "exercise",
    "start": "2026-12-01",
    "end": "2026-12-03",
    "area": [
        {"lat": "22", "lon": "119"},
        {"lat": "23", "lon": "119"},
        {"lat": "23", "lon": "120.5"},
    ],
    "forces": [{"type": "surface-combatant", "count": 4}, {"type": "uav", "count": 2}],
}
MECHANISM: dict[str, Any] = {
    "type": "mechanism-change",
    "mechanism": "dtl",
    "status": "suspended",
    "effective": "2026-11-22T00:00:00.000000Z",
    "reason": "technical-failure",
}
GOOD = [ENCOUNTER, ACTIVITY, MECHANISM]

#: A good body of each kind the notice and translation work adds (for the
#: registry-wide body tests).
NOTICE_KINDS_GOOD: dict[str, dict[str, Any]] = {
    "notice": ENCOUNTER,
    "translation": {
        "original": "ab" * 32,
        "lang": "zh",
        "text": "译文",
        "method": "machine",
        "engine": "ctranslate2:opus-mt-en-zh",
        "by": {"operator": "li", "office": "prc-dtl"},
    },
    "glossary": {
        "entries": [{"category": "place", "terms": {"en": "Taiwan Strait", "zh": "台湾海峡"}}],
    },
    "glossary-accept": {"glossary": "cd" * 32, "by": {"operator": "ann"}},
}
