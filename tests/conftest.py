"""In CI (the environment variable CI set and not "0"/"false"), a skipped test is a failure: CI installs
everything the tests need (.ci/run), so a skip there means a check that did not run. The one exception
is the tests that need the Case Maker source (../shared/source/case-maker.md), which CI does not have."""
from __future__ import annotations

import os

import pytest

ALLOWED_IN_CI = ("case-maker.md",)      # a skip whose reason names this may stay a skip in CI


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if any(allowed in reason for allowed in ALLOWED_IN_CI):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where nothing may skip: {reason}"
