"""Default ``output_fn`` for ASR: the dict whose fields become ``<field>.scp`` files."""

from __future__ import annotations

from typing import Any


def asr_output(data: dict, model_output: Any, idx: int) -> dict:
    """``{"utt_id", "hyp", "ref"}`` from a Speech2Text result ``{"text": ...}``."""
    return {"utt_id": data["utt_id"], "hyp": model_output["text"], "ref": data.get("text", "")}
