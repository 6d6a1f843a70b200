"""Session fixtures for the deploy tests, and the `terraform` marker.

Tests marked `terraform` run the terraform binary. Without it they are
skipped (`make demo` and most of `make test` need no Terraform), and the run
ends with one line naming them, so a skip is never silent.
"""

from __future__ import annotations

import shutil

import pytest
from tfparse import TF, Module

TERRAFORM_MISSING = "terraform is not on PATH"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "terraform: runs the terraform binary (skipped, and named, when it is missing)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("terraform"):
        return
    skip = pytest.mark.skip(reason=TERRAFORM_MISSING)
    for item in items:
        if item.get_closest_marker("terraform"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    names = [
        rep.nodeid
        for rep in terminalreporter.stats.get("skipped", [])
        if isinstance(rep.longrepr, tuple) and TERRAFORM_MISSING in str(rep.longrepr[2])
    ]
    if names:
        terminalreporter.write_line(
            f"terraform not found on PATH: skipped {len(names)} test(s) that run it "
            f"(install Terraform >= 1.5 to run them): {', '.join(names)}",
            yellow=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def root() -> Module:
    return Module.load(TF)


@pytest.fixture(scope="session")
def event_function() -> Module:
    return Module.load(TF / "modules" / "event_function")


@pytest.fixture(scope="session")
def pubsub_topics() -> Module:
    return Module.load(TF / "modules" / "pubsub_topics")
