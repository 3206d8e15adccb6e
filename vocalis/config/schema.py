"""Reject config keys the toolkit does not know, with a "did you mean" suggestion.

ESPnet3 silently ignores a misspelt key (``trainer.max_epoch: 5`` trains 100 epochs).
Here the template *is* the schema:

- a key absent from the template is an error, unless its parent node is *open*;
- a node is open when the template leaves it empty (``{}``), ``null`` or ``???``
  (free-form kwargs such as ``create_dataset:``) or when it holds a ``_target_``
  (its keys are checked against the target's signature at instantiation, see
  :func:`vocalis.config.instantiate.check_target_kwargs`);
- entries of ``dataset.train|valid|test`` lists have a fixed set of keys.
"""

from __future__ import annotations

import difflib
from typing import Any

from omegaconf import DictConfig, ListConfig

DATASET_ENTRY_KEYS = {"name", "data_src", "data_src_args", "transform"}
DATASET_SPLITS = ("train", "valid", "test")
# Nodes whose keys beyond the template's are checked against a real signature.
SIGNATURE_NODES = {"trainer": "lightning.Trainer"}


class ConfigKeyError(KeyError):
    """An unknown or misplaced config key; the message says where and what was meant."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable
        return str(self.args[0])


def suggest(key: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known key, or the list of known keys."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known keys: {', '.join(sorted(known))})" if known else ""


def _is_open(template_node: Any) -> bool:
    if not isinstance(template_node, DictConfig):
        return True
    if template_node._is_none() or template_node._is_missing():
        return True
    return len(template_node) == 0 or "_target_" in template_node


def _check_dataset_entries(cfg: DictConfig, where: str) -> None:
    dataset = cfg.get("dataset")
    if not isinstance(dataset, DictConfig):
        return
    for split in DATASET_SPLITS:
        entries = dataset.get(split)
        if entries is None:
            continue
        if not isinstance(entries, ListConfig):
            raise ConfigKeyError(f"{where}: dataset.{split} must be a list of entries like "
                                 f"[{{data_src: ..., data_src_args: {{...}}}}], found {type(entries).__name__}")
        for i, entry in enumerate(entries):
            if not isinstance(entry, DictConfig):
                raise ConfigKeyError(f"{where}: dataset.{split}[{i}] must be a mapping with keys {sorted(DATASET_ENTRY_KEYS)}")
            for key in entry.keys():
                if key not in DATASET_ENTRY_KEYS:
                    raise ConfigKeyError(f"{where}: unknown key 'dataset.{split}[{i}].{key}'"
                                         f"{suggest(str(key), sorted(DATASET_ENTRY_KEYS))}")


def _check_node(cfg: DictConfig, template: DictConfig, prefix: str, where: str) -> None:
    known = [str(k) for k in template.keys()]
    for key in cfg.keys():
        key = str(key)
        path = f"{prefix}{key}"
        if key not in known:
            raise ConfigKeyError(f"{where}: unknown key '{path}'{suggest(key, known)}. "
                                 "Fix the spelling, or remove the key if it is not meant for Vocalis.")
        sub_cfg, sub_tpl = cfg._get_node(key), template._get_node(key)
        if isinstance(sub_cfg, DictConfig) and not sub_cfg._is_none() and not sub_cfg._is_missing():
            if "_target_" in sub_cfg or _is_open(sub_tpl):
                continue
            if path in SIGNATURE_NODES:
                _check_signature_node(sub_cfg, sub_tpl, path, where)
                continue
            _check_node(sub_cfg, sub_tpl, f"{path}.", where)


def _check_signature_node(cfg: DictConfig, template: DictConfig, path: str, where: str) -> None:
    """Keys the template lacks must be arguments of the class the node feeds (imported only then)."""
    extra = [str(k) for k in cfg.keys() if k not in template]
    if not extra:
        return
    from vocalis.config.instantiate import accepted_kwargs, import_target

    target = SIGNATURE_NODES[path]
    allowed = sorted(accepted_kwargs(import_target(target, path)) or [])
    for key in extra:
        if key not in allowed:
            raise ConfigKeyError(f"{where}: unknown key '{path}.{key}': {target} has no argument {key!r}"
                                 f"{suggest(key, allowed)}")


def check_unknown_keys(cfg: DictConfig, template: DictConfig, where: str) -> None:
    """Raise :class:`ConfigKeyError` for the first key of ``cfg`` the template does not know."""
    _check_node(cfg, template, "", where)
    _check_dataset_entries(cfg, where)
