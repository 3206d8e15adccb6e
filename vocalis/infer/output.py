"""Default ``output_fn`` for ASR: the dict whose fields become ``<field>.scp`` files."""

from __future__ import annotations

from typing import Any


def asr_output(data: dict, model_output: Any, idx: int) -> dict:
    """``{"utt_id", "hyp", "ref"}`` from a Speech2Text result ``{"text": ...}``.

    Other string fields of the dataset item (``speaker``, ``voice``, ...) are kept, so each
    becomes an scp file that metrics can group by (``group_by: speaker``).
    """
    labels = {k: v for k, v in data.items() if isinstance(v, str) and k not in ("utt_id", "text", "hyp", "ref")}
    return {"utt_id": data["utt_id"], "hyp": model_output["text"], "ref": data.get("text", ""), **labels}
