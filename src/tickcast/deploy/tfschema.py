"""The Terraform in infra/terraform checked against the providers' real schemas, offline.

`terraform validate` needs the provider binaries, which cannot be downloaded
where tickcast's checks run. The schemas can: CDK for Terraform publishes a
package per provider release on the npm registry (`@cdktf/provider-google`,
the same package on PyPI as `cdktf-cdktf-provider-google`), generated from
that release's own schema. From each resource's generated code this module
reads every argument with its flags:

- `index.js`: each block's arguments, whether each is a nested block or an
  attribute (`isBlock`), and the computed-only ones (`// NAME - computed:
  true, optional: false, required: false`);
- `index.d.ts`: which are required (no `?`), which blocks hold at most one
  item (a single object rather than an array), the enum values and
  conflicts that the provider's own descriptions state ("Possible values:
  [...]", "Conflicts with ...", "Only one of a, b and c may be set").

That is extracted once per release into a compact JSON in a cache directory
(like scripts/check-terraform.sh's checkov venv), then every resource and data
source in a Terraform directory, and in the local modules it calls, is
checked: argument names, block vs attribute, required arguments,
computed-only arguments set, max items, conflicts and enum values (literal
strings, and both literal arms of a conditional).

    python -m tickcast.deploy.tfschema [TERRAFORM_DIR]

Needs python-hcl2 (a dev dependency) and npm or pip to fetch a package once.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickcast.errors import TickcastError

# Bump when the extracted format changes: cached files of another format are rebuilt.
FORMAT = 1


@dataclass(frozen=True)
class SchemaPackage:
    """One provider release and the registry package generated from its schema."""

    provider: str  # local name in required_providers: google, time, archive
    version: str  # the provider release
    npm: str  # npm package name
    npm_version: str  # the package version generated from that release
    pypi: str  # the same package on PyPI


def _cdktf(provider: str, version: str, package_version: str) -> SchemaPackage:
    return SchemaPackage(
        provider,
        version,
        f"@cdktf/provider-{provider}",
        package_version,
        f"cdktf-cdktf-provider-{provider}",
    )


# The releases the constraints in versions.tf allow, at both ends where the
# range is wide: google >= 6.1 < 7.0 is checked against 6.1.0 (the oldest 6.x
# with a package) and 6.50.0 (the last 6.x). An argument must be valid in both.
# tests/unit/deploy/test_terraform_schema.py checks these against versions.tf.
PACKAGES: tuple[SchemaPackage, ...] = (
    _cdktf("google", "6.1.0", "14.0.0"),
    _cdktf("google", "6.50.0", "16.12.1"),
    _cdktf("time", "0.13.1", "11.0.1"),
    _cdktf("archive", "2.7.1", "11.0.1"),
)

META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider", "lifecycle"})
RESOURCE_ONLY_META = frozenset({"provisioner", "connection"})
_IGNORED_KEYS = frozenset({"__is_block__", "__comments__", "__inline_comments__"})


class SchemaError(TickcastError):
    """A provider schema could not be fetched or read."""


# -- extraction --------------------------------------------------------------------

_TF_TYPE = re.compile(r'^(\w+)\.tfResourceType = "([\w-]+)";', re.M)
_TOP = re.compile(r"^(?:class|function) (\w+)", re.M)
# One generated argument entry; every part is on its own line, so no part may
# span lines (a lazy match across lines backtracks over the whole file).
_ATTR = re.compile(
    r"(?<!\w)(\w+): \{\n[ ]*value: ([^\n]*),\n[ ]*isBlock: (true|false),\n[ ]*"
    r"type: \"(\w+)\",\n[ ]*storageClassType: \"(\w+)\",\n[ ]*\}"
)
_NESTED_FN = re.compile(r"(?<![.\w])(\w+)ToHclTerraform\b")
_COMPUTED = re.compile(r"// (\w+) - computed: true, optional: false, required: false")
_INTERFACE = re.compile(r"^export interface (\w+)(?: extends [\w.]+)? \{\n(.*?)^\}", re.M | re.S)
_PROP = re.compile(r"(?:/\*\*(.*?)\*/\s*)?readonly (\w+)(\??): ([^\n]*)", re.S)
_ANCHOR = re.compile(r"#(\w+) [\w.]+#\w+\}")
_ENUM = re.compile(r"Possible values: \[([^\]]*)\]")
_CONFLICT = re.compile(r"Conflicts with ((?:[\"'`]?\w+[\"'`]?(?:, | and | or )?)+)")
_ONLY_ONE = re.compile(r"Only one of ((?:[\"'`]?\w+[\"'`]?,? (?:and |or )?)+)(?:may|can|must)")


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _split_top(js: str) -> dict[str, str]:
    """Top-level class and function bodies of a generated index.js, by name."""
    marks = [(m.start(), m.group(1)) for m in _TOP.finditer(js)]
    out: dict[str, str] = {}
    for i, (start, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(js)
        out[name] = js[start:end]
    return out


def _interfaces(dts: str) -> dict[str, dict[str, dict[str, Any]]]:
    """interface name -> snake argument name -> {required, array, doc}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for m in _INTERFACE.finditer(dts):
        props: dict[str, dict[str, Any]] = {}
        for p in _PROP.finditer(m.group(2)):
            doc, camel, optional, typ = p.group(1) or "", p.group(2), p.group(3), p.group(4)
            doc = re.sub(r"\n\s*\*", " ", doc)
            anchor = _ANCHOR.search(doc)
            name = anchor.group(1) if anchor else _snake(camel)
            props[name] = {"required": not optional, "array": "[]" in typ, "doc": doc}
        out[m.group(1)] = props
    return out


def _words(text: str) -> list[str]:
    return [w.strip("\"'`") for w in re.split(r",\s*|\s+and\s+|\s+or\s+", text) if w.strip()]


def _block(
    attrs_src: str,
    props: Mapping[str, Mapping[str, Any]],
    computed_src: str,
    functions: Mapping[str, str],
    interfaces: Mapping[str, Mapping[str, Mapping[str, Any]]],
    depth: int = 0,
) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    blocks: dict[str, Any] = {}
    conflicts: dict[str, list[str]] = {}
    for name, value, is_block, _type, _storage in _ATTR.findall(attrs_src):
        prop = props.get(name, {})
        doc = str(prop.get("doc", ""))
        nested = next(
            (
                f
                for f in _NESTED_FN.findall(value)
                if f"{f}ToHclTerraform" in functions and f[0].islower()
            ),
            None,
        )
        child: dict[str, Any] | None = None
        if nested is not None and depth < 12:
            struct = nested[0].upper() + nested[1:]
            child = _block(
                functions[f"{nested}ToHclTerraform"],
                interfaces.get(struct, {}),
                functions.get(f"{struct}OutputReference", ""),
                functions,
                interfaces,
                depth + 1,
            )
        if is_block == "true":
            blocks[name] = {
                "required": bool(prop.get("required", False)),
                "max_items": None if prop.get("array", True) else 1,
                "block": child or {"attributes": {}, "blocks": {}, "computed": []},
            }
        else:
            enum = _ENUM.search(doc)
            attributes[name] = {
                "required": bool(prop.get("required", False)),
                "enum": [v.strip().strip('"') for v in enum.group(1).split(",") if v.strip()]
                if enum
                else None,
                "nested": child,
            }
        for m in _CONFLICT.finditer(doc):
            conflicts.setdefault(name, []).extend(_words(m.group(1)))
        for m in _ONLY_ONE.finditer(doc):
            group = _words(m.group(1))
            if name in group:
                conflicts.setdefault(name, []).extend(g for g in group if g != name)
    known = set(attributes) | set(blocks)
    return {
        "attributes": attributes,
        "blocks": blocks,
        "computed": sorted(set(_COMPUTED.findall(computed_src)) - known),
        "conflicts": {
            k: sorted({c for c in v if c in known and c != k}) for k, v in conflicts.items()
        },
    }


def extract_one(js: str, dts: str) -> tuple[str, dict[str, Any]] | None:
    """(terraform type, block schema) of one generated resource or data source."""
    m = _TF_TYPE.search(js)
    if m is None:
        return None
    cls, tf_type = m.groups()
    top = _split_top(js)
    body = top.get(cls, "")
    synth = body[body.find("synthesizeHclAttributes()") :]
    if "synthesizeHclAttributes()" not in body:
        raise SchemaError(f"{tf_type}: generated code has no synthesizeHclAttributes (too old?)")
    functions = {k: v[v.find("const attrs") :] if k[0].islower() else v for k, v in top.items()}
    interfaces = _interfaces(dts)
    return tf_type, _block(synth, interfaces.get(f"{cls}Config", {}), body, functions, interfaces)


def extract(tgz: Path, pkg: SchemaPackage) -> dict[str, Any]:
    """The compact schema of every resource and data source in an npm package tarball."""
    resources: dict[str, Any] = {}
    data_sources: dict[str, Any] = {}
    pending: dict[str, dict[str, str]] = {}
    with tarfile.open(tgz, "r|gz") as tar:
        for member in tar:
            m = re.fullmatch(r"package/lib/([\w-]+)/(index\.js|index\.d\.ts)", member.name)
            if m is None or not member.isfile():
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            files = pending.setdefault(m.group(1), {})
            files[m.group(2)] = fh.read().decode("utf-8")
            if len(files) < 2:
                continue
            del pending[m.group(1)]
            found = extract_one(files["index.js"], files["index.d.ts"])
            if found is None or found[0] == pkg.provider:
                continue  # the provider block itself
            target = data_sources if m.group(1).startswith("data-") else resources
            target[found[0]] = found[1]
    if not resources:
        raise SchemaError(f"{pkg.npm}@{pkg.npm_version}: no resources found in the package")
    return {
        "format": FORMAT,
        "provider": pkg.provider,
        "provider_version": pkg.version,
        "package": f"{pkg.npm}@{pkg.npm_version}",
        "resources": resources,
        "data_sources": data_sources,
    }


# -- fetching and caching -------------------------------------------------------------


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise SchemaError(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")


def _download(pkg: SchemaPackage, tmp: Path) -> Path:
    """The package tarball, from npm, else from the PyPI wheel (which embeds it)."""
    errors = []
    if shutil.which("npm"):
        try:
            _run(
                [
                    "npm",
                    "pack",
                    f"{pkg.npm}@{pkg.npm_version}",
                    "--silent",
                    "--pack-destination",
                    ".",
                ],
                tmp,
            )
            found = sorted(tmp.glob("*.tgz"))
            if found:
                return found[0]
        except SchemaError as exc:
            errors.append(str(exc))
    try:
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                f"{pkg.pypi}=={pkg.npm_version}",
                "-d",
                ".",
            ],
            tmp,
        )
    except SchemaError as exc:
        errors.append(str(exc))
        raise SchemaError("; ".join(errors)) from None
    for wheel in tmp.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            for name in zf.namelist():
                if name.endswith(".jsii.tgz"):
                    out = tmp / "package.tgz"
                    out.write_bytes(zf.read(name))
                    return out
    raise SchemaError(f"{pkg.pypi}=={pkg.npm_version}: no .jsii.tgz in the wheel")


def default_cache() -> Path:
    env = os.environ.get("TICKCAST_TF_SCHEMA_CACHE")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for d in here.parents:
        if (d / "pyproject.toml").is_file() and (d / "infra").is_dir():
            return d / ".tickcast" / "cache" / "tf-provider-schemas"
    return Path.home() / ".cache" / "tickcast" / "tf-provider-schemas"


def load(pkg: SchemaPackage, cache: Path | None = None) -> dict[str, Any]:
    """The schema of one provider release: from the cache, or fetched and extracted once."""
    cache = cache or default_cache()
    path = cache / f"{pkg.provider}-{pkg.version}.json"
    if path.is_file():
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT and data.get("package") == (
                f"{pkg.npm}@{pkg.npm_version}"
            ):
                return data
        except (OSError, json.JSONDecodeError):
            pass
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tfschema-") as tmp:
        data = extract(_download(pkg, Path(tmp)), pkg)
    part = path.with_suffix(f".{os.getpid()}.part")
    part.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
    os.replace(part, path)  # concurrent runs each write a whole file
    return data


# -- validation ------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    where: str  # file: resource TYPE.NAME / path
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, dict) and v.get("__is_block__") is True for v in value)
    )


def _is_null(value: Any) -> bool:
    return value is None or value == "${null}"


_COND = re.compile(r'^\$\{[^"]*\?\s*("(?:[^"\\]|\\.)*"|null)\s*:\s*("(?:[^"\\]|\\.)*"|null)\s*\}$')


def _literals(value: Any) -> list[str] | None:
    """The string values an expression can take when they are all written out, else None."""
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            lits = _literals(v)
            if lits is None:
                return None
            out += lits
        return out
    if not isinstance(value, str):
        return None
    if not value.startswith("${"):
        return [str(_unquote(value))]
    m = _COND.match(value)
    if m is None:
        return None
    return [str(_unquote(arm)) for arm in m.groups() if arm != "null"]


class _Checker:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, where: str, message: str) -> None:
        self.issues.append(Issue(where, message))

    def check(self, where: str, body: dict[str, Any], schema: dict[str, Any], top: str) -> None:
        attributes: dict[str, Any] = schema["attributes"]
        blocks: dict[str, Any] = schema["blocks"]
        present: set[str] = set()
        dynamic: set[str] = set()
        meta = META_ARGUMENTS | (RESOURCE_ONLY_META if top == "resource" else frozenset())
        for key, value in body.items():
            if key in _IGNORED_KEYS:
                continue
            if top and key in meta:
                continue
            if key == "dynamic" and isinstance(value, list):
                for dyn in value:
                    for label, spec in dyn.items():
                        if label in _IGNORED_KEYS:
                            continue
                        name = str(_unquote(label))
                        dynamic.add(name)
                        if name not in blocks:
                            self._unknown(f"{where}/dynamic {name}", name, schema)
                            continue
                        for content in spec.get("content", []) if isinstance(spec, dict) else []:
                            self.check(f"{where}/{name}", content, blocks[name]["block"], "")
                continue
            present.add(key)
            if key in blocks:
                spec = blocks[key]
                if not _is_block(value):
                    self.error(f"{where}/{key}", f"{key} is a block: write `{key} {{ ... }}`")
                    continue
                if spec["max_items"] is not None and len(value) > spec["max_items"]:
                    self.error(
                        f"{where}/{key}",
                        f"{key} takes at most {spec['max_items']} block(s), got {len(value)}",
                    )
                for item in value:
                    self.check(f"{where}/{key}", item, spec["block"], "")
            elif key in attributes:
                spec = attributes[key]
                if _is_block(value):
                    self.error(f"{where}/{key}", f"{key} is an attribute: write `{key} = ...`")
                    continue
                lits = _literals(value)
                if spec.get("enum") and lits is not None:
                    for lit in lits:
                        if lit not in spec["enum"]:
                            self.error(
                                f"{where}/{key}",
                                f"{key} = {lit!r} is not one of {', '.join(spec['enum'])}",
                            )
                nested = spec.get("nested")
                if nested and isinstance(value, dict):
                    self.check(f"{where}/{key}", value, nested, "")
            elif key in schema["computed"]:
                self.error(f"{where}/{key}", f"{key} is computed by the provider and cannot be set")
            else:
                self._unknown(f"{where}/{key}", key, schema)
        set_now = {k for k in present if not _is_null(body.get(k))}
        for name, spec in attributes.items():
            if spec["required"] and name not in present:
                self.error(where, f"required argument {name} is missing")
        for name, spec in blocks.items():
            if spec["required"] and name not in present and name not in dynamic:
                self.error(where, f"required block {name} is missing")
        for name, others in schema.get("conflicts", {}).items():
            if name in set_now:
                for other in others:
                    if other in set_now and name < other:
                        self.error(where, f"{name} and {other} conflict: set only one")

    def _unknown(self, where: str, key: str, schema: dict[str, Any]) -> None:
        names = [*schema["attributes"], *schema["blocks"]]
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        self.error(where, f"unknown argument or block {key}{hint}")


def _hcl(path: Path) -> dict[str, Any]:
    import hcl2

    with path.open(encoding="utf-8") as fh:
        doc: dict[str, Any] = hcl2.load(fh)
    return doc


def _blocks_of(doc: dict[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for item in doc.get(kind, []):
        for rtype, named in item.items():
            if rtype in _IGNORED_KEYS:
                continue
            for name, body in named.items():
                if name in _IGNORED_KEYS:
                    continue
                yield str(_unquote(rtype)), str(_unquote(name)), body


def module_dirs(tf_dir: Path) -> list[Path]:
    """tf_dir and every local module it calls, transitively."""
    seen: list[Path] = []
    todo = [tf_dir.resolve()]
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.append(d)
        for f in sorted(d.glob("*.tf")):
            for _name, body in (
                (k, v) for item in _hcl(f).get("module", []) for k, v in item.items()
            ):
                if not isinstance(body, dict):
                    continue
                source = str(_unquote(body.get("source", "")))
                if source.startswith(("./", "../")):
                    todo.append((d / source).resolve())
    return seen


def validate(tf_dir: Path, schemas: list[dict[str, Any]]) -> list[Issue]:
    """Every resource and data source under tf_dir (and its local modules) against
    each schema; a type whose provider has no schema in the list is an issue."""
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for s in schemas:
        by_provider.setdefault(s["provider"], []).append(s)
    found: dict[tuple[str, str], list[str]] = {}  # (where, message) -> provider versions
    issues: list[Issue] = []
    root = tf_dir.resolve()
    for d in module_dirs(tf_dir):
        for f in sorted(d.glob("*.tf")):
            doc = _hcl(f)
            rel = f.relative_to(root.parent) if f.is_relative_to(root.parent) else f
            for kind, table in (("resource", "resources"), ("data", "data_sources")):
                for rtype, name, body in _blocks_of(doc, kind):
                    where = f"{rel}: {'data.' if kind == 'data' else ''}{rtype}.{name}"
                    provider = rtype.split("_", 1)[0]
                    if provider not in by_provider:
                        issues.append(Issue(where, f"no schema for provider {provider!r}"))
                        continue
                    for schema in by_provider[provider]:
                        version = str(schema["provider_version"])
                        spec = schema[table].get(rtype)
                        if spec is None:
                            found.setdefault((where, f"unknown {kind} type {rtype}"), []).append(
                                version
                            )
                            continue
                        checker = _Checker()
                        checker.check(where, body, spec, kind)
                        for issue in checker.issues:
                            found.setdefault((issue.where, issue.message), []).append(version)
    # One issue per mistake, naming the provider versions that reject it.
    for (where, message), versions in found.items():
        provider = where.split(": ", 1)[1].removeprefix("data.").split("_", 1)[0]
        issues.append(Issue(where, f"{message} ({provider} {', '.join(versions)})"))
    return issues


def load_all(cache: Path | None = None) -> list[dict[str, Any]]:
    return [load(p, cache) for p in PACKAGES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tickcast.deploy.tfschema",
        description="Check Terraform against the provider schemas (offline, after one download).",
    )
    parser.add_argument("tf_dir", nargs="?", default="infra/terraform")
    parser.add_argument("--cache", help="schema cache directory (env TICKCAST_TF_SCHEMA_CACHE)")
    args = parser.parse_args(argv)
    try:
        schemas = load_all(Path(args.cache) if args.cache else None)
        issues = validate(Path(args.tf_dir), schemas)
    except TickcastError as exc:
        print(f"tfschema: {exc}", file=sys.stderr)
        return 2
    for issue in issues:
        print(issue)
    labels = ", ".join(f"{s['provider']} {s['provider_version']}" for s in schemas)
    print(f"{len(issues)} issue(s) against {labels}", file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["PACKAGES", "Issue", "SchemaPackage", "extract", "load", "load_all", "validate"]
