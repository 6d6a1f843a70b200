"""infra/terraform against the providers' real schemas (tickcast.deploy.tfschema).

The schemas come from the CDK for Terraform packages on the npm registry (or
PyPI), generated from each provider release's schema; the first run fetches
and extracts them into .tickcast/cache/tf-provider-schemas, later runs read
the cache. Nothing here needs terraform or the provider binaries.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from tfparse import TF, all_modules

from tickcast.deploy import tfschema


@pytest.fixture(scope="module")
def schemas() -> list[dict[str, Any]]:
    return tfschema.load_all()


def _constraints() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in all_modules():
        text = (path / "versions.tf").read_text(encoding="utf-8")
        for name, version in re.findall(
            r"(\w+) = \{\s*(?:#[^\n]*\n\s*)*source\s*=\s*\"[^\"]+\"\s*(?:#[^\n]*\n\s*)*"
            r"version\s*=\s*\"([^\"]+)\"",
            text,
        ):
            out.setdefault(name, set()).add(version)
    return out


def _tuple(v: str) -> tuple[int, ...]:
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def test_schema_versions_are_the_ones_versions_tf_allows() -> None:
    constraints = _constraints()
    assert set(constraints) == {p.provider for p in tfschema.PACKAGES}
    for provider, specs in constraints.items():
        assert len(specs) == 1, f"{provider}: modules disagree: {specs}"
        m = re.fullmatch(r">=\s*([\d.]+),\s*<\s*([\d.]+)", specs.pop())
        assert m, provider
        low, high = _tuple(m.group(1)), _tuple(m.group(2))
        versions = sorted(_tuple(p.version) for p in tfschema.PACKAGES if p.provider == provider)
        assert all(low <= v < high for v in versions), (provider, versions)
        if provider == "google":
            # Both ends: the constraint's floor, and 6.50.0, the last 6.x release.
            assert versions[0] == low
            assert versions[-1] == (6, 50, 0)


def test_the_extracted_schema_carries_the_flags(schemas: list[dict[str, Any]]) -> None:
    for s in schemas:
        if s["provider"] != "google":
            continue
        fn = s["resources"]["google_cloudfunctions2_function"]
        service = fn["blocks"]["service_config"]
        assert service["max_items"] == 1
        assert "ALLOW_INTERNAL_ONLY" in service["block"]["attributes"]["ingress_settings"]["enum"]
        assert "uri" in service["block"]["computed"]
        assert "url" in fn["computed"]
        sub = s["resources"]["google_pubsub_subscription"]
        assert sub["attributes"]["name"]["required"] and sub["attributes"]["topic"]["required"]
        assert not sub["attributes"]["labels"]["required"]
        fields = s["resources"]["google_firestore_index"]["blocks"]["fields"]
        assert fields["max_items"] is None
        assert "project_id" in s["data_sources"]["google_project"]["attributes"]
    times = [s for s in schemas if s["provider"] == "time"]
    assert "create_duration" in times[0]["resources"]["time_sleep"]["attributes"]


def test_infra_terraform_matches_the_provider_schemas(schemas: list[dict[str, Any]]) -> None:
    issues = tfschema.validate(TF, schemas)
    assert issues == [], "\n".join(map(str, issues))
    # Every local module is covered, not only the root.
    covered = {d.name for d in tfschema.module_dirs(TF)}
    assert {"terraform", "event_function", "pubsub_topics"} <= covered


def _inject(tf: Path, file: str, old: str, new: str) -> None:
    path = tf / file
    text = path.read_text(encoding="utf-8")
    assert old in text, (file, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_check_fails_on_an_unknown_argument_a_misspelled_block_and_a_bad_enum(
    tmp_path: Path, schemas: list[dict[str, Any]]
) -> None:
    tf = tmp_path / "terraform"
    shutil.copytree(TF, tf, ignore=shutil.ignore_patterns(".terraform*"))
    _inject(
        tf,
        "storage.tf",
        '  storage_class               = "STANDARD"\n',
        '  storage_class               = "STANDARD"\n  colour = "blue"\n',
    )
    _inject(tf, "storage.tf", "  versioning {", "  versionning {")
    _inject(tf, "modules/event_function/main.tf", '"ALLOW_INTERNAL_ONLY"', '"INTERNAL_ONLY"')
    issues = tfschema.validate(tf, schemas)
    text = "\n".join(map(str, issues))
    assert len(issues) == 3, text
    assert "google_storage_bucket.artifacts/colour: unknown argument" in text
    assert "versionning: unknown argument or block versionning; did you mean versioning?" in text
    assert "ingress_settings = 'INTERNAL_ONLY' is not one of" in text
    assert all("(google 6.1.0, 6.50.0)" in str(i) for i in issues), text


def test_the_check_sees_block_attribute_confusion_max_items_required_and_computed(
    tmp_path: Path, schemas: list[dict[str, Any]]
) -> None:
    tf = tmp_path / "terraform"
    shutil.copytree(TF, tf, ignore=shutil.ignore_patterns(".terraform*"))
    _inject(
        tf,
        "bridge.tf",
        "    scaling {",
        "    scaling {\n      min_instance_count = 0\n    }\n    scaling {",
    )
    _inject(
        tf,
        "bridge.tf",
        '    timeout                          = "3600s"',
        '    timeout = "3600s"\n    labels {\n      a = "b"\n    }',
    )
    _inject(
        tf, "redis.tf", "  memory_size_gb     = var.redis_memory_size_gb", '  host = "10.0.0.3"'
    )
    _inject(
        tf,
        "firestore.tf",
        'point_in_time_recovery_enablement = var.firestore_pitr ? "POINT_IN_TIME_RECOVERY_ENABLED"',
        'point_in_time_recovery_enablement = var.firestore_pitr ? "PITR_ON"',
    )
    issues = {i.message.split(" (google")[0] for i in tfschema.validate(tf, schemas)}
    assert issues == {
        "scaling takes at most 1 block(s), got 2",
        "labels is an attribute: write `labels = ...`",
        "host is computed by the provider and cannot be set",
        "required argument memory_size_gb is missing",
        "point_in_time_recovery_enablement = 'PITR_ON' is not one of "
        "POINT_IN_TIME_RECOVERY_ENABLED, POINT_IN_TIME_RECOVERY_DISABLED",
    }, issues
