"""The evidence report of a package and a period: as a printable page, CSV and JSON."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reports", __name__)
