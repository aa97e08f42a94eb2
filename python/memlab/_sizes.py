"""Byte sizes as people write them ("10 MiB", "300MB", 4096), read by the rules of memlab's
own size options, so that a limit on a pytest marker means what it means on the command line.
Standard library only."""

from __future__ import annotations

import re

# Binary and decimal suffixes, as memlab's options take them (case does not matter).
_UNIT_BYTES = {
    "": 1, "b": 1,
    "k": 1 << 10, "kib": 1 << 10, "kb": 1000,
    "m": 1 << 20, "mib": 1 << 20, "mb": 1000 ** 2,
    "g": 1 << 30, "gib": 1 << 30, "gb": 1000 ** 3,
    "t": 1 << 40, "tib": 1 << 40, "tb": 1000 ** 4,
}
_SIZE = re.compile(r"\s*([0-9][0-9_]*(?:\.[0-9_]*)?)\s*([A-Za-z]*)\s*\Z")
_MAX_BYTES = (1 << 64) - 1


def parse_size(value: object) -> int:
    """The number of bytes `value` stands for: an int (bytes) or a string like "10 MiB",
    "1.5GiB", "4096". Raises ValueError naming the value otherwise."""
    if isinstance(value, bool):  # an int subclass, never a size
        raise ValueError("%r is not a size" % (value,))
    if isinstance(value, int):
        if not 0 <= value <= _MAX_BYTES:
            raise ValueError("%d is not a size in bytes" % value)
        return value
    if not isinstance(value, str):
        raise ValueError("%r is not a size (examples: 4096, \"64 KiB\", \"10 MiB\")" % (value,))
    match = _SIZE.match(value)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNIT_BYTES:
        raise ValueError("%r is not a size (examples: 4096, \"64 KiB\", \"10 MiB\"; units B, "
                         "KiB, MiB, GiB, TiB or KB, MB, GB, TB)" % value)
    number = match.group(1).replace("_", "")
    if "." in number:
        size = round(float(number) * _UNIT_BYTES[unit])
    else:
        size = int(number) * _UNIT_BYTES[unit]
    if size > _MAX_BYTES:
        raise ValueError("%r is too large" % value)
    return size


def format_size(size_bytes: int) -> str:
    """A size for a message: "4.0 MiB", "512 B" (memlab's tables print the same way)."""
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return "%d B" % size_bytes if unit == "B" else "%.1f %s" % (value, unit)
        value /= 1024
    raise AssertionError("unreachable")
