"""The Terraform configuration of ``terraform/`` as python-hcl2 parses it, with what the checks need.

No Terraform provider can be downloaded here, so ``terraform validate`` cannot run; these helpers give the
tests the blocks (resources, data sources, variables, locals, outputs) and the references inside their
expressions. python-hcl2 (8.x) returns an expression as text: ``"${...}"`` for an expression, ``'"..."'`` for
a quoted template; :func:`code_of` strips string literals down to their interpolations, so that words inside
strings (descriptions, ARNs) are never taken for references.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import hcl2

REPO_DIR = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO_DIR / "terraform"
WORKFLOW_FILE = REPO_DIR / "workflow" / "workflow.json"
EVENT_PATTERN_FILE = REPO_DIR / "workflow" / "job_failure_event_pattern.json"

_META_KEYS = {"__is_block__", "__comments__", "__inline_comments__"}


@dataclass(frozen=True)
class Block:
    kind: str  # resource, data, variable, output, module
    type: str  # resource or data source type; "" for variables, outputs, modules
    name: str
    body: dict
    file: str

    @property
    def address(self) -> str:
        prefix = {
            "resource": "",
            "data": "data.",
            "variable": "var.",
            "output": "output.",
            "module": "module.",
        }
        return f"{prefix[self.kind]}{self.type + '.' if self.type else ''}{self.name}"


@dataclass
class Config:
    files: dict[str, dict] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    locals: dict[str, str] = field(default_factory=dict)
    local_files: dict[str, str] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Block]:
        return [block for block in self.blocks if block.kind == kind]

    def resources(self, type_: str | None = None) -> list[Block]:
        return [b for b in self.of_kind("resource") if type_ is None or b.type == type_]

    def data(self, type_: str | None = None) -> list[Block]:
        return [b for b in self.of_kind("data") if type_ is None or b.type == type_]

    def get(self, kind: str, type_: str, name: str) -> Block:
        for block in self.blocks:
            if (block.kind, block.type, block.name) == (kind, type_, name):
                return block
        raise KeyError(f"no {kind} {type_}.{name} in terraform/")

    @property
    def variables(self) -> dict[str, Block]:
        return {block.name: block for block in self.of_kind("variable")}


def unquote(value: str) -> str:
    """The text of a quoted HCL string literal as python-hcl2 returns it ('"abc"' -> 'abc')."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _block_items(entries: list[dict]):
    for entry in entries:
        for label, body in entry.items():
            yield unquote(label), body


@cache
def load() -> Config:
    config = Config()
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        config.files[path.name] = parsed
        for type_, names in _block_items(parsed.get("resource", [])):
            for name, body in names.items():
                config.blocks.append(Block("resource", type_, unquote(name), body, path.name))
        for type_, names in _block_items(parsed.get("data", [])):
            for name, body in names.items():
                config.blocks.append(Block("data", type_, unquote(name), body, path.name))
        for kind in ("variable", "output", "module"):
            for name, body in _block_items(parsed.get(kind, [])):
                config.blocks.append(Block(kind, "", name, body, path.name))
        for locals_block in parsed.get("locals", []):
            for name, value in locals_block.items():
                if name in _META_KEYS:
                    continue
                if name in config.locals:
                    raise ValueError(
                        f"local.{name} is defined twice ({config.local_files[name]}, {path.name})"
                    )
                config.locals[name] = value
                config.local_files[name] = path.name
    return config


def values_of(obj, skip_keys: frozenset[str] = frozenset()):
    """Every string value inside a parsed body (expressions and literals), metadata left out."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in _META_KEYS or key in skip_keys:
                continue
            yield from values_of(value, skip_keys)
    elif isinstance(obj, list):
        for item in obj:
            yield from values_of(item, skip_keys)
    elif isinstance(obj, str):
        yield obj


def comments_of(obj):
    """Every comment python-hcl2 attached to a parsed body, its nested blocks included."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("__comments__", "__inline_comments__"):
                for comment in value:
                    yield comment["value"] if isinstance(comment, dict) else str(comment)
            else:
                yield from comments_of(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from comments_of(item)


def code_of(text: str) -> str:
    """The expression code in a parsed value: string literals removed, their interpolations kept."""
    if not isinstance(text, str):
        return ""
    if text.startswith("${") and text.endswith("}"):
        return _scan(text[2:-1], in_string=False)
    if text.startswith('"') and text.endswith('"'):
        return _scan(text[1:-1], in_string=True)
    return text  # a bare keyword or type constraint (string, map(string), ...)


def _scan(text: str, in_string: bool) -> str:
    code: list[str] = []
    # Frames: "s" inside a string literal; an int: brace depth of code in an interpolation (or at top level).
    stack: list = ["s"] if in_string else [0]
    i = 0
    while i < len(text):
        frame = stack[-1]
        char = text[i]
        if frame == "s":
            if char == "\\":
                i += 2
                continue
            if text.startswith("$${", i) or text.startswith("%%{", i):
                i += 3
                continue
            if text.startswith("${", i) or text.startswith("%{", i):
                stack.append(0)
                code.append(" ")
                i += 2
                continue
            if char == '"':
                stack.pop()
                code.append('""')
            i += 1
            continue
        if char == '"':
            stack.append("s")
        elif char == "{":
            stack[-1] = frame + 1
            code.append(char)
        elif char == "}":
            if frame == 0 and len(stack) > 1:
                stack.pop()
                code.append(" ")
            else:
                stack[-1] = frame - 1
                code.append(char)
        else:
            code.append(char)
        i += 1
    return "".join(code)


_REFERENCE = re.compile(
    r"(?<![\w.])(?:"
    r"(?P<var>var)\.(?P<var_name>\w+)"
    r"|(?P<local>local)\.(?P<local_name>\w+)"
    r"|(?P<module>module)\.(?P<module_name>\w+)"
    r"|data\.(?P<data_type>\w+)\.(?P<data_name>\w+)"
    r"|(?P<resource_type>aws_\w+)\.(?P<resource_name>[A-Za-z_][\w-]*)"
    r")"
)


def references(text: str) -> set[str]:
    """Addresses an expression refers to: var.x, local.x, module.x, data.t.n, t.n (resources)."""
    found = set()
    for match in _REFERENCE.finditer(code_of(text)):
        if match["var"]:
            found.add(f"var.{match['var_name']}")
        elif match["local"]:
            found.add(f"local.{match['local_name']}")
        elif match["module"]:
            found.add(f"module.{match['module_name']}")
        elif match["data_type"]:
            found.add(f"data.{match['data_type']}.{match['data_name']}")
        else:
            found.add(f"{match['resource_type']}.{match['resource_name']}")
    return found


# What Terraform fills in for ${name_prefix} with the variables' defaults (project "totesys", environment "dev").
DEFAULT_NAME_PREFIX = "totesys-dev"


def workflow_definition() -> dict:
    """workflow/workflow.json with the names of the default environment; the other placeholders left as they are."""
    return json.loads(WORKFLOW_FILE.read_text().replace("${name_prefix}", DEFAULT_NAME_PREFIX))


def event_pattern(job_names: list[str] | None = None) -> dict:
    """The failure pattern as Terraform renders it, for ``job_names`` (default: the local workflow's jobs)."""
    from totes.local.workflow import failure_event_pattern, load_workflow, local_workflow_variables

    if job_names is None:
        job_names = [job.name for job in load_workflow(local_workflow_variables()).jobs.values()]
    return json.loads(failure_event_pattern(job_names, EVENT_PATTERN_FILE))
