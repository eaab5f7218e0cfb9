"""Sizes: stored in bytes, shown and typed in binary units (KiB, MiB, GiB, TiB)."""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
MAX_BYTES = 2**63 - 1


def parse_size(text: str) -> int:
    """``"150 MB"``, ``"1.5GiB"``, ``"2048"`` → bytes. MB and MiB both mean 1024² (as panels do).

    Raises ValueError with a readable message for anything else.
    """
    match = _SIZE.match(text or "")
    if not match:
        raise ValueError(f"not a size: {text!r} (try 150 MiB or 2 GiB)")
    number = float(match.group(1).replace(",", "."))
    value = round(number * _UNITS[match.group(2).lower()])
    if value > MAX_BYTES:
        raise ValueError(f"size too large: {text!r}")
    return value


def format_size(size: int | None) -> str:
    """Bytes as a short binary-unit string: ``157286400`` → ``"150 MiB"``."""
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
