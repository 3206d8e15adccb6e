"""Default ``output_fn`` for ASR: the dict whose fields become ``<field>.scp`` files."""

from __future__ import annotations

from typing import Any


def asr_output(data: dict, model_output: Any, idx: int) -> dict:
    """``{"utt_id", "hyp", "ref"}`` from a Speech2Text result ``{"text": ...}``.

    Other string fields of the dataset item (``speaker``, ``voice``, ...) are kept, so each
    becomes an scp file that metrics can group by (``group_by: speaker``).

    Beam search results also give ``score`` (the best hypothesis' score), and with
    ``decode.nbest: N > 1`` the ranks ``hyp_1best`` .. ``hyp_Nbest`` and ``score_1best`` ..
    ``score_Nbest`` (ESPnet's ``<k>best_recog``): score any rank with the WER metric's
    ``hyp_key: hyp_2best``, or rescore the lists. Missing ranks are empty with score ``-inf``.
    """
    labels = {k: v for k, v in data.items() if isinstance(v, str) and k not in ("utt_id", "text", "hyp", "ref")}
    out = {"utt_id": data["utt_id"], "hyp": model_output["text"], "ref": data.get("text", ""), **labels}
    if "score" in model_output:
        out["score"] = model_output["score"]
    for rank, (text, score) in enumerate(zip(model_output.get("nbest", []), model_output.get("nbest_scores", [])), 1):
        out[f"hyp_{rank}best"], out[f"score_{rank}best"] = text, score
    return out
