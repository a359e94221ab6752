"""The committed stubs (`anaf/_native.pyi`) against the native module: every class, function
and method on one side exists on the other with the same parameter names."""

from __future__ import annotations

import ast
import inspect
import pathlib
import sys

import anaf
from anaf import _native

STUB = pathlib.Path(__file__).resolve().parents[1] / "python" / "anaf" / "_native.pyi"


def stub_signatures() -> dict[str, list[str] | None]:
    """`Class.method` / `function` -> parameter names (None for properties and classes)."""
    found: dict[str, list[str] | None] = {}
    tree = ast.parse(STUB.read_text())

    def params(node: ast.FunctionDef) -> list[str]:
        a = node.args
        names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        return [n for n in names if n != "self"]

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = params(node)
        elif isinstance(node, ast.ClassDef):
            found[node.name] = None
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    is_property = any(isinstance(d, ast.Name) and d.id == "property" for d in item.decorator_list)
                    found[f"{node.name}.{item.name}"] = None if is_property else params(item)
    return found


def runtime_signatures() -> dict[str, list[str] | None]:
    found: dict[str, list[str] | None] = {}

    def params(obj: object) -> list[str]:
        return [p for p in inspect.signature(obj).parameters if p not in ("self", "cls", "$self", "$cls")]  # type: ignore[arg-type]

    for name, obj in vars(_native).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(obj):
            found[name] = None
            if issubclass(obj, BaseException):
                continue
            for member, value in vars(obj).items():
                if member.startswith("__") and member != "__init__":
                    continue
                if member == "__init__" or member == "__new__":
                    continue
                if isinstance(value, property) or type(value).__name__ == "getset_descriptor":
                    found[f"{name}.{member}"] = None
                else:
                    found[f"{name}.{member}"] = params(getattr(obj, member))
            if getattr(obj, "__text_signature__", None):
                found[f"{name}.__init__"] = params(obj)
        elif callable(obj):
            found[name] = params(obj)
    return found


def test_the_stubs_match_the_native_module() -> None:
    stub, runtime = stub_signatures(), runtime_signatures()
    # Constructors' signatures are visible only from Python 3.10 on (abi3 on 3.9 lacks them).
    for name in [k for k in stub if k.endswith(".__init__") and k not in runtime]:
        if sys.version_info < (3, 10):
            del stub[name]
    assert sorted(set(runtime) - set(stub)) == [], "in the module, not in the stubs"
    assert sorted(set(stub) - set(runtime)) == [], "in the stubs, not in the module"
    different = {k: (stub[k], runtime[k]) for k in stub if stub[k] != runtime[k]}
    assert different == {}


def test_the_package_exports_every_error_kind() -> None:
    kinds = [n for n in dir(_native) if n.endswith("Error") and n != "AnafError"]
    assert len(kinds) == 18
    assert all(getattr(anaf, n) is getattr(_native, n) for n in kinds)
