"""Mail flow on the web: the hoster's mail log sources per node, each package's messages per
mailbox and hour with every refusal explained, and the bounces that came back."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mail", __name__)
