"""Plain, database-free descriptions of grids as they come from files or the demo generator."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import MultiPolygon, Polygon


class Level(enum.IntEnum):
    """Levels of the grid hierarchy, coarse to fine; ``UNIT`` is the optional 万米单元网格 level."""

    CITY = 1
    DISTRICT = 2
    STREET = 3
    COMMUNITY = 4
    UNIT = 5

    @classmethod
    def parse(cls, raw: Any) -> Level:
        """Accept 1-5, English names (``community``) or Chinese ones (``社区``)."""
        if isinstance(raw, Level):
            return raw
        if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
            return cls(int(raw))
        text = str(raw).strip().lower()
        for level, names in _LEVEL_NAMES.items():
            if text in names:
                return level
        raise ValueError(f"unknown grid level {raw!r}")


_LEVEL_NAMES = {
    Level.CITY: {"city", "市"},
    Level.DISTRICT: {"district", "区", "区县", "园区", "park"},
    Level.STREET: {"street", "街道", "乡镇"},
    Level.COMMUNITY: {"community", "社区", "社区网格", "村"},
    Level.UNIT: {"unit", "单元", "单元网格", "万米单元网格"},
}

#: A grid code: 6-digit administrative code + 3 street + 3 community + 3 sequence digits.
CODE_RE = re.compile(r"^\d{15}$")
#: Older systems used 14 digits (2-digit sequence); import converts them by padding the sequence.
LEGACY_CODE_RE = re.compile(r"^\d{14}$")


def code_prefix_for(level: Level, code: str) -> str:
    """The part of ``code`` that children of a grid at ``level`` must start with."""
    return {
        Level.CITY: code[:4],
        Level.DISTRICT: code[:6],
        Level.STREET: code[:9],
        Level.COMMUNITY: code[:12],
        Level.UNIT: code,
    }[level]


@dataclass
class GridFeature:
    """One grid as read from a file (or generated): what the importer validates and stores."""

    code: str
    name: str
    level: Level
    parent_code: str | None
    geometry: Polygon | MultiPolygon
    #: Anything else the source carried (kept on the grid as ``attributes``).
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class OfficerSpec:
    """An officer on duty for a grid, as the demo generator or an import describes it."""

    grid_code: str
    name: str
    phone: str
    role: str  # "primary" or "deputy"
    starts_on: str  # ISO date
    ends_on: str | None = None
