"""The web builder's pages: the packages of the clients it builds for, nothing else."""

from flask import Blueprint

from panel.models import PartyKind
from panel.web.common import package_pages

bp = Blueprint("builder", __name__, url_prefix="/builder")
package_pages(bp, PartyKind.BUILDER)
