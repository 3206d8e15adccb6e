"""The bundle's README.md: what the model is, how to run it, and its results table."""

from __future__ import annotations

import json
from typing import Any

from vocalis.metrics.report import format_results_table


def _results(request: Any) -> str:
    if request.metrics_file is None or not request.metrics_file.is_file():
        return "No results yet: run the measure stage before pack to include them.\n"
    return format_results_table(json.loads(request.metrics_file.read_text()))


def render_model_card(request: Any, exp_config: dict, model_node: dict, n_params: int, needs_src: bool) -> str:
    """Markdown model card of a bundle (see :mod:`vocalis.publish.pack` for ``request``)."""
    card = request.card
    title = card.get("name") or f"{request.recipe} ({exp_config.get('exp_tag', '')})"
    model = exp_config.get("model") or {}
    tokenizer = exp_config.get("tokenizer") or {}
    frontend = exp_config.get("frontend") or {}
    trust = ", trust_user_code=True" if needs_src else ""
    lines = [
        f"# {title}", "",
        card.get("description") or "", "",
        "## Model", "",
        f"- architecture: `{model.get('_target_', exp_config.get('task'))}`, {n_params / 1e6:.2f} M parameters",
        f"- input: {frontend.get('sample_rate', 16000)} Hz mono audio, frontend `{frontend.get('_target_')}`, "
        f"normalisation `{exp_config.get('normalize')}`",
        f"- tokenizer: sentencepiece {tokenizer.get('model_type')} ({tokenizer.get('vocab_size')} tokens)",
        f"- decoding: `{model_node.get('decode', 'ctc_greedy')}`",
        f"- recipe: `egs3/{request.recipe}`; weights from `{request.checkpoint.name}`",
        f"- licence: {card.get('license') or 'unspecified'}", "",
        "## Results", "",
        _results(request),
        "## Use", "",
        "```python",
        "from vocalis.publish import InferenceModel",
        "",
        f"model = InferenceModel.from_packed(\"path/to/this/folder\"{trust})",
        "print(model(\"speech.wav\")[\"text\"])",
        "```", "",
        "```bash",
        f"vocalis transcribe path/to/this/folder audio/ {'--trust_user_code' if needs_src else ''}".rstrip(),
        "```", "",
    ]
    if request.int8_ranges is not None:
        lines += ["On CPU, `dtype=\"int8\"` (CLI: `--dtype int8`) decodes with an int8 copy of the model, "
                  "quantized with the activation ranges in `int8_ranges.json` (recorded on the valid split when "
                  "it was packed); compare its WER with float32 on your own data first.", ""]
    if needs_src:
        lines += ["The model is defined by the recipe code in `src/`; loading it runs that code, so it is "
                  "refused unless you pass `trust_user_code=True`.", ""]
    lines += ["`meta.yaml` holds the sha256 of every file; loading checks them.", ""]
    return "\n".join(lines)
