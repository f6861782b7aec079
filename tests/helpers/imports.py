"""What a project module imports, read from its source (nothing is imported to find out)."""

import ast

from tests.helpers.sandbox import REPO_ROOT


def module_file(name):
    """The repository file of a dotted module name, or None if it is not part of the project."""
    path = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path):
    """lrstudy/data/fetch.py -> lrstudy.data.fetch; lrstudy/data/__init__.py -> lrstudy.data."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path):
    """Dotted names that a module imports (`from a.b import c` gives a.b and a.b.c)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def project_imports(path):
    """The project modules (files) a module imports directly, as dotted module names."""
    return {
        module_name(module_file(name))
        for name in imported_modules(path)
        if module_file(name) is not None
    }
