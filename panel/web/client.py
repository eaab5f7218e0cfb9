"""The owner's (end client's) pages: its own packages in plain words."""

from flask import Blueprint

from panel.models import PartyKind
from panel.web.common import package_pages

bp = Blueprint("client", __name__, url_prefix="/client")
package_pages(bp, PartyKind.OWNER)
