"""Benchmarks (not tests): each prints a table, writes ``var/bench/<name>.json`` and exits 0.

``python -m bench`` runs every benchmark module of this package, ``python -m bench overhead crypto`` the
ones named. A benchmark module is any module here whose name does not start with ``_`` (and is not
``harness``) that defines one of:

* ``async def run(args: argparse.Namespace) -> list[dict]``: gets the common options of ``python -m bench``
  (``--duration``, ``--requests``, ...); prints its own tables; the rows it returns are written to
  ``var/bench/<NAME>.json`` with the options and the machine;
* ``def main(argv: list[str]) -> int | None``: gets the options ``python -m bench`` did not recognise and
  those after ``--`` (``python -m bench audit_log -- --concurrency 64``), and does everything itself
  (tables, JSON).

``NAME`` (default: the module's name) is what the command line calls it; ``DESCRIPTION`` is shown by
``python -m bench --list``. See docs/performance.md.
"""
