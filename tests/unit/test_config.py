from __future__ import annotations

import pytest
from pydantic import ValidationError

from tickcast.config import TOPICS, Settings
from tickcast.errors import ConfigError


def test_defaults_match_the_contract() -> None:
    s = Settings.from_env({})
    assert [s.topic(t) for t in TOPICS] == [
        "tickcast-raw",
        "tickcast-ticks",
        "tickcast-features",
        "tickcast-clock",
        "tickcast-deadletter",
    ]
    assert s.bar_seconds == 60 and s.ws_allow_unauthenticated is False


def test_environment_overrides_and_settings_are_frozen() -> None:
    s = Settings.from_env(
        {
            "TICKCAST_BAR_SECONDS": "1",
            "TICKCAST_TOPIC_PREFIX": "dev-",
            "TICKCAST_LOG_LEVEL": "debug",
        }
    )
    assert (s.bar_seconds, s.topic_path("raw"), s.log_level) == (
        1,
        "projects/tickcast-local/topics/dev-raw",
        "DEBUG",
    )
    with pytest.raises(ValidationError):
        s.bar_seconds = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"TICKCAST_BAR_SECONDS": "0"}, "TICKCAST_BAR_SECONDS"),
        ({"TICKCAST_BAR_SECONDS": "x"}, "TICKCAST_BAR_SECONDS"),
        ({"TICKCAST_TOPIC_PREFIX": "a b"}, "TICKCAST_TOPIC_PREFIX"),
        ({"TICKCAST_WS_ALLOW_UNAUTHENTICATED": "maybe"}, "TICKCAST_WS_ALLOW_UNAUTHENTICATED"),
    ],
)
def test_a_bad_value_fails_fast_naming_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env)


def test_readme_documents_every_setting() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for field in Settings.model_fields.values():
        assert f"`{field.alias}`" in readme, (
            f"{field.alias} is missing from the README's settings table"
        )
