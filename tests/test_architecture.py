"""The package's imports point one way, as the data flows: settings and errors → io → graphs → model →
training → apps → cli; no module imports itself back through others (no cycles, local imports included)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cgcnn"
LAYERS = ["errors", "config", "io", "graphs", "model", "training", "apps", "cli"]  # low to high


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set:
    """The cgcnn modules a file imports, anywhere in it (function-local imports included)."""
    name, found = module_name(path), set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("cgcnn"):
                submodules = {f"{base}.{a.name}" for a in node.names if _is_module(f"{base}.{a.name}")}
                # `from . import x` loads the submodule x; `from .pkg import y` runs pkg/__init__ too
                found.update(submodules if node.module is None else submodules | {base})
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cgcnn"))
    return found - {name}


def _is_module(name: str) -> bool:
    path = PACKAGE.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] == "__main__":
        return len(LAYERS)  # the package's public face sits on top
    return LAYERS.index(parts[1])


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down_the_flow(module):
    upward = sorted(m for m in GRAPH[module] if layer(m) > layer(module))
    assert not upward, f"{module} imports {upward} from a later stage"


def test_no_import_cycles():
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", "import cycle: " + " → ".join(path + [module])
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            if target in GRAPH:
                visit(target, path + [module])
        state[module] = "done"

    for module in sorted(GRAPH):
        visit(module, [])


def test_the_network_needs_only_torch_and_its_config():
    tree = ast.parse((PACKAGE / "model" / "network.py").read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names <= {"__future__", "typing", "torch", "torch.nn", "config", "layers"}, names


def test_only_the_command_line_prints():
    printing = [module_name(p) for p in PACKAGE.rglob("*.py") if p.name != "cli.py"
                and any(isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"
                        for n in ast.walk(ast.parse(p.read_text())))]
    assert not printing, f"{printing} print; the library logs instead"


def test_public_functions_are_typed():
    """Every public function and method says what it takes and returns (mypy checks the rest)."""
    untyped = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                args = [a for a in node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]
                if node.returns is None or any(a.annotation is None for a in args):
                    untyped.append(f"{module_name(path)}.{node.name}")
    assert not untyped, untyped
