"""docs/MODEL.md says what the code does (issue 14, point 9): the settings'
defaults (the default model among them), the committed model's version, and
what the factors are, which is not "they add up to the score"."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tickcast.config import Settings
from tickcast.predict.model import TOP_FACTORS
from tickcast.predict.registry import Registry

ROOT = Path(__file__).resolve().parents[3]
MODEL_MD = (ROOT / "docs" / "MODEL.md").read_text()
COMMITTED = json.loads((ROOT / "src" / "tickcast" / "models" / "logreg-daily.json").read_text())


def _settings_table() -> dict[str, str]:
    section = MODEL_MD.split("## Settings (predict)", 1)[1]
    rows = {}
    for line in section.splitlines():
        m = re.fullmatch(r"\| `(TICKCAST_[A-Z_]+)` \| (.+?) \| .* \|", line.strip())
        if m:
            rows[m.group(1)] = m.group(2).strip().strip("`")
    return rows


def test_the_settings_table_gives_the_code_s_defaults() -> None:
    fields = {f.alias: f.default for f in Settings.model_fields.values()}
    rows = _settings_table()
    assert "TICKCAST_MODEL_URI" in rows and len(rows) >= 8
    for name, documented in rows.items():
        default = fields[name]
        if default == "":
            assert documented == "empty", name
        elif isinstance(default, int | float) and not isinstance(default, bool):
            assert float(documented) == float(default), name
        else:
            assert documented == str(default), name


def test_the_default_model_named_is_the_default_served() -> None:
    default = Settings.from_env({}).model_uri
    assert f"The default live model is `{default}`" in MODEL_MD
    assert Registry(live_uri=default).live().model_id == default.removeprefix("builtin:")


def test_the_committed_model_s_version_is_the_one_quoted() -> None:
    version = COMMITTED["model_version"]
    quoted = set(re.findall(r"\b(\d{8}-[0-9a-f]{8})\b", MODEL_MD))
    assert quoted == {version}


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=\.)\s", re.sub(r"\s+", " ", text))


def test_factors_are_described_as_the_code_computes_them(
    features: dict[str, float | None],
) -> None:
    model = Registry(live_uri=Settings.from_env({}).model_uri).live()
    logit = model.logit(features)
    p = model.predict(features)
    terms = [c for _, c in logit.contributions]
    # What the docs say: the score is the intercept plus ALL terms; the factors are
    # the TOP_FACTORS largest terms, so for the default model they leave terms out.
    assert len(terms) > TOP_FACTORS == len(p.factors)
    assert (
        sorted(abs(f["contribution"]) for f in p.factors) == sorted(map(abs, terms))[-TOP_FACTORS:]
    )
    left_out = sum(terms) - sum(f["contribution"] for f in p.factors)
    assert abs(left_out) > 1e-9, "the golden bar must show the difference"
    claims = [s for s in _sentences(MODEL_MD) if "factor" in s.lower() and "add up" in s.lower()]
    assert claims, "MODEL.md says how the factors relate to the score"
    for claim in claims:
        assert not re.search(r"factors (are )?exact", claim), claim
        assert re.search(r"\bdo (\*\*)?not\b|\bonly\b", claim), f"MODEL.md overstates: {claim}"
