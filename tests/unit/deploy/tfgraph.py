"""What each Terraform resource depends on, from the parsed HCL (no terraform, no provider).

A resource depends on what its arguments reference (resources, data sources,
locals, modules) and on its depends_on list; a resource inside a module also
on the module call's depends_on and on the arguments the call passes to the
variables it reads. `closure` follows those edges to the end, which is the
order `terraform apply` must respect.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tfparse import TF, Module

_REF = re.compile(
    r"(?<![\w.])(?:(data)\.)?((?:google|time|archive|random|null)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"
)
_MODULE = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)")
_LOCAL = re.compile(r"(?<![\w.])local\.([A-Za-z_]\w*)")
_VAR = re.compile(r"(?<![\w.])var\.([A-Za-z_]\w*)")


def _strings(obj: Any) -> Iterable[str]:
    """Every string in a parsed body, comments left out (they may name resources)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("__comments__", "__inline_comments__"):
                continue
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


def refs(body: Any) -> set[str]:
    """Addresses referenced: "type.name", "data.type.name", "module.name", "local.name", "var.name"."""
    out: set[str] = set()
    for s in _strings(body):
        for data, rtype, name in _REF.findall(s):
            out.add(f"{'data.' if data else ''}{rtype}.{name}")
        out |= {f"module.{m}" for m in _MODULE.findall(s)}
        out |= {f"local.{m}" for m in _LOCAL.findall(s)}
        out |= {f"var.{m}" for m in _VAR.findall(s)}
    return out


class Graph:
    """Root module plus the local modules it calls. Node names: root addresses, and
    "module.CALL.type.name" for a resource inside a module instance."""

    def __init__(self, root: Module | None = None) -> None:
        self.root = root or Module.load(TF)
        self.edges: dict[str, set[str]] = {}
        self.types: dict[str, str] = {}  # node -> resource or data type ("data.google_project")
        for key, body in self.root.resources.items():
            self._add(key, key.split(".")[0], refs(body))
        for key, body in self.root.data.items():
            self._add(f"data.{key}", "data." + key.split(".")[0], refs(body))
        for name, body in self.root.locals.items():
            self.edges[f"local.{name}"] = refs(body)
        for call, body in self.root.modules.items():
            self.edges[f"module.{call}"] = refs(body)
            source = str(body["source"])
            if not source.startswith("./"):
                continue
            child = Module.load(self.root.path / source)
            call_deps = refs(body.get("depends_on", []))
            inputs = {k: refs(v) for k, v in body.items() if k != "depends_on"}
            for key, rbody in child.resources.items():
                deps = set(call_deps)
                for r in refs(rbody):
                    if r.startswith("var."):
                        deps |= inputs.get(r[4:], set())
                    elif not r.startswith(("local.", "module.")):
                        deps.add(f"module.{call}.{r}")
                self._add(f"module.{call}.{key}", key.split(".")[0], deps)

    def _add(self, node: str, rtype: str, deps: set[str]) -> None:
        self.edges[node] = {d for d in deps if not d.startswith("var.")}
        self.types[node] = rtype

    def closure(self, node: str) -> set[str]:
        seen: set[str] = set()
        todo = [node]
        while todo:
            for d in self.edges.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    def resources(self) -> dict[str, str]:
        """Every resource and data source node, with its type."""
        return dict(self.types)
