"""Offline validation of a Terraform configuration against the google provider's real schema.

`terraform validate` needs the provider binary, which cannot be downloaded here. This module reads
the configuration itself and checks it against `google-provider-6.50.0-schema.json` (the output of
`terraform providers schema -json`):

- every resource and data source type exists (a type missing from the schema file is reported as
  a notice, not passed silently: the file holds a subset of the provider);
- every argument and nested block exists, arguments are not used as blocks or the reverse,
  read-only (computed) attributes are not set, deprecated ones are not used, required arguments
  are set, nested block counts stay within min/max;
- rules of the google 7.x upgrade guide, so the configuration is valid on 6.50 and on 7.x;
- every `var.`, `local.`, `data.`, `module.` and resource reference resolves to a declaration,
  and attribute paths after a resource (`google_x.y.service_config[0].uri`) exist in the schema;
- module calls with a local source pass only declared variables and every required one;
- hygiene: variables and outputs have a description, variables a type, nothing declared is unused,
  a variable's validation refers only to that variable (Terraform < 1.9), and the google provider
  version constraint admits 6.50 and 7.x.

Usable as a script:
    python tests/terraform/schema_check.py terraform terraform/examples/minimal ...

The HCL parser is our own, small one: the `hcl2` package in the environment is claimed by two
distributions (python-hcl2 and checkov's bc-python-hcl2) whose outputs differ, so its behaviour
would depend on installation order.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT.parent / "shared" / "terraform" / "google-provider-6.50.0-schema.json"
SCHEMA_NAME = "google-provider-6.50.0-schema.json"

# Provider versions the configuration must accept (the 6.50 schema we check against, and 7.x).
REQUIRED_GOOGLE_VERSIONS = ("6.50.0", "7.0.0", "7.30.0")


# =================================================================================================
# Lexer
# =================================================================================================


class HclError(Exception):
    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


@dataclass(frozen=True)
class Tok:
    kind: str  # ident number punct nl tstart tlit iopen iclose tend eof
    value: str
    start: int
    end: int


_PUNCTS = [
    "...",
    "=>",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "::",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "=",
    ",",
    ".",
    ":",
    "?",
    "!",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    "~",
]  # fmt: skip  (longest first)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n")


class Lexer:
    def __init__(self, text: str, file: str) -> None:
        self.text, self.file, self.pos = text, file, 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.line_starts, offset)

    def error(self, message: str, offset: int | None = None) -> HclError:
        return HclError(self.file, self.line_of(self.pos if offset is None else offset), message)

    def tokens(self) -> list[Tok]:
        out: list[Tok] = []
        self._lex(out, in_interpolation=False)
        out.append(Tok("eof", "", len(self.text), len(self.text)))
        return out

    def _skip_comment(self) -> bool:
        text, pos = self.text, self.pos
        if text[pos] == "#" or text.startswith("//", pos):
            end = text.find("\n", pos)
            self.pos = len(text) if end < 0 else end
            return True
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                raise self.error("unterminated /* comment")
            self.pos = end + 2
            return True
        return False

    def _lex(self, out: list[Tok], in_interpolation: bool) -> None:
        text, depth = self.text, 0
        while self.pos < len(text):
            c, start = text[self.pos], self.pos
            if c in " \t\r":
                self.pos += 1
            elif c == "\n":
                if not in_interpolation:
                    out.append(Tok("nl", "\n", start, start + 1))
                self.pos += 1
            elif self._skip_comment():
                pass
            elif c == '"':
                self._lex_template(out, heredoc_end=None)
            elif text.startswith("<<", start):
                self._lex_heredoc(out)
            elif c.isdigit():
                m = _NUMBER.match(text, start)
                assert m
                out.append(Tok("number", m.group(0), start, m.end()))
                self.pos = m.end()
            elif c.isalpha() or c == "_":
                m = _IDENT.match(text, start)
                assert m
                out.append(Tok("ident", m.group(0), start, m.end()))
                self.pos = m.end()
            elif in_interpolation and c == "}" and depth == 0:
                self.pos += 1
                out.append(Tok("iclose", "}", start, self.pos))
                return
            else:
                for p in _PUNCTS:
                    if text.startswith(p, start):
                        break
                else:
                    raise self.error(f"unexpected character {c!r}")
                if in_interpolation and p == "{":
                    depth += 1
                elif in_interpolation and p == "}":
                    depth -= 1
                out.append(Tok("punct", p, start, start + len(p)))
                self.pos += len(p)
        if in_interpolation:
            raise self.error("unterminated ${ interpolation")

    def _lex_heredoc(self, out: list[Tok]) -> None:
        m = _HEREDOC.match(self.text, self.pos)
        if not m:
            raise self.error("malformed heredoc (expected <<MARKER or <<-MARKER and a newline)")
        marker, body_start = m.group(2), m.end()
        closing = re.compile(rf"^[ \t]*{re.escape(marker)}[ \t]*\r?$", re.MULTILINE)
        end = closing.search(self.text, body_start)
        if not end:
            raise self.error(f"heredoc {marker} is never closed")
        out.append(Tok("tstart", "<<", self.pos, m.end()))
        self.pos = body_start
        self._lex_template(out, heredoc_end=end.start())
        self.pos = end.end()
        out.append(Tok("tend", marker, end.start(), end.end()))

    def _lex_template(self, out: list[Tok], heredoc_end: int | None) -> None:
        """A quoted string (heredoc_end None, self.pos at the quote) or a heredoc body."""
        text = self.text
        if heredoc_end is None:
            out.append(Tok("tstart", '"', self.pos, self.pos + 1))
            self.pos += 1
        buf: list[str] = []
        lit_start = self.pos

        def flush() -> None:
            if buf:
                out.append(Tok("tlit", "".join(buf), lit_start, self.pos))
                buf.clear()

        while True:
            if heredoc_end is not None and self.pos >= heredoc_end:
                flush()
                return
            if self.pos >= len(text):
                raise self.error("unterminated string")
            c = text[self.pos]
            if heredoc_end is None and c == '"':
                flush()
                out.append(Tok("tend", '"', self.pos, self.pos + 1))
                self.pos += 1
                return
            if heredoc_end is None and c == "\n":
                raise self.error("newline inside a quoted string")
            if heredoc_end is None and c == "\\":
                buf.append(_unescape(text[self.pos : self.pos + 2]))
                self.pos += 2
            elif text.startswith(("$${", "%%{"), self.pos):
                buf.append(text[self.pos + 1 : self.pos + 3])
                self.pos += 3
            elif text.startswith(("${", "%{"), self.pos):
                flush()
                out.append(Tok("iopen", text[self.pos : self.pos + 2], self.pos, self.pos + 2))
                self.pos += 2
                self._lex(out, in_interpolation=True)
                lit_start = self.pos
            else:
                buf.append(c)
                self.pos += 1


def _unescape(seq: str) -> str:
    return {"\\n": "\n", "\\t": "\t", "\\r": "\r", '\\"': '"', "\\\\": "\\"}.get(seq, seq)


# =================================================================================================
# Parser: bodies of attributes and blocks; expressions are kept as token lists
# =================================================================================================


@dataclass
class Expr:
    tokens: list[Tok]
    text: str
    file: str
    line: int


@dataclass
class Attribute:
    name: str
    expr: Expr
    line: int


@dataclass
class Body:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def blocks_of(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.type == type_]

    def block(self, type_: str) -> Block | None:
        found = self.blocks_of(type_)
        return found[0] if found else None


@dataclass
class Block:
    type: str
    labels: list[str]
    body: Body
    file: str
    line: int

    @property
    def address(self) -> str:
        """Terraform's address: type.name for resources, data.type.name, variable.x, ..."""
        if self.type == "resource":
            return ".".join(self.labels)
        return ".".join([self.type, *self.labels])


class Parser:
    def __init__(self, text: str, file: str) -> None:
        self.lexer = Lexer(text, file)
        self.toks = self.lexer.tokens()
        self.text, self.file, self.i = text, file, 0

    def error(self, message: str) -> HclError:
        return HclError(self.file, self.lexer.line_of(self.toks[self.i].start), message)

    def parse(self) -> Body:
        body = self._body(closing=False)
        return body

    def _skip_newlines(self) -> None:
        while self.toks[self.i].kind == "nl":
            self.i += 1

    def _body(self, closing: bool) -> Body:
        body = Body()
        while True:
            self._skip_newlines()
            tok = self.toks[self.i]
            if tok.kind == "eof":
                if closing:
                    raise self.error("missing } at end of block")
                return body
            if tok.kind == "punct" and tok.value == "}":
                if not closing:
                    raise self.error("unexpected }")
                self.i += 1
                return body
            if tok.kind != "ident":
                raise self.error(f"expected an argument or block name, found {tok.value!r}")
            name, line = tok.value, self.lexer.line_of(tok.start)
            self.i += 1
            nxt = self.toks[self.i]
            if nxt.kind == "punct" and nxt.value == "=":
                self.i += 1
                if name in body.attributes:
                    raise self.error(f"argument {name} is set twice")
                body.attributes[name] = Attribute(name, self._expr(), line)
                self._end_of_item()
            else:
                labels = []
                while True:
                    nxt = self.toks[self.i]
                    if nxt.kind == "ident":
                        labels.append(nxt.value)
                        self.i += 1
                    elif nxt.kind == "tstart" and nxt.value == '"':
                        labels.append(self._string_label())
                    else:
                        break
                if not (nxt.kind == "punct" and nxt.value == "{"):
                    raise self.error(f"expected = or {{ after {name}")
                self.i += 1
                inner = self._body(closing=True)
                body.blocks.append(Block(name, labels, inner, self.file, line))
                self._end_of_item()

    def _end_of_item(self) -> None:
        tok = self.toks[self.i]
        if tok.kind in ("nl", "eof") or (tok.kind == "punct" and tok.value == "}"):
            return
        raise self.error(f"expected a newline, found {tok.value!r}")

    def _string_label(self) -> str:
        start = self.i
        self.i += 1
        parts = []
        while self.toks[self.i].kind == "tlit":
            parts.append(self.toks[self.i].value)
            self.i += 1
        if self.toks[self.i].kind != "tend":
            self.i = start
            raise self.error("block labels cannot contain interpolations")
        self.i += 1
        return "".join(parts)

    def _expr(self) -> Expr:
        start, depth = self.i, 0
        while True:
            tok = self.toks[self.i]
            if tok.kind == "eof" or (tok.kind == "nl" and depth == 0):
                break
            if tok.kind == "punct" and tok.value in "([{":
                depth += 1
            elif tok.kind == "punct" and tok.value in ")]}":
                if depth == 0:
                    break
                depth -= 1
            self.i += 1
        tokens = self.toks[start : self.i]
        if not tokens:
            raise self.error("missing expression")
        text = self.text[tokens[0].start : tokens[-1].end]
        return Expr(tokens, text, self.file, self.lexer.line_of(tokens[0].start))


def parse_hcl(text: str, file: str = "<string>") -> Body:
    return Parser(text, file).parse()


# -------------------------------------------------------------------------------------------------
# Expressions: literal values and references
# -------------------------------------------------------------------------------------------------


class NotLiteral(Exception):
    pass


def literal(expr: Expr) -> object:
    """The value of an expression made only of literals (strings without interpolation, numbers,
    booleans, null, lists and objects of those). Raises NotLiteral otherwise."""
    toks = [t for t in expr.tokens if t.kind != "nl"]
    value, i = _literal_at(toks, 0)
    if i != len(toks):
        raise NotLiteral(expr.text)
    return value


def _literal_at(toks: list[Tok], i: int) -> tuple[object, int]:
    if i >= len(toks):
        raise NotLiteral("end of expression")
    t = toks[i]
    if t.kind == "tstart":
        parts, j = [], i + 1
        while j < len(toks) and toks[j].kind == "tlit":
            parts.append(toks[j].value)
            j += 1
        if j >= len(toks) or toks[j].kind != "tend":
            raise NotLiteral("template")
        text = "".join(parts)
        if t.value == "<<":
            text = _dedent_heredoc(text)
        return text, j + 1
    if t.kind == "number":
        return (float(t.value) if "." in t.value or "e" in t.value.lower() else int(t.value)), i + 1
    if t.kind == "punct" and t.value == "-" and i + 1 < len(toks) and toks[i + 1].kind == "number":
        value, j = _literal_at(toks, i + 1)
        return -value, j  # type: ignore[operator]
    if t.kind == "ident" and t.value in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[t.value], i + 1
    if t.kind == "punct" and t.value == "[":
        items, j = [], i + 1
        while j < len(toks) and not (toks[j].kind == "punct" and toks[j].value == "]"):
            value, j = _literal_at(toks, j)
            items.append(value)
            if j < len(toks) and toks[j].kind == "punct" and toks[j].value == ",":
                j += 1
        return items, j + 1
    if t.kind == "punct" and t.value == "{":
        obj, j = {}, i + 1
        while j < len(toks) and not (toks[j].kind == "punct" and toks[j].value == "}"):
            if toks[j].kind == "ident":
                key, j = toks[j].value, j + 1
            else:
                key, j = _literal_at(toks, j)
            if j >= len(toks) or toks[j].value not in ("=", ":"):
                raise NotLiteral("object")
            value, j = _literal_at(toks, j + 1)
            obj[str(key)] = value
            if j < len(toks) and toks[j].kind == "punct" and toks[j].value == ",":
                j += 1
        return obj, j + 1
    raise NotLiteral(t.value)


def _dedent_heredoc(text: str) -> str:
    lines = text.split("\n")
    indents = [len(x) - len(x.lstrip()) for x in lines if x.strip()]
    cut = min(indents, default=0)
    return "\n".join(x[cut:] for x in lines)


def literal_or(expr: Expr | None, default: object = None) -> object:
    if expr is None:
        return default
    try:
        return literal(expr)
    except NotLiteral:
        return default


@dataclass(frozen=True)
class Ref:
    parts: tuple[str, ...]  # e.g. ("google_pubsub_topic", "events", "id"); "[]" marks an index
    file: str
    line: int

    @property
    def root(self) -> str:
        return self.parts[0]

    def __str__(self) -> str:
        return ".".join(self.parts).replace(".[]", "[]")

    @property
    def target(self) -> str:
        """The declaration referred to: var.x, local.x, data.t.n, module.m, or t.n."""
        if self.root == "data":
            return ".".join(self.parts[:3])
        return ".".join(self.parts[:2])


_OPEN = {"(": ")", "[": "]", "{": "}"}


def _match(toks: list[Tok], i: int) -> int:
    """Index of the bracket closing toks[i]."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "punct" and toks[j].value in _OPEN:
            depth += 1
        elif toks[j].kind == "punct" and toks[j].value in (")", "]", "}"):
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def bound_names(expr: Expr) -> set[str]:
    """Names introduced by for expressions and %{ for } directives inside the expression."""
    toks = [t for t in expr.tokens if t.kind != "nl"]
    names = set()
    for i, t in enumerate(toks):
        if t.kind == "ident" and t.value == "for" and i + 1 < len(toks):
            j = i + 1
            while j < len(toks) and toks[j].kind == "ident" and toks[j].value != "in":
                names.add(toks[j].value)
                j += 1
                if j < len(toks) and toks[j].value == ",":
                    j += 1
    return names


def references(expr: Expr, bound: frozenset[str] = frozenset()) -> list[Ref]:
    """Traversals (a.b...) in the expression whose root is not a bound name."""
    toks = [t for t in expr.tokens if t.kind != "nl"]
    skip = bound | bound_names(expr)
    lexer_lines = Lexer(expr.text, expr.file)
    base_offset = expr.tokens[0].start
    refs = []
    for i, t in enumerate(toks):
        if t.kind != "ident":
            continue
        prev = toks[i - 1] if i else None
        if prev is not None and prev.kind == "punct" and prev.value in (".", "::"):
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if nxt is not None and nxt.kind == "punct" and nxt.value in ("(", "::"):
            continue
        parts, j = [t.value], i + 1
        while j < len(toks):
            tj = toks[j]
            if tj.kind == "punct" and tj.value == "." and j + 1 < len(toks):
                nj = toks[j + 1]
                if nj.kind in ("ident", "number"):
                    parts.append(nj.value)
                elif nj.kind == "punct" and nj.value == "*":
                    parts.append("*")
                else:
                    break
                j += 2
            elif tj.kind == "punct" and tj.value == "[":
                close = _match(toks, j)
                inner = toks[j + 1 : close]
                parts.append("[*]" if len(inner) == 1 and inner[0].value == "*" else "[]")
                j = close + 1
            else:
                break
        if len(parts) == 1 or parts[0] in skip:
            continue
        line = expr.line + lexer_lines.line_of(t.start - base_offset) - 1
        refs.append(Ref(tuple(parts), expr.file, line))
    return refs


# =================================================================================================
# Modules
# =================================================================================================


@dataclass
class Module:
    dir: Path
    blocks: list[Block] = field(default_factory=list)
    parse_errors: list[HclError] = field(default_factory=list)
    variables: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, Attribute] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    resources: dict[str, Block] = field(default_factory=dict)  # "type.name"
    data: dict[str, Block] = field(default_factory=dict)  # "data.type.name"
    modules: dict[str, Block] = field(default_factory=dict)
    duplicates: list[tuple[str, Block]] = field(default_factory=list)

    def resources_of(self, type_: str) -> dict[str, Block]:
        return {k: b for k, b in self.resources.items() if b.labels[0] == type_}


def load_module(directory: Path | str) -> Module:
    directory = Path(directory)
    mod = Module(directory)
    for path in sorted(directory.glob("*.tf")):
        try:
            body = parse_hcl(path.read_text(encoding="utf-8"), path.name)
        except HclError as e:
            mod.parse_errors.append(e)
            continue
        mod.blocks.extend(body.blocks)
        for name, attr in body.attributes.items():
            mod.parse_errors.append(HclError(path.name, attr.line, f"stray argument {name}"))
    for b in mod.blocks:
        if b.type == "variable" and len(b.labels) == 1:
            _declare(mod, mod.variables, b.labels[0], b)
        elif b.type == "output" and len(b.labels) == 1:
            _declare(mod, mod.outputs, b.labels[0], b)
        elif b.type == "resource" and len(b.labels) == 2:
            _declare(mod, mod.resources, ".".join(b.labels), b)
        elif b.type == "data" and len(b.labels) == 2:
            _declare(mod, mod.data, "data." + ".".join(b.labels), b)
        elif b.type == "module" and len(b.labels) == 1:
            _declare(mod, mod.modules, b.labels[0], b)
        elif b.type == "locals":
            for name, attr in b.body.attributes.items():
                if name in mod.locals:
                    mod.duplicates.append((f"local.{name}", b))
                mod.locals[name] = attr
    return mod


def _declare(mod: Module, table: dict[str, Block], key: str, block: Block) -> None:
    if key in table:
        mod.duplicates.append((block.address, block))
    table[key] = block


# =================================================================================================
# Schema and rules
# =================================================================================================

# Types that are not google's, transcribed from their providers' documented schemas. Only the
# arguments this project may use are listed for archive_file, so anything else is flagged too.
SUPPLEMENTARY_SCHEMAS: dict[str, dict[str, dict]] = {
    "data": {
        "archive_file": {
            "provider": "hashicorp/archive 2.x (transcribed)",
            "block": {
                "attributes": {
                    "type": {"type": "string", "required": True},
                    "output_path": {"type": "string", "required": True},
                    "output_file_mode": {"type": "string", "optional": True},
                    "source_content": {"type": "string", "optional": True},
                    "source_content_filename": {"type": "string", "optional": True},
                    "source_file": {"type": "string", "optional": True},
                    "source_dir": {"type": "string", "optional": True},
                    "excludes": {"type": ["set", "string"], "optional": True},
                    "id": {"type": "string", "computed": True},
                    "output_size": {"type": "number", "computed": True},
                    "output_md5": {"type": "string", "computed": True},
                    "output_sha": {"type": "string", "computed": True},
                    "output_sha256": {"type": "string", "computed": True},
                    "output_base64sha256": {"type": "string", "computed": True},
                    "output_sha512": {"type": "string", "computed": True},
                    "output_base64sha512": {"type": "string", "computed": True},
                },
                "block_types": {
                    "source": {
                        "nesting_mode": "set",
                        "block": {
                            "attributes": {
                                "content": {"type": "string", "required": True},
                                "filename": {"type": "string", "required": True},
                            }
                        },
                    }
                },
            },
        }
    },
    "resource": {},
}

# From the google provider 7.0.0 upgrade guide, for the types this project may use.
# (kind, type) -> {dotted argument path: why}
REMOVED_IN_7: dict[tuple[str, str], dict[str, str]] = {
    ("resource", "google_cloudfunctions2_function"): {
        "service_config.service": "is read-only from google 7.0 (read it, do not set it)",
    },
}
REQUIRED_IN_7: dict[tuple[str, str], dict[str, str]] = {
    ("resource", "google_cloudfunctions2_function"): {
        "event_trigger.event_type": "is required when event_trigger is set from google 7.0",
    },
}
DEFAULT_CHANGED_IN_7: dict[tuple[str, str], dict[str, str]] = {
    ("resource", "google_project_service"): {
        "disable_on_destroy": "changed its default in google 7.0 (true -> false): set it",
    },
}

RESOURCE_META_ATTRS = {"count", "for_each", "depends_on", "provider"}
RESOURCE_META_BLOCKS = {"lifecycle", "provisioner", "connection"}
LIFECYCLE_ATTRS = {
    "create_before_destroy",
    "prevent_destroy",
    "ignore_changes",
    "replace_triggered_by",
}
LIFECYCLE_BLOCKS = {"precondition", "postcondition"}
CONDITION_ATTRS = {"condition", "error_message"}
MODULE_META_ATTRS = {"source", "version", "count", "for_each", "providers", "depends_on"}
VARIABLE_ATTRS = {"type", "default", "description", "sensitive", "nullable", "ephemeral"}
OUTPUT_ATTRS = {"value", "description", "sensitive", "depends_on", "ephemeral"}
TOP_LEVEL = {
    "terraform", "variable", "locals", "output", "resource", "data", "module", "provider",
    "moved", "import", "removed", "check",
}  # fmt: skip
NON_RESOURCE_ROOTS = {
    "var",
    "local",
    "data",
    "module",
    "each",
    "count",
    "self",
    "path",
    "terraform",
}


@dataclass
class Finding:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class Report:
    directory: Path
    problems: list[Finding] = field(default_factory=list)
    notices: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, file: str, line: int, message: str) -> None:
        self.problems.append(Finding(file, line, message))

    def notice(self, file: str, line: int, message: str) -> None:
        self.notices.append(Finding(file, line, message))

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def render(self) -> str:
        lines = [f"== {self.directory}"]
        lines.append("checked: " + ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items())))
        lines += [f"notice: {n}" for n in self.notices]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        lines.append("OK" if self.ok else f"{len(self.problems)} problem(s)")
        return "\n".join(lines)


def load_schema(path: Path | str = SCHEMA_PATH) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class Checker:
    def __init__(self, schema: dict | None = None) -> None:
        self.schema = schema if schema is not None else load_schema()

    # ------------------------------------------------------------------ entry point
    def check(self, directory: Path | str) -> Report:
        mod = load_module(directory)
        report = Report(Path(directory))
        for err in mod.parse_errors:
            report.problem(err.file, err.line, f"cannot parse: {err.message}")
        if not any(Path(directory).glob("*.tf")):
            report.problem(str(directory), 0, "no .tf files")
        for address, block in mod.duplicates:
            report.problem(block.file, block.line, f"{address} is declared twice")
        for block in mod.blocks:
            if block.type not in TOP_LEVEL:
                report.problem(block.file, block.line, f"unknown top-level block {block.type!r}")
        self._check_terraform_block(mod, report)
        for block in mod.resources.values():
            self._check_typed_block("resource", block, report)
            report.count("resources")
        for block in mod.data.values():
            self._check_typed_block("data", block, report)
            report.count("data sources")
        self._check_variables(mod, report)
        self._check_outputs(mod, report)
        for block in mod.modules.values():
            self._check_module_call(mod, block, report)
        self._check_references(mod, report)
        return report

    # ------------------------------------------------------------------ schema lookups
    def _schema_for(self, kind: str, type_: str) -> tuple[dict | None, str | None]:
        entry = self.schema.get(kind, {}).get(type_)
        if entry is not None:
            return entry["block"], None
        extra = SUPPLEMENTARY_SCHEMAS.get(kind, {}).get(type_)
        if extra is not None:
            return extra["block"], extra["provider"]
        return None, None

    # ------------------------------------------------------------------ resources and data
    def _check_typed_block(self, kind: str, block: Block, report: Report) -> None:
        type_, name = block.labels
        addr = f"{'data.' if kind == 'data' else ''}{type_}.{name}"
        schema, supplementary = self._schema_for(kind, type_)
        if schema is None:
            report.notice(
                block.file,
                block.line,
                f"{addr}: {kind} type {type_} is not in {SCHEMA_NAME}; its arguments were NOT "
                "checked (the schema file holds a subset of the provider)",
            )
            self._check_meta(kind, block, addr, report)
            return
        if supplementary:
            report.notice(
                block.file,
                block.line,
                f"{addr}: {type_} is not in {SCHEMA_NAME}; checked against the schema of "
                f"{supplementary} in schema_check.SUPPLEMENTARY_SCHEMAS",
            )
        self._check_meta(kind, block, addr, report)
        self._check_body(block.body, schema, addr, "", report, top=True, kind=kind)
        self._check_v7_rules(kind, type_, block, addr, report)

    def _check_meta(self, kind: str, block: Block, addr: str, report: Report) -> None:
        attrs = block.body.attributes
        if "count" in attrs and "for_each" in attrs:
            report.problem(block.file, block.line, f"{addr}: count and for_each are exclusive")
        for lc in block.body.blocks_of("lifecycle"):
            for a in lc.body.attributes.values():
                if a.name not in LIFECYCLE_ATTRS or kind == "data":
                    report.problem(lc.file, a.line, f"{addr}: unknown lifecycle argument {a.name}")
            for b in lc.body.blocks:
                if b.type not in LIFECYCLE_BLOCKS:
                    report.problem(b.file, b.line, f"{addr}: unknown lifecycle block {b.type}")
                for a in b.body.attributes.values():
                    if a.name not in CONDITION_ATTRS:
                        report.problem(
                            b.file, a.line, f"{addr}: unknown {b.type} argument {a.name}"
                        )

    def _check_body(
        self,
        body: Body,
        schema: dict,
        addr: str,
        path: str,
        report: Report,
        top: bool = False,
        kind: str = "resource",
    ) -> None:
        attributes = schema.get("attributes", {})
        block_types = schema.get("block_types", {})
        where = f"{addr}{(' ' + path) if path else ''}"
        for a in body.attributes.values():
            report.count("arguments")
            if top and a.name in RESOURCE_META_ATTRS:
                continue
            spec = attributes.get(a.name)
            if spec is None:
                if a.name in block_types:
                    report.problem(
                        a.expr.file,
                        a.line,
                        f"{where}: {a.name} is a nested block, write `{a.name} {{ ... }}`",
                    )
                else:
                    report.problem(a.expr.file, a.line, f"{where}: unknown argument {a.name!r}")
                continue
            if spec.get("computed") and not (spec.get("optional") or spec.get("required")):
                report.problem(
                    a.expr.file, a.line, f"{where}: {a.name} is read-only (computed), cannot be set"
                )
            elif a.name == "id" and top:
                report.problem(a.expr.file, a.line, f"{where}: id is set by the provider")
            if spec.get("deprecated"):
                report.problem(
                    a.expr.file,
                    a.line,
                    f"{where}: {a.name} is deprecated in 6.50 and may be gone in 7.x",
                )
        for name, spec in attributes.items():
            if spec.get("required") and name not in body.attributes:
                report.problem(
                    *self._pos(body, addr), f"{where}: required argument {name!r} is missing"
                )
        static: dict[str, int] = {}
        dynamic: dict[str, int] = {}
        for b in body.blocks:
            if top and b.type in RESOURCE_META_BLOCKS:
                continue
            if b.type == "dynamic":
                if len(b.labels) != 1:
                    report.problem(b.file, b.line, f"{where}: dynamic needs one label")
                    continue
                target = b.labels[0]
                spec = block_types.get(target)
                report.count("dynamic blocks")
                if spec is None:
                    report.problem(b.file, b.line, f"{where}: unknown block type {target!r}")
                    continue
                dynamic[target] = dynamic.get(target, 0) + 1
                for a in b.body.attributes.values():
                    if a.name not in ("for_each", "iterator", "labels"):
                        report.problem(b.file, a.line, f"{where}: dynamic {target}: bad {a.name}")
                if "for_each" not in b.body.attributes:
                    report.problem(b.file, b.line, f"{where}: dynamic {target} needs for_each")
                contents = b.body.blocks_of("content")
                if len(contents) != 1 or len(b.body.blocks) != 1:
                    report.problem(b.file, b.line, f"{where}: dynamic {target} needs one content")
                for c in contents:
                    self._check_body(c.body, spec["block"], addr, _join(path, target), report)
                continue
            spec = block_types.get(b.type)
            report.count("blocks")
            if spec is None:
                if b.type in attributes:
                    report.problem(
                        b.file, b.line, f"{where}: {b.type} is an argument, write `{b.type} = ...`"
                    )
                else:
                    report.problem(b.file, b.line, f"{where}: unknown block type {b.type!r}")
                continue
            if b.labels:
                report.problem(b.file, b.line, f"{where}: block {b.type} takes no labels")
            static[b.type] = static.get(b.type, 0) + 1
            self._check_body(b.body, spec["block"], addr, _join(path, b.type), report)
        for name, spec in block_types.items():
            n, d = static.get(name, 0), dynamic.get(name, 0)
            max_items = spec.get("max_items") or (1 if spec.get("nesting_mode") == "single" else 0)
            min_items = spec.get("min_items") or 0
            if max_items and n > max_items:
                report.problem(
                    *self._pos(body, addr),
                    f"{where}: {n} {name} blocks, at most {max_items} allowed",
                )
            elif max_items and n + d > max_items:
                report.problem(
                    *self._pos(body, addr),
                    f"{where}: {name} given by {n} block(s) and {d} dynamic block(s), "
                    f"at most {max_items} allowed",
                )
            if n + d < min_items:
                report.problem(
                    *self._pos(body, addr),
                    f"{where}: needs at least {min_items} {name} block(s), found {n + d}",
                )

    @staticmethod
    def _pos(body: Body, addr: str) -> tuple[str, int]:
        for a in body.attributes.values():
            return a.expr.file, a.line
        for b in body.blocks:
            return b.file, b.line
        return addr, 0

    def _check_v7_rules(
        self, kind: str, type_: str, block: Block, addr: str, report: Report
    ) -> None:
        for path, why in REMOVED_IN_7.get((kind, type_), {}).items():
            for body in _bodies_at(block.body, path.split(".")[:-1]):
                if path.split(".")[-1] in body.attributes:
                    report.problem(block.file, block.line, f"{addr}: {path} {why}")
        for path, why in REQUIRED_IN_7.get((kind, type_), {}).items():
            parent, leaf = path.split(".")[:-1], path.split(".")[-1]
            for body in _bodies_at(block.body, parent):
                if leaf not in body.attributes:
                    report.problem(block.file, block.line, f"{addr}: {path} {why}")
        for path, why in DEFAULT_CHANGED_IN_7.get((kind, type_), {}).items():
            parent, leaf = path.split(".")[:-1], path.split(".")[-1]
            for body in _bodies_at(block.body, parent):
                if leaf not in body.attributes:
                    report.problem(block.file, block.line, f"{addr}: {path} {why}")

    # ------------------------------------------------------------------ terraform block
    def _check_terraform_block(self, mod: Module, report: Report) -> None:
        google_constraint = None
        for tf in (b for b in mod.blocks if b.type == "terraform"):
            for rp in tf.body.blocks_of("required_providers"):
                for name, attr in rp.body.attributes.items():
                    spec = literal_or(attr.expr, {})
                    if not isinstance(spec, dict) or "source" not in spec:
                        report.problem(tf.file, attr.line, f"required_providers.{name}: no source")
                        continue
                    if name == "google":
                        google_constraint = (spec.get("version"), tf.file, attr.line)
        if google_constraint is None:
            report.problem(str(mod.dir), 0, "terraform.required_providers does not declare google")
            return
        constraint, file, line = google_constraint
        if not isinstance(constraint, str):
            report.problem(file, line, "the google provider has no version constraint")
            return
        try:
            for version in REQUIRED_GOOGLE_VERSIONS:
                if not version_matches(constraint, version):
                    report.problem(
                        file, line, f"google version constraint {constraint!r} rejects {version}"
                    )
            if version_matches(constraint, "8.0.0"):
                report.problem(
                    file, line, f"google constraint {constraint!r} admits the untested 8.x"
                )
        except ValueError as e:
            report.problem(file, line, str(e))
        report.count("version constraints")

    # ------------------------------------------------------------------ variables and outputs
    def _check_variables(self, mod: Module, report: Report) -> None:
        for name, block in mod.variables.items():
            report.count("variables")
            for a in block.body.attributes.values():
                if a.name not in VARIABLE_ATTRS:
                    report.problem(
                        block.file, a.line, f"variable {name}: unknown argument {a.name}"
                    )
            for b in block.body.blocks:
                if b.type != "validation":
                    report.problem(block.file, b.line, f"variable {name}: unknown block {b.type}")
                    continue
                for a in b.body.attributes.values():
                    if a.name not in CONDITION_ATTRS:
                        report.problem(b.file, a.line, f"variable {name}: validation {a.name}?")
                cond = b.body.attributes.get("condition")
                if cond is None or "error_message" not in b.body.attributes:
                    report.problem(b.file, b.line, f"variable {name}: validation is incomplete")
                    continue
                for ref in references(cond.expr):
                    if ref.target != f"var.{name}":
                        report.problem(
                            ref.file,
                            ref.line,
                            f"variable {name}: validation refers to {ref} (only var.{name} may "
                            "be used before Terraform 1.9)",
                        )
            for required in ("description", "type"):
                if required not in block.body.attributes:
                    report.problem(block.file, block.line, f"variable {name} has no {required}")

    def _check_outputs(self, mod: Module, report: Report) -> None:
        for name, block in mod.outputs.items():
            report.count("outputs")
            for a in block.body.attributes.values():
                if a.name not in OUTPUT_ATTRS:
                    report.problem(block.file, a.line, f"output {name}: unknown argument {a.name}")
            for required in ("value", "description"):
                if required not in block.body.attributes:
                    report.problem(block.file, block.line, f"output {name} has no {required}")

    # ------------------------------------------------------------------ module calls
    def _called_module(self, mod: Module, block: Block) -> Module | None:
        source = literal_or(block.body.attributes.get("source").expr)  # type: ignore[union-attr]
        if isinstance(source, str) and source.startswith(("./", "../")):
            return load_module((mod.dir / source).resolve())
        return None

    def _check_module_call(self, mod: Module, block: Block, report: Report) -> None:
        name = block.labels[0]
        report.count("module calls")
        if "source" not in block.body.attributes:
            report.problem(block.file, block.line, f"module {name} has no source")
            return
        called = self._called_module(mod, block)
        if called is None:
            report.notice(block.file, block.line, f"module {name}: remote source not checked")
            return
        for a in block.body.attributes.values():
            if a.name not in MODULE_META_ATTRS and a.name not in called.variables:
                report.problem(
                    block.file, a.line, f"module {name}: {called.dir} has no variable {a.name!r}"
                )
        for var_name, var in called.variables.items():
            if "default" not in var.body.attributes and var_name not in block.body.attributes:
                report.problem(
                    block.file, block.line, f"module {name}: required variable {var_name} not set"
                )

    # ------------------------------------------------------------------ references
    def _expressions(self, mod: Module) -> Iterator[tuple[Expr, frozenset[str], Block]]:
        def walk(body: Body, bound: frozenset[str], owner: Block) -> Iterator:
            for a in body.attributes.values():
                yield a.expr, bound, owner
            for b in body.blocks:
                if b.type == "dynamic" and b.labels:
                    it = literal_or(
                        b.body.attributes.get("iterator").expr  # type: ignore[union-attr]
                        if "iterator" in b.body.attributes
                        else None,
                        b.labels[0],
                    )
                    for a in b.body.attributes.values():
                        yield a.expr, bound, owner
                    for c in b.body.blocks:
                        yield from walk(c.body, bound | {str(it)}, owner)
                else:
                    yield from walk(b.body, bound, owner)

        for block in mod.blocks:
            if block.type == "terraform":
                continue
            if block.type == "variable":
                continue  # validations are checked in _check_variables; defaults are literals
            yield from walk(block.body, frozenset(), block)

    def _check_references(self, mod: Module, report: Report) -> None:
        used_vars: set[str] = set()
        used_locals: set[str] = set()
        for block in mod.variables.values():
            for b in block.body.blocks_of("validation"):
                for a in b.body.attributes.values():
                    for ref in references(a.expr):
                        if ref.root == "var":
                            used_vars.add(ref.parts[1])
        for expr, bound, _owner in self._expressions(mod):
            for ref in references(expr, bound):
                report.count("references")
                if ref.root == "var":
                    used_vars.add(ref.parts[1])
                    if ref.parts[1] not in mod.variables:
                        report.problem(ref.file, ref.line, f"{ref}: no variable {ref.parts[1]!r}")
                elif ref.root == "local":
                    used_locals.add(ref.parts[1])
                    if ref.parts[1] not in mod.locals:
                        report.problem(ref.file, ref.line, f"{ref}: no local {ref.parts[1]!r}")
                elif ref.root == "data":
                    if len(ref.parts) < 3 or ref.target not in mod.data:
                        report.problem(ref.file, ref.line, f"{ref}: no data source {ref.target}")
                    else:
                        self._check_attr_path("data", mod.data[ref.target], ref, 3, report)
                elif ref.root == "module":
                    self._check_module_ref(mod, ref, report)
                elif ref.root in NON_RESOURCE_ROOTS:
                    continue
                elif ref.target not in mod.resources:
                    report.problem(ref.file, ref.line, f"{ref}: no resource {ref.target}")
                else:
                    self._check_attr_path("resource", mod.resources[ref.target], ref, 2, report)
        for name, block in mod.variables.items():
            if name not in used_vars:
                report.problem(block.file, block.line, f"variable {name} is never used")
        for name, attr in mod.locals.items():
            if name not in used_locals:
                report.problem(attr.expr.file, attr.line, f"local {name} is never used")

    def _check_module_ref(self, mod: Module, ref: Ref, report: Report) -> None:
        name = ref.parts[1]
        block = mod.modules.get(name)
        if block is None:
            report.problem(ref.file, ref.line, f"{ref}: no module {name!r}")
            return
        called = self._called_module(mod, block)
        rest = [p for p in ref.parts[2:] if p != "[]"]
        if called is not None and rest and rest[0] not in called.outputs:
            report.problem(ref.file, ref.line, f"{ref}: module {name} has no output {rest[0]!r}")

    def _check_attr_path(
        self, kind: str, block: Block, ref: Ref, skip: int, report: Report
    ) -> None:
        schema, _ = self._schema_for(kind, block.labels[0])
        if schema is None:
            return
        parts = list(ref.parts[skip:])
        if parts and parts[0] in ("[]", "[*]") and _is_multi(block):
            parts = parts[1:]
        elif parts and parts[0] in ("[]", "[*]"):
            report.problem(ref.file, ref.line, f"{ref}: {block.address} has no count/for_each")
            return
        elif _is_multi(block) and parts:
            report.problem(ref.file, ref.line, f"{ref}: {block.address} needs an index")
            return
        while parts:
            name = parts.pop(0)
            if name in ("[]", "[*]", "*"):
                continue
            if name in schema.get("attributes", {}):
                return  # the rest indexes into the attribute's value
            nested = schema.get("block_types", {}).get(name)
            if nested is None:
                report.problem(
                    ref.file, ref.line, f"{ref}: {block.labels[0]} has no attribute {name!r}"
                )
                return
            schema = nested["block"]
        report.count("attribute paths")


def _is_multi(block: Block) -> bool:
    return "count" in block.body.attributes or "for_each" in block.body.attributes


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _bodies_at(body: Body, path: list[str]) -> list[Body]:
    bodies = [body]
    for name in path:
        nxt = []
        for b in bodies:
            nxt += [x.body for x in b.blocks_of(name)]
            for d in b.blocks_of("dynamic"):
                if d.labels == [name]:
                    nxt += [c.body for c in d.body.blocks_of("content")]
        bodies = nxt
    return bodies


# =================================================================================================
# Version constraints
# =================================================================================================

_CONSTRAINT = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*v?([0-9]+(?:\.[0-9]+){0,2})\s*$")


def _version(text: str) -> tuple[int, int, int]:
    major, minor, patch = ([int(x) for x in text.split(".")] + [0, 0, 0])[:3]
    return major, minor, patch


def version_matches(constraint: str, version: str) -> bool:
    v = _version(version)
    for part in constraint.split(","):
        m = _CONSTRAINT.match(part)
        if not m:
            raise ValueError(f"cannot read version constraint {part.strip()!r}")
        op, text = m.group(1) or "=", m.group(2)
        c = _version(text)
        if op == "~>":
            segments = len(text.split("."))
            upper = (c[0] + 1, 0, 0) if segments <= 2 else (c[0], c[1] + 1, 0)
            ok = c <= v < upper
        else:
            ok = {
                "=": v == c,
                "!=": v != c,
                ">": v > c,
                ">=": v >= c,
                "<": v < c,
                "<=": v <= c,
            }[op]
        if not ok:
            return False
    return True


# =================================================================================================
# Command line
# =================================================================================================


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: schema_check.py DIR [DIR ...]", file=sys.stderr)
        return 2
    checker = Checker()
    failed = False
    for directory in args:
        report = checker.check(directory)
        print(report.render())
        failed |= not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
