from __future__ import annotations

import pytest

from golden import READY


@pytest.fixture(scope="session")
def features() -> dict[str, float | None]:
    return dict(READY)
