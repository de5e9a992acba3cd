"""Reading a portable reputation bundle and saying what it shows (``verify``, ``member``)."""

from __future__ import annotations

from pathlib import Path

from crypto import did_from_raw
from node.cli.common import CliError, now_ms
from protocol import BundleError, BundleReport, verify_bundle


def read_and_verify(path: Path) -> BundleReport:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return verify_bundle(data, now_ms())
    except BundleError as exc:
        raise CliError(f"{path}: {exc}") from None


def _named(report: BundleReport, key: bytes) -> str:
    name = report.issuer_names.get(key)
    return f"{name} ({did_from_raw(key)})" if name else did_from_raw(key)


def describe_report(report: BundleReport) -> list[str]:
    """What a verified bundle says: each claim with its state and issuer, then the summary."""
    rep = report.reputation
    assert rep is not None
    lines = [
        f"bundle of {report.records} record(s) about {_named(report, report.subject)}: "
        "every record checks",
        "attestations:",
    ]
    for entry in rep.attestations:
        what = entry.claim or "(content withdrawn)"
        if entry.skill:
            what += f": {entry.skill}"
        lines.append(
            f"  {entry.state:<10}  {what:<30}  by {_named(report, entry.issuer)}  {entry.id.hex()}"
        )
    for target, issuer in report.retracted:  # erased: only the retract is in the bundle
        lines.append(
            f"  {'retracted':<10}  {'(content withdrawn)':<30}  by "
            f"{_named(report, issuer)}  {target.hex()}"
        )
    if not rep.attestations and not report.retracted:
        lines.append("  none")
    lines.append("summary (grounded attestations only, one per issuer):")
    for key in sorted(rep.summary, key=lambda k: (k[0], k[1] or "")):
        item = rep.summary[key]
        what = item.claim + (f": {item.skill}" if item.skill else "")
        text = f"  {what:<32}  {item.issuers} issuer(s)"
        if item.mean_score is not None:
            text += f", mean score {item.mean_score:.2f} ({item.score_sum}/{item.score_count})"
        if item.mean_level is not None:
            text += f", level max {item.level_max}, mean {item.mean_level:.2f}"
        lines.append(text)
    if not rep.summary:
        lines.append("  nothing counts: no grounded, live attestation")
    if rep.ungrounded:
        lines.append(
            f"{len(rep.ungrounded)} ungrounded attestation(s) are listed, never "
            "counted (no alliance between issuer and subject in the bundle)"
        )
    return lines
