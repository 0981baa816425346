"""GB/T 2260 administrative division codes: which division lies within which.

A code is ``PPCCDD``: province ``PP``, prefecture ``CC`` (``00`` for the province itself), county ``DD``
(``00`` for the prefecture itself); ``100000`` stands for the whole country. A province-level member (e.g.
``510000``) covers every code starting ``51``; a prefecture-level member (``510500``) every code starting
``5105``; a county-level member exactly its own code.
"""

from __future__ import annotations

_NATION = "100000"


def region_covers(member_region: str, region: str) -> bool:
    """Whether ``region`` lies within ``member_region`` (or is it). Both are validated 6-digit codes."""
    if member_region in (_NATION, region):
        return True
    if member_region.endswith("0000"):
        return region.startswith(member_region[:2])
    if member_region.endswith("00"):
        return region.startswith(member_region[:4])
    return False
