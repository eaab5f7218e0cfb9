"""Onus, a control panel for hosting resellers.

``panel.create_app`` (in :mod:`panel.app`) builds the web app. Importing ``panel`` alone
loads nothing of the web stack, so the pure core (``panel.mailflow``, ``panel.measure``,
``panel.policy``) and ``onus mail ...`` start in a fraction of a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from panel.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from panel.app import create_app

        return create_app
    raise AttributeError(f"module 'panel' has no attribute {name!r}")
