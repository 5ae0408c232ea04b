""".env.example is the one list of settings: every variable in it is read by the code and documented in the README or
docs/, each by its whole name (LLM_MODEL_DEEP does not document LLM_MODEL), and every variable the code reads is in it."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from dotenv import dotenv_values

from handlers.config import Settings
from tests.conftest import ROOT

CODE = [ROOT / "bot.py", *(p for d in ("core", "digest", "handlers", "storage") for p in (ROOT / d).rglob("*.py"))]
DOCS = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
# How the code reads a setting: Settings.from_env's get(), number() and _choice() on its `env` mapping; os.environ[...],
# os.environ.get(), os.getenv(). A WSGI `environ` or a JSON answer's .get("URL") is no setting.
FUNCTIONS = {"get", "number", "_choice", "getenv"}
NAME = re.compile(r"[A-Z][A-Z0-9_]*[A-Z0-9]")


def example_names() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))


def _is_env(node: ast.expr) -> bool:
    """`os.environ` or `env` (the mapping Settings.from_env reads)."""
    if isinstance(node, ast.Name):
        return node.id == "env"
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) \
        and node.value.id == "os"


def _reads(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in FUNCTIONS
    return isinstance(func, ast.Attribute) and (func.attr == "getenv" or func.attr == "get" and _is_env(func.value))


def _name(node: ast.expr) -> str | None:
    ok = isinstance(node, ast.Constant) and isinstance(node.value, str) and NAME.fullmatch(node.value)
    return node.value if ok else None


def names_read(source: str) -> Iterator[str]:
    """The setting names a module reads: `get("X")`, `number("X", …)`, `os.getenv("X")`, `os.environ["X"]`, …"""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and _reads(node):
            name = _name(node.args[0])
        elif isinstance(node, ast.Subscript) and _is_env(node.value):
            name = _name(node.slice)
        else:
            continue
        if name:
            yield name


def code_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in CODE:
        for name in names_read(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def documented(name: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text) is not None


def test_the_reader_finds_every_way_of_reading_a_setting_and_nothing_else():
    source = '''
import os
a = os.environ["A_ONE"]; b = os.environ.get("B_TWO"); c = os.getenv("C_THREE")
d = get("D_FOUR"); e = number("E_FIVE", 1, 0, 2); f = _choice("F_SIX", get("G_SEVEN") or "x", ("x",))
h = env["H_EIGHT"]; i = env.get("I_NINE")
print("NOT_READ"); raise ValueError("J_TEN must be set")
environ.get("PATH_INFO"); environ["QUERY_STRING"]; answer.get("URL")  # a WSGI environ, a JSON answer
'''
    assert sorted(names_read(source)) == ["A_ONE", "B_TWO", "C_THREE", "D_FOUR", "E_FIVE", "F_SIX", "G_SEVEN",
                                          "H_EIGHT", "I_NINE"]


def test_a_name_is_documented_only_as_a_whole_word():
    assert documented("LLM_MODEL", "set `LLM_MODEL` to the model")
    assert not documented("LLM_MODEL", "set LLM_MODEL_DEEP to the deep model")
    assert not documented("LLM_MODEL", "OPENAI_LLM_MODEL")
    assert not documented("PORT", "SUPPORT and REPORTS")


def test_every_variable_in_env_example_is_read_by_the_code():
    names, read = example_names(), code_names()
    assert len(names) >= 30
    assert not names - set(read), f"in .env.example but read nowhere (dead: remove them): {sorted(names - set(read))}"


def test_every_variable_the_code_reads_is_in_env_example():
    read = code_names()
    missing = {name: paths for name, paths in read.items() if name not in example_names()}
    assert not missing, f"read by the code but not in .env.example (add each with a comment): {missing}"


def test_every_variable_in_env_example_is_documented_by_its_whole_name():
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS)
    missing = sorted(name for name in example_names() if not documented(name, text))
    assert not missing, f"in .env.example but not in README.md or docs/: {missing}"


def test_the_readme_table_lists_every_variable():
    """The README's configuration table has one row per variable of .env.example, and no other."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "copy `.env.example` to `.env`" in readme.lower()
    rows = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.M))
    assert rows == example_names()


def test_env_example_copied_to_env_gives_the_defaults():
    """What .env.example says a variable's default is, the code takes when the variable is not set."""
    example = {k: v or "" for k, v in dotenv_values(ROOT / ".env.example").items()}
    from_example, defaults = Settings.from_env(example), Settings.from_env({})
    assert Path(from_example.database_path) == Path(defaults.database_path)
    assert from_example.__dict__ | {"database_path": defaults.database_path} == defaults.__dict__
