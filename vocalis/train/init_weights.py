"""Checkpoint reuse: the ``init:`` and ``freeze:`` blocks of training.yaml.

::

    init:
      sources:
        - path: ../pretrain/exp/training          # an experiment folder, .pth, .ckpt or .safetensors
          src_prefix: encoder.                    # take only these source weights ...
          dst_prefix: encoder.                    # ... and put them under this name
          include: ["*"]                          # fnmatch patterns on destination names
          exclude: ["*.ctc_head.*"]
          on_shape_mismatch: error                # or skip (e.g. a head whose vocabulary changed)
      expect_new: [ctc_head.*, decoder.output.*, decoder.embed.*]
    freeze: [encoder.subsampling.]

Every model parameter ends up in exactly one bucket of the load report: loaded, or new
(left as initialised). A new parameter that ``expect_new`` does not name is an error,
and so is a source weight that has nowhere to go (exclude it explicitly): reuse is never
silently partial.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vocalis.train.weights_io import read_weights

log = logging.getLogger(__name__)
SHAPE_POLICIES = ("error", "skip")


@dataclass
class InitReport:
    loaded: dict[str, str] = field(default_factory=dict)  # parameter -> source path
    excluded: list[str] = field(default_factory=list)  # source names dropped by include/exclude
    skipped_shape: dict[str, str] = field(default_factory=dict)  # parameter -> "src shape vs dst shape"
    new: list[str] = field(default_factory=list)  # left as initialised (all named by expect_new)

    def summary(self) -> str:
        lines = [f"loaded {len(self.loaded)}, excluded by rule {len(self.excluded)}, "
                 f"skipped for shape {len(self.skipped_shape)}, new {len(self.new)}"]
        lines += [f"  skipped (shape) {k}: {v}" for k, v in self.skipped_shape.items()]
        lines += [f"  new {k}" for k in self.new]
        return "\n".join(lines)

    def write(self, exp_dir: Path) -> None:
        exp_dir.mkdir(parents=True, exist_ok=True)
        (exp_dir / "init_report.json").write_text(json.dumps(self.__dict__, indent=1) + "\n", encoding="utf-8")
        (exp_dir / "init_report.txt").write_text(self.summary() + "\n", encoding="utf-8")


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _load_source(source: dict, k: int, targets: dict[str, torch.Tensor], report: InitReport,
                 recipe_dir: Path) -> dict[str, torch.Tensor]:
    where = f"init.sources[{k}]"
    unknown = set(source) - {"path", "src_prefix", "dst_prefix", "include", "exclude", "on_shape_mismatch"}
    if unknown:
        raise KeyError(f"{where}: unknown keys {sorted(unknown)}; allowed: path, src_prefix, dst_prefix, include, "
                       "exclude, on_shape_mismatch")
    if "path" not in source:
        raise KeyError(f"{where}: 'path' is required (an experiment folder or a weights file)")
    path = Path(source["path"])
    path = path if path.is_absolute() else recipe_dir / path
    src_prefix, dst_prefix = source.get("src_prefix", ""), source.get("dst_prefix", "")
    include, exclude = list(source.get("include") or ["*"]), list(source.get("exclude") or [])
    policy = source.get("on_shape_mismatch", "error")
    if policy not in SHAPE_POLICIES:
        raise ValueError(f"{where}.on_shape_mismatch: {policy!r} is not one of {SHAPE_POLICIES}")
    taken: dict[str, torch.Tensor] = {}
    nowhere, mismatched = [], []
    for name, value in read_weights(path).items():
        if not name.startswith(src_prefix):
            continue
        dst = dst_prefix + name[len(src_prefix):]
        if not _matches(dst, include) or _matches(dst, exclude):
            report.excluded.append(f"{path}:{name}")
        elif dst not in targets:
            nowhere.append(f"{name} -> {dst}")
        elif tuple(value.shape) != tuple(targets[dst].shape):
            mismatched.append((dst, f"{tuple(value.shape)} in {path.name} vs {tuple(targets[dst].shape)} in the model"))
        else:
            taken[dst] = value
    if nowhere:
        raise KeyError(f"{where}: {len(nowhere)} weights of {path} have no parameter in the model, e.g. "
                       f"{nowhere[:5]}; fix src_prefix/dst_prefix or add them to {where}.exclude")
    if mismatched and policy == "error":
        raise ValueError(f"{where}: shapes differ for {len(mismatched)} parameters, e.g. "
                         f"{[f'{n}: {s}' for n, s in mismatched[:5]]}; set {where}.on_shape_mismatch: skip and list "
                         "them in init.expect_new to re-initialise them (e.g. a head after a vocabulary change)")
    report.skipped_shape.update(dict(mismatched))
    if not taken:
        raise ValueError(f"{where}: nothing to load from {path} with src_prefix={src_prefix!r}, include={include}, "
                         f"exclude={exclude}")
    report.loaded.update({name: str(path) for name in taken})
    return taken


def apply_init(model: torch.nn.Module, init_cfg: Any, recipe_dir: str | Path = ".") -> InitReport:
    """Load the ``init.sources`` into ``model`` in order (later sources win) and check ``expect_new``."""
    init_cfg = dict(init_cfg or {})
    unknown = set(init_cfg) - {"sources", "expect_new"}
    if unknown:
        raise KeyError(f"init: unknown keys {sorted(unknown)}; init takes sources and expect_new")
    sources, expect_new = list(init_cfg.get("sources") or []), list(init_cfg.get("expect_new") or [])
    if not sources:
        raise ValueError("init: sources is empty; list at least one {path: ...} or remove the init block")
    targets = dict(model.state_dict())
    report = InitReport()
    state: dict[str, torch.Tensor] = {}
    for k, source in enumerate(sources):
        state.update(_load_source(dict(source), k, targets, report, Path(recipe_dir)))
    report.new = [name for name in targets if name not in state]
    unexpected = [name for name in report.new if not _matches(name, expect_new)]
    if unexpected:
        raise ValueError(f"init: {len(unexpected)} parameters would stay freshly initialised without being named "
                         f"in init.expect_new, e.g. {unexpected[:8]}; load them from a source or add patterns "
                         f"such as {sorted({n.rsplit('.', 1)[0] + '.*' for n in unexpected})[:4]} to init.expect_new")
    model.load_state_dict(state, strict=False)
    log.info("init: %s", report.summary())
    return report


def apply_freeze(model: torch.nn.Module, prefixes: list[str] | None) -> int:
    """Freeze parameters whose names start with any of ``prefixes``; returns how many tensors froze."""
    frozen = 0
    for prefix in prefixes or []:
        hits = [p for name, p in model.named_parameters() if name.startswith(prefix)]
        if not hits:
            names = sorted({n.split(".")[0] + "." for n, _ in model.named_parameters()})
            raise ValueError(f"freeze: no parameter name starts with {prefix!r}; top-level prefixes: {names}")
        for p in hits:
            p.requires_grad_(False)
        frozen += len(hits)
    return frozen
