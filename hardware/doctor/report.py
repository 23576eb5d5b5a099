"""Reading the doctor's answer from another machine.

Provisioning copies the doctor's modules to a node (provisioning.payload.DOCTOR),
runs `python3 -m hardware.doctor -o json` there over SSH and reads the JSON back
with `parse_report`, which trusts nothing it receives.
"""

from __future__ import annotations

import json

from foundation.errors import ApplianceError
from hardware.doctor.checks import Check

REMOTE_COMMAND = "python3 -m hardware.doctor -o json"
"""Run inside the directory the payload was unpacked in."""
STATUSES = ("ok", "warn", "fail")


class DoctorReportError(ApplianceError, ValueError):
    """The doctor's output from a node is not the documented JSON."""


def parse_report(text: str, where: str = "node") -> list[Check]:
    """Checks from `doctor -o json` output; DoctorReportError names `where` if it is malformed."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise DoctorReportError(f"{where}: doctor output is not JSON ({type(error).__name__}); "
                                "run `python3 -m hardware.doctor` there to see what it prints") from None
    checks = document.get("checks") if isinstance(document, dict) else None
    if not isinstance(checks, list):
        raise DoctorReportError(f"{where}: doctor output has no \"checks\" list; is the payload the same version?")
    result: list[Check] = []
    for index, item in enumerate(checks):
        values = [item.get(key) for key in ("name", "status", "detail", "fix")] if isinstance(item, dict) else []
        strings = [value for value in values if isinstance(value, str)]
        if len(strings) != 4:
            raise DoctorReportError(f"{where}: doctor check #{index} lacks name/status/detail/fix strings")
        name, status, detail, fix = strings
        if status not in STATUSES:
            raise DoctorReportError(f"{where}: doctor check #{index} has status {status[:20]!r}, "
                                    "expected ok, warn or fail")
        result.append(Check(name, status, detail, fix))
    return result
