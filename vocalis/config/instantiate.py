"""Build objects from ``_target_`` config nodes, with the keys checked first.

Hydra's own error for a misspelt constructor argument is a bare ``TypeError`` deep in a
traceback; here it names the config path, the class and the closest valid argument.
"""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_object, instantiate as hydra_instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from vocalis.config.schema import ConfigKeyError, suggest

_HYDRA_KEYS = {"_target_", "_recursive_", "_convert_", "_partial_", "_args_"}


def import_target(target: str, where: str) -> Any:
    """Import ``a.b.C``; a failure names the config path and how recipe code is found."""
    try:
        return get_object(target)
    except Exception as err:
        hint = ""
        if target.startswith(("src.", "dataset.")):
            hint = (" Recipe-local code is imported from the recipe folder: check that "
                    f"{target.rsplit('.', 1)[0].replace('.', '/')}.py exists there and imports cleanly.")
        raise ImportError(f"{where}: cannot import _target_ {target!r}: {err}.{hint}") from err


def accepted_kwargs(obj: Any) -> set[str] | None:
    """Keyword names ``obj`` accepts, or None when it takes ``**kwargs`` (anything goes)."""
    fn = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}


def check_target_kwargs(node: Any, where: str, extra: set[str] | frozenset[str] = frozenset()) -> None:
    """Check every ``_target_`` node under ``node`` against its callable's signature.

    ``extra`` names keyword arguments the caller will add itself (e.g. ``device``).
    """
    if isinstance(node, ListConfig):
        for i, item in enumerate(node):
            check_target_kwargs(item, f"{where}[{i}]")
        return
    if not isinstance(node, DictConfig) or node._is_none() or node._is_missing():
        return
    if "_target_" in node:
        target = import_target(str(node._target_), where)
        allowed = accepted_kwargs(target)
        if allowed is not None:
            known = sorted(allowed)
            for key in node.keys():
                if key in _HYDRA_KEYS or key in extra:
                    continue
                if key not in allowed:
                    raise ConfigKeyError(f"{where}.{key}: {node._target_} has no argument {key!r}{suggest(str(key), known)}")
    for key in node.keys():
        if key not in _HYDRA_KEYS:
            check_target_kwargs(node._get_node(key), f"{where}.{key}")


def instantiate(node: DictConfig | dict, where: str, **kwargs: Any) -> Any:
    """Check then build a ``_target_`` node; ``kwargs`` are passed on to the constructor."""
    if isinstance(node, dict):
        node = OmegaConf.create(node)
    if not isinstance(node, DictConfig) or "_target_" not in node:
        raise ConfigKeyError(f"{where}: expected a mapping with a _target_ (e.g. _target_: src.model.MyModel), found {node!r}")
    check_target_kwargs(node, where, extra=set(kwargs))
    if not kwargs:
        return hydra_instantiate(node, _convert_="all")
    # Runtime objects (configs, optimizers, params) are passed after Hydra has built the
    # node, so Hydra never tries to instantiate or convert them.
    return hydra_instantiate(node, _convert_="all", _partial_=True)(**kwargs)
