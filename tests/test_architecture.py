"""The package's layering, read from its own imports (every import: at the top, inside functions and
under ``TYPE_CHECKING``).

Layers, lowest first; a module imports only from its own layer or those below, and no two modules
import each other, directly or around a circle. The layers above the Tensor import from the others
only their public API: what a package or module lists in ``__all__`` (for ``tapegrad.ops``, whose
modules are all public, any name without a leading underscore), never a package's inner module.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import tapegrad

PACKAGE = Path(tapegrad.__file__).parent

#: Lowest first. A unit is a subpackage or a top-level module of tapegrad.
LAYERS = [
    ["errors"],
    ["ops"],
    ["engine", "dtypes"],
    ["tensor", "creation", "functions", "serialization", "fft"],  # the Tensor, and the functions made of it
    ["autograd", "scipy"],  # scipy: SciPy's functions on Tensors (issue 15)
    ["compile"],
    # distributed: data-parallel training over MPI (issue 16); func: torch.func's names, functional_call (issue 17)
    ["nn", "optim", "data", "distributed", "func"],
    ["viz", "cli"],
    ["__init__", "__main__"],
]
LAYER_OF = {unit: depth for depth, units in enumerate(LAYERS) for unit in units}
ABOVE_THE_TENSOR = LAYER_OF["autograd"]
OPEN_PACKAGES = {"ops"}  # every module of it is public


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """Every ``(imported module, names, line)`` of ``module`` inside tapegrad, relative imports resolved."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("tapegrad"):
                continue
            names = [alias.name for alias in node.names]
            # ``from .viz import explain`` names the function that tapegrad.viz exports, not its module.
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES
                          and inspect.ismodule(getattr(importlib.import_module(target), n, None))]
            if submodules and len(submodules) == len(names):  # from . import a, b: modules
                found.extend((sub, [], node.lineno) for sub in submodules)
            else:
                found.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names if alias.name.startswith("tapegrad"))
    return found


def test_every_module_has_a_layer():
    assert not [m for m in MODULES if _unit(m) not in LAYER_OF]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    here = LAYER_OF[_unit(module)]
    upward = [(target, line) for target, _, line in _imports(module)
              if target != "tapegrad" and LAYER_OF[_unit(target)] > here]
    assert not upward, f"{module} imports from a higher layer: {upward}"


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}
    # A package's __init__ re-exports its modules; importing the package from outside is importing them.
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import cycles: {cycles}"


def _public(target: str) -> set[str] | None:
    """The public names of module ``target`` (None: every name without a leading underscore)."""
    if _unit(target) in OPEN_PACKAGES:
        return None
    namespace: dict = {}
    tree = ast.parse(MODULES[target].read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            namespace["__all__"] = ast.literal_eval(node.value)
        # issue 16: names added later (``__all__ += [...]``, as packages extended by several issues do)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
            namespace["__all__"] = [*namespace.get("__all__", ()), *ast.literal_eval(node.value)]
    return set(namespace.get("__all__", ()))


@pytest.mark.parametrize("module", sorted(m for m in MODULES if LAYER_OF[_unit(m)] >= ABOVE_THE_TENSOR))
def test_the_layers_above_the_tensor_use_only_public_api(module):
    private = []
    for target, names, line in _imports(module):
        if _unit(target) == _unit(module) or target == "tapegrad" or _unit(module) == "__init__":
            continue  # its own package
        inner = target.count(".") > 1 and _unit(target) not in OPEN_PACKAGES
        if inner:
            private.append((line, f"{target} is an inner module of tapegrad.{_unit(target)}"))
            continue
        public = _public(target)
        for name in names:
            if name.startswith("_") or (public is not None and name not in public):
                private.append((line, f"{target}.{name}"))
    assert not private, f"{module} uses what is not public API: {private}"


def _bound_names(module: str) -> dict[str, str]:
    """The names ``module`` binds by importing from another unit of tapegrad: local name -> the
    qualified object (``tapegrad.nn`` for ``from .. import nn``; ``tapegrad.tensor.Tensor`` for
    ``from ..tensor import Tensor``)."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    bound = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                if _unit(target) != _unit(module):
                    bound[alias.asname or alias.name] = f"{target}.{alias.name}"
    return bound


@pytest.mark.parametrize("module", sorted(m for m in MODULES if LAYER_OF[_unit(m)] >= ABOVE_THE_TENSOR
                                          and _unit(m) != "__init__"))
def test_the_layers_above_the_tensor_reach_no_private_or_inner_name_through_attributes(module):
    """``nn.layers.X`` (an inner module reached through its package) and ``Tensor._make`` (a private
    attribute of another unit's object) break the public-API rule as an import would."""
    bound = _bound_names(module)
    private = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if not isinstance(node, ast.Attribute):
            continue
        chain = []
        value = node
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if not isinstance(value, ast.Name) or value.id not in bound:
            continue
        chain.reverse()
        qualified = bound[value.id]
        if chain[0].startswith("_") and not chain[0].startswith("__"):
            private.append((node.lineno, f"{qualified}.{chain[0]}"))
            continue
        if qualified in MODULES and f"{qualified}.{chain[0]}" in MODULES and isinstance(node.value, ast.Name):
            inner = f"{qualified}.{chain[0]}"
            exported = _public(qualified) or ()
            if inner.count(".") > 1 and _unit(inner) not in OPEN_PACKAGES and chain[0] not in exported:
                private.append((node.lineno, f"{inner} is an inner module of tapegrad.{_unit(inner)}"))
    assert not private, f"{module} reaches what is not public API: {sorted(set(private))}"
