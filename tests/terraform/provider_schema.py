"""The AWS provider's schema as the cdktf package pinned in ``terraform/provider-schema.lock`` records it,
and a check of the parsed configuration (:mod:`tests.terraform.tfconfig`) against it.

The Go module proxy serves no 6.x version of the provider's source, so no provider binary can be built here
and ``terraform validate`` cannot run. The package ``@cdktf/provider-aws`` is generated from the provider's
own schema (``terraform providers schema -json``): its jsii manifest (``.jsii``) has a class per resource and
data source, a ``...Config`` struct per class whose properties are the arguments and nested blocks (camelCase,
``optional`` unless required), and a struct per nested block. Every property's docs link to the registry page
with the Terraform name as anchor (``.../docs/resources/glue_job#role_arn``), so the names here are the
provider's own, renamed properties included (``systemAttribute`` is ``system``, ``equalTo`` is ``equals``).

What jsii cannot tell: a block's ``min_items`` other than "required", ``max_items`` other than 1, and which
struct-typed arguments accept block syntax (SDKv2's attributes-as-blocks, such as ``aws_security_group``'s
``ingress``) as well as ``x = [...]``; those are allowed both ways, their keys checked either way.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.terraform.tfconfig import REPO_DIR, TERRAFORM_DIR, Config, unquote

LOCK_FILE = TERRAFORM_DIR / "provider-schema.lock"
FETCH_SCRIPT = REPO_DIR / "scripts" / "fetch_provider_schema.sh"
# Bumped whenever the shape of the cached index changes, so an old cache is rebuilt rather than misread.
INDEX_FORMAT = 1

_META_KEYS = {"__is_block__", "__comments__", "__inline_comments__"}
# Terraform's own arguments and blocks (meta-arguments), not the provider's.
RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "connection", "provisioner"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
PROVIDER_META = {"alias", "version"}
DYNAMIC_KEYS = {"for_each", "iterator", "labels", "content"}
LIFECYCLE_KEYS = {
    "create_before_destroy",
    "prevent_destroy",
    "ignore_changes",
    "replace_triggered_by",
    "precondition",
    "postcondition",
}

# "{@link <registry>/providers/hashicorp/aws/6.25.0/docs/resources/glue_job#role_arn GlueJob#role_arn}":
# the provider and its version, the page (resource or data source) and the Terraform name of the argument.
_DOCS_LINK = re.compile(
    r"\{@link \S*/providers/(?P<source>[\w-]+/[\w-]+)/(?P<version>[^/\s]+)/docs"
    r"(?:/(?P<kind>resources|data-sources)/(?P<page>\w+))?(?:#(?P<anchor>\w+))? (?P<label>[^}]+)\}"
)
_KINDS = {"cdktf.TerraformResource": "resource", "cdktf.TerraformDataSource": "data"}


class SchemaFetchError(RuntimeError):
    """scripts/fetch_provider_schema.sh failed; the message carries its output."""


@dataclass(frozen=True)
class Lock:
    package: str
    version: str
    integrity: str
    provider_source: str
    provider_version: str


@dataclass
class BlockSchema:
    """One block's schema: its arguments and nested blocks, by Terraform name."""

    arguments: dict[str, bool] = field(default_factory=dict)  # name -> required
    blocks: dict[str, NestedBlock] = field(default_factory=dict)
    # Struct-typed arguments (objects, lists of objects): `x = {...}` and, for SDKv2, block syntax too.
    objects: dict[str, BlockSchema] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "arguments": self.arguments,
            "blocks": {name: block.to_json() for name, block in self.blocks.items()},
            "objects": {name: schema.to_json() for name, schema in self.objects.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> BlockSchema:
        return cls(
            arguments=data["arguments"],
            blocks={name: NestedBlock.from_json(block) for name, block in data["blocks"].items()},
            objects={name: cls.from_json(schema) for name, schema in data["objects"].items()},
        )


@dataclass
class NestedBlock:
    required: bool
    single: bool  # at most one (max_items 1)
    schema: BlockSchema

    def to_json(self) -> dict:
        return {"required": self.required, "single": self.single, "schema": self.schema.to_json()}

    @classmethod
    def from_json(cls, data: dict) -> NestedBlock:
        return cls(data["required"], data["single"], BlockSchema.from_json(data["schema"]))


@dataclass
class ProviderSchema:
    lock: Lock
    provider: BlockSchema
    resource: dict[str, BlockSchema]
    data: dict[str, BlockSchema]

    @property
    def label(self) -> str:
        return (
            f"{self.lock.provider_source} {self.lock.provider_version} "
            f"({self.lock.package}@{self.lock.version})"
        )


def read_lock(path: Path = LOCK_FILE) -> Lock:
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    source, _, version = pins["provider"].partition(" ")
    return Lock(pins["package"], pins["version"], pins["integrity"], source, version)


def fetch(lock_file: Path = LOCK_FILE) -> Path:
    """The folder holding the pinned package's .jsii, fetched by the script `make provider-schema` runs."""
    result = subprocess.run(
        [str(FETCH_SCRIPT), str(lock_file)], capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        raise SchemaFetchError(
            f"{FETCH_SCRIPT.relative_to(REPO_DIR)} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return Path(result.stdout.strip().splitlines()[-1])


def load(folder: Path, lock: Lock) -> ProviderSchema:
    """The schema in ``folder``, from its cached index or else built from the .jsii (once, a few seconds)."""
    index_file = folder / f"index-v{INDEX_FORMAT}.json"
    if index_file.exists():
        index = json.loads(index_file.read_text())
    else:
        index = build_index(json.loads((folder / ".jsii").read_text()), lock)
        partial = index_file.with_suffix(".partial")
        partial.write_text(json.dumps(index))
        partial.replace(index_file)
    return ProviderSchema(
        lock=lock,
        provider=BlockSchema.from_json(index["provider"]),
        resource={name: BlockSchema.from_json(s) for name, s in index["resource"].items()},
        data={name: BlockSchema.from_json(s) for name, s in index["data"].items()},
    )


def build_index(assembly: dict, lock: Lock) -> dict:
    """Provider, resource and data source schemas from a cdktf provider's jsii assembly."""
    if assembly["name"] != lock.package or assembly["version"] != lock.version:
        raise ValueError(
            f"the .jsii is {assembly['name']}@{assembly['version']}, the lock pins {lock.version}"
        )
    types = assembly["types"]
    index: dict = {"resource": {}, "data": {}, "provider": None}
    for type_ in types.values():
        if type_.get("kind") != "class" or "initializer" not in type_:
            continue
        link = _DOCS_LINK.search(type_.get("docs", {}).get("summary", ""))
        if type_.get("base") == "cdktf.TerraformProvider":
            kind = "provider"
        elif type_.get("base") in _KINDS and link:
            kind = _KINDS[type_["base"]]
        else:
            continue
        if link is None or (link["source"], link["version"]) != (lock.provider_source, lock.provider_version):
            raise ValueError(
                f"{type_['fqn']} documents {link and link['source']} {link and link['version']}, "
                f"the lock says {lock.provider_source} {lock.provider_version}"
            )
        config = next(p for p in type_["initializer"]["parameters"] if p["name"] == "config")
        schema = _struct_schema(types, config["type"]["fqn"]).to_json()
        if kind == "provider":
            index["provider"] = schema
        else:
            index[kind][link["label"].strip()] = schema
    if index["provider"] is None or not index["resource"]:
        raise ValueError(f"{lock.package}@{lock.version}: no provider or resource classes in its .jsii")
    return index


def _struct_schema(types: dict, fqn: str) -> BlockSchema:
    schema = BlockSchema()
    for prop in types[fqn].get("properties", []):
        docs = prop.get("docs", {})
        link = _DOCS_LINK.search(docs.get("summary", "") + " " + docs.get("remarks", ""))
        name = link["anchor"] if link and link["anchor"] else _snake_case(prop["name"])
        struct, single = _struct_of(types, prop["type"])
        required = not prop.get("optional", False)
        if struct and docs.get("summary", "").endswith(" block."):
            schema.blocks[name] = NestedBlock(required, single, _struct_schema(types, struct))
        else:
            schema.arguments[name] = required
            if struct:
                schema.objects[name] = _struct_schema(types, struct)
    return schema


def _struct_of(types: dict, type_ref: dict) -> tuple[str | None, bool]:
    """The provider struct a property holds, and whether it holds one (not a list of them)."""
    if "fqn" in type_ref:
        fqn = type_ref["fqn"]
        return (fqn, True) if types.get(fqn, {}).get("datatype") else (None, False)
    for member in type_ref.get("union", {}).get("types", []):
        struct, _ = _struct_of(types, member)
        if struct:
            return struct, False
    if "collection" in type_ref:
        struct, _ = _struct_of(types, type_ref["collection"]["elementtype"])
        return struct, False
    return None, False


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


# --- the check ----------------------------------------------------------------------------------------------


def _is_block_list(value) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get("__is_block__") for item in value)
    )


def _keys(body: dict) -> list[str]:
    return [key for key in body if key not in _META_KEYS]


def _unknown(what: str, name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"unknown {what} {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def check_body(body: dict, schema: BlockSchema, where: str, meta: frozenset[str] = frozenset()) -> list[str]:
    """What in one block body the schema does not allow: unknown, missing or misused arguments and blocks."""
    errors: list[str] = []
    known = set(schema.arguments) | set(schema.blocks)
    occurrences: dict[str, int] = {}
    for key in _keys(body):
        value = body[key]
        if key in meta:
            continue
        if key == "dynamic":
            for entry in value:
                for label, dynamic in entry.items():
                    errors += _check_dynamic(unquote(label), dynamic, schema, where)
                    occurrences[unquote(label)] = occurrences.get(unquote(label), 0) + 1
            continue
        if key in schema.blocks:
            if not _is_block_list(value):
                errors.append(f"{where}: {key!r} is a block, not an argument: write `{key} {{ ... }}`")
                continue
            occurrences[key] = occurrences.get(key, 0) + len(value)
            for index, item in enumerate(value):
                label = f"{where}.{key}" + (f"[{index}]" if len(value) > 1 else "")
                errors += check_body(item, schema.blocks[key].schema, label)
        elif key in schema.arguments:
            if _is_block_list(value):
                if key not in schema.objects:
                    errors.append(f"{where}: {key!r} is an argument, not a block: write `{key} = ...`")
                    continue
                for item in value:
                    errors += check_body(item, schema.objects[key], f"{where}.{key}")
            elif key in schema.objects:
                errors += _check_object_literal(value, schema.objects[key], f"{where}.{key}")
        else:
            errors.append(f"{where}: " + _unknown("argument or block", key, known))
    for name, block in schema.blocks.items():
        if block.single and occurrences.get(name, 0) > 1:
            errors.append(f"{where}: block {name!r} is allowed at most once, given {occurrences[name]} times")
        if block.required and not occurrences.get(name):
            errors.append(f"{where}: missing required block {name!r}")
    for name, required in schema.arguments.items():
        if required and name not in body:
            errors.append(f"{where}: missing required argument {name!r}")
    return errors


def _check_dynamic(label: str, dynamic: dict, schema: BlockSchema, where: str) -> list[str]:
    here = f"{where}.dynamic[{label!r}]"
    nested = schema.blocks.get(label)
    if nested is None and label in schema.objects:
        nested = NestedBlock(False, False, schema.objects[label])
    if nested is None:
        if label in schema.arguments:
            return [f"{here}: {label!r} is an argument, not a block: `dynamic` generates blocks only"]
        return [f"{where}: " + _unknown("dynamic block", label, schema.blocks)]
    errors = [
        f"{here}: " + _unknown("key of a dynamic block", k, DYNAMIC_KEYS)
        for k in _keys(dynamic)
        if k not in DYNAMIC_KEYS
    ]
    for required in ("for_each", "content"):
        if required not in dynamic:
            errors.append(f"{here}: missing {required!r}")
    for content in dynamic.get("content", []):
        errors += check_body(content, nested.schema, f"{here}.content")
    return errors


def _check_object_literal(value, schema: BlockSchema, where: str) -> list[str]:
    """Keys of an object written out (`x = { ... }` or `x = [{ ... }]`); expressions cannot be read here."""
    items = value if isinstance(value, list) else [value]
    errors = []
    for item in items:
        if isinstance(item, dict):
            errors += [
                f"{where}: " + _unknown("attribute", unquote(k), schema.arguments)
                for k in _keys(item)
                if unquote(k) not in schema.arguments
            ]
    return errors


def _check_lifecycle(body: dict, schema: BlockSchema, where: str) -> list[str]:
    errors = []
    for lifecycle in body.get("lifecycle", []):
        for key in _keys(lifecycle):
            if key not in LIFECYCLE_KEYS:
                errors.append(f"{where}.lifecycle: " + _unknown("lifecycle argument", key, LIFECYCLE_KEYS))
        ignored = lifecycle.get("ignore_changes", [])
        for entry in ignored if isinstance(ignored, list) else []:
            # Each entry is a path into this resource's own arguments: tags, tags["Owner"], command[0].name.
            first = re.match(r"(?:\$\{)?(\w+)", entry) if isinstance(entry, str) else None
            if (
                first
                and first[1] != "all"
                and first[1] not in schema.arguments
                and first[1] not in schema.blocks
            ):
                errors.append(
                    f"{where}.lifecycle.ignore_changes: "
                    + _unknown("argument", first[1], set(schema.arguments) | set(schema.blocks))
                )
    return errors


def check_config(config: Config, schema: ProviderSchema) -> list[str]:
    """Every resource, data source and `provider "aws"` block of ``config`` checked against ``schema``."""
    errors: list[str] = []
    for block in config.resources() + config.data():
        where = f"{block.file}: {block.address}"
        types = schema.resource if block.kind == "resource" else schema.data
        if block.type not in types:
            kind = "resource" if block.kind == "resource" else "data source"
            errors.append(f"{where}: " + _unknown(f"{kind} type", block.type, types) + f" in {schema.label}")
            continue
        meta = RESOURCE_META if block.kind == "resource" else DATA_META
        errors += check_body(block.body, types[block.type], where, frozenset(meta))
        errors += _check_lifecycle(block.body, types[block.type], where)
    for file_name, parsed in config.files.items():
        for entry in parsed.get("provider", []):
            for name, body in entry.items():
                if unquote(name) == "aws":
                    errors += check_body(
                        body, schema.provider, f'{file_name}: provider "aws"', frozenset(PROVIDER_META)
                    )
    return errors
