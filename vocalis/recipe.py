"""A recipe folder (``egs3/<recipe>/<system>/``) and the code it owns.

A recipe's ``src/`` and ``dataset/`` are imported as the top-level packages ``src``
and ``dataset``, so ``_target_: src.model.MyModel`` works as on the ESPnet3 page.
Two recipes both own a package called ``src``; :func:`activate_recipe` therefore
puts the active recipe first on ``sys.path`` and forgets the previous one's modules.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

RECIPE_PACKAGES = ("src", "dataset")
_active: list[str] = []


def activate_recipe(recipe_dir: str | Path) -> Path:
    """Make ``recipe_dir``'s ``src`` and ``dataset`` packages importable (idempotent)."""
    recipe_dir = Path(recipe_dir).resolve()
    if not recipe_dir.is_dir():
        raise FileNotFoundError(f"recipe folder {recipe_dir} does not exist")
    path = str(recipe_dir)
    if _active and _active[0] == path and sys.path and sys.path[0] == path:
        return recipe_dir
    for previous in _active:
        while previous in sys.path:
            sys.path.remove(previous)
    _active[:] = [path]
    sys.path.insert(0, path)
    for name in list(sys.modules):
        if name.split(".")[0] in RECIPE_PACKAGES:
            del sys.modules[name]
    importlib.invalidate_caches()
    return recipe_dir


def _load_package_from_file(init_file: Path) -> ModuleType:
    """Import ``<folder>/__init__.py`` under a unique name so relative imports work."""
    digest = hashlib.sha1(str(init_file).encode()).hexdigest()[:10]
    name = f"_vocalis_data_src_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, init_file, submodule_search_locations=[str(init_file.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def load_data_module(data_src: str | None, recipe_dir: str | Path) -> ModuleType:
    """The module that exports ``Dataset`` (and ``DatasetBuilder``) for a ``data_src``.

    - omitted: this recipe's ``dataset/`` package;
    - ``<recipe>/<system>`` tag: ``egs3/<recipe>/<system>/dataset`` beside this recipe,
      else the installed ``egs3.<recipe>.<system>.dataset``;
    - a dotted module path: imported as is.
    """
    recipe_dir = Path(recipe_dir).resolve()
    if not data_src:
        activate_recipe(recipe_dir)
        if not (recipe_dir / "dataset" / "__init__.py").is_file():
            raise FileNotFoundError(f"{recipe_dir}/dataset/__init__.py is missing: a recipe without data_src "
                                    "must export Dataset (and DatasetBuilder) from its dataset/ package")
        return importlib.import_module("dataset")
    if "/" in data_src:
        sibling = recipe_dir.parent.parent / data_src / "dataset" / "__init__.py"
        if sibling.is_file():
            return _load_package_from_file(sibling)
        module_name = "egs3." + data_src.replace("/", ".").replace("-", "_") + ".dataset"
    else:
        module_name = data_src
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        raise ImportError(f"data_src {data_src!r}: cannot import {module_name} ({err}); use a "
                          "'<recipe>/<system>' tag of a recipe under egs3/, a dotted module path, "
                          "or omit data_src to use this recipe's dataset/ package") from err
