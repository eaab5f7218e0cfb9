"""Pure measurement core: paths and numbers in, plain data out. No Flask, no database.

``scan_path`` is what ``onus scan PATH --json`` prints; ``scan_account`` is what the panel
records per package. Every figure is an apparent size in bytes with each inode counted once
(see ``walk``, ``maildir``, ``docroot`` and ``account`` for the rules).
"""

from panel.measure.account import scan_account, scan_path
from panel.measure.cache import ScanCache
from panel.measure.docroot import scan_docroot
from panel.measure.maildir import scan_maildir

__all__ = ["ScanCache", "scan_account", "scan_docroot", "scan_maildir", "scan_path"]
