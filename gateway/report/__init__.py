"""The printable 核对报告 (issue 15): PDF rendering and the hub's QR seal."""

from gateway.report.render import render_report
from gateway.report.seal import SEAL_TYP, report_digest, seal_report, verify_seal

__all__ = ["SEAL_TYP", "render_report", "report_digest", "seal_report", "verify_seal"]
