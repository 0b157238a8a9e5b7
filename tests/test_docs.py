"""Every command and Python example in the README and docs/ is checked against the code, so that a renamed
option or function breaks the build rather than the user: `cgcnn ...` lines must parse (they are not run),
Python blocks must compile, name only what `cgcnn` has and call it with arguments it takes."""

import ast
import inspect
import re
import shlex
from pathlib import Path

import pytest

import cgcnn
from cgcnn.cli import parse

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(bash|python)\n(.*?)```", re.S)


def blocks(language):
    for page in PAGES:
        for kind, body in FENCE.findall(page.read_text()):
            if kind == language:
                yield page.name, body


def commands():
    for page, body in blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if "-m cgcnn " in line:
                line = "cgcnn " + line.split("-m cgcnn ", 1)[1]
            # a synopsis: optional parts in brackets, "..." for more of the same
            line = re.sub(r"\s*\[options\]|\s*\.\.\.", "", line).replace("[", "").replace("]", "")
            if line.startswith("cgcnn ") and line.split()[1:] != ["train"]:
                yield pytest.param(line, id=f"{page}: {line[:60]}")


@pytest.mark.parametrize("line", list(commands()))
def test_documented_command_lines_parse(line, monkeypatch):
    monkeypatch.chdir(ROOT)  # recipes are named relative to the repository
    parse(shlex.split(line)[1:])  # exits on an error


@pytest.mark.parametrize("page,body", list(blocks("python")), ids=lambda v: v if isinstance(v, str) and
                         v.endswith(".md") else "")
def test_documented_python_uses_what_cgcnn_has(page, body):
    tree = ast.parse(body)  # compiles
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cgcnn":
            assert hasattr(cgcnn, node.attr), f"{page}: cgcnn.{node.attr} does not exist"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                isinstance(node.func.value, ast.Name) and node.func.value.id == "cgcnn":
            signature = inspect.signature(getattr(cgcnn, node.func.attr))
            keywords = {k.arg: None for k in node.keywords if k.arg}
            signature.bind_partial(*([None] * len(node.args)), **keywords)  # raises on an unknown argument
