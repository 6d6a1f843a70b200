"""Session fixtures for the deploy tests: the parsed root module and modules."""

from __future__ import annotations

import pytest
from tfparse import TF, Module


@pytest.fixture(scope="session")
def root() -> Module:
    return Module.load(TF)


@pytest.fixture(scope="session")
def event_function() -> Module:
    return Module.load(TF / "modules" / "event_function")


@pytest.fixture(scope="session")
def pubsub_topics() -> Module:
    return Module.load(TF / "modules" / "pubsub_topics")
