"""Terraform parsed with python-hcl2 for the deploy tests (no provider, no network).

A module of its own (not conftest) so `from tfparse import ...` cannot pick up
another directory's conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[3]
TF = ROOT / "infra" / "terraform"


def _unquote(value: str) -> str:
    # python-hcl2 >= 5 keeps the quotes of string literals; older versions drop them.
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def norm(obj: Any) -> Any:
    """The same shape whatever python-hcl2 version parsed it: no quotes, no block markers."""
    if isinstance(obj, dict):
        return {_unquote(k): norm(v) for k, v in obj.items() if k != "__is_block__"}
    if isinstance(obj, list):
        return [norm(v) for v in obj]
    if isinstance(obj, str):
        return _unquote(obj)
    return obj


def block(value: Any) -> dict[str, Any]:
    """A nested block parses as a one-element list of dicts."""
    if isinstance(value, list):
        assert len(value) == 1, value
        value = value[0]
    assert isinstance(value, dict), value
    return value


def comments(body: Any) -> list[str]:
    """Every comment inside a parsed body, at any depth."""
    out: list[str] = []
    if isinstance(body, dict):
        for k, v in body.items():
            if k in ("__comments__", "__inline_comments__"):
                out += [c["value"] if isinstance(c, dict) else str(c) for c in v]
            else:
                out += comments(v)
    elif isinstance(body, list):
        for v in body:
            out += comments(v)
    return out


@dataclass
class Module:
    """One Terraform module directory: blocks merged across its .tf files."""

    path: Path
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # "type.name" -> body
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # file name -> raw text

    @classmethod
    def load(cls, path: Path) -> Module:
        m = cls(path)
        for f in sorted(path.glob("*.tf")):
            m.files[f.name] = f.read_text(encoding="utf-8")
            with f.open(encoding="utf-8") as fh:
                doc = norm(hcl2.load(fh))
            for item in doc.get("resource", []):
                for rtype, named in item.items():
                    if rtype.startswith("__"):
                        continue
                    for name, body in named.items():
                        if not name.startswith("__"):
                            m.resources[f"{rtype}.{name}"] = body
            for item in doc.get("data", []):
                for dtype, named in item.items():
                    if dtype.startswith("__"):
                        continue
                    for name, body in named.items():
                        if not name.startswith("__"):
                            m.data[f"{dtype}.{name}"] = body
            for kind, target in (
                ("module", m.modules),
                ("variable", m.variables),
                ("output", m.outputs),
            ):
                for item in doc.get(kind, []):
                    target.update({k: v for k, v in item.items() if not k.startswith("__")})
            for item in doc.get("locals", []):
                m.locals.update({k: v for k, v in item.items() if not k.startswith("__")})
            m.terraform += doc.get("terraform", [])
        return m

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if k.split(".")[0] == rtype}

    def text(self) -> str:
        return "\n".join(self.files.values())


def load_tfvars(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        doc: dict[str, Any] = norm(hcl2.load(fh))
    return {k: v for k, v in doc.items() if not k.startswith("__")}


def all_modules() -> Iterator[Path]:
    yield TF
    yield from sorted(p for p in (TF / "modules").iterdir() if p.is_dir())
