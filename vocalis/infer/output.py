"""Default ``output_fn`` for ASR: the dict whose fields become ``<field>.scp`` files."""

from __future__ import annotations

from typing import Any


def asr_output(data: dict, model_output: Any, idx: int) -> dict:
    """``{"utt_id", "hyp", "ref"}`` from a Speech2Text result ``{"text": ...}``.

    Other string fields of the dataset item (``speaker``, ``voice``, ...) are kept, so each
    becomes an scp file that metrics can group by (``group_by: speaker``).

    Beam search results also give ``score`` (the best hypothesis' search score), and with
    ``decode.nbest: N > 1`` every rank ``hyp_1best`` .. ``hyp_Nbest`` and ``score_1best`` ..
    ``score_Nbest`` (rank 1 repeats ``hyp``/``score``, so a script can loop over ranks as over
    ESPnet's ``<k>best_recog``). Score a rank with a second WER metric,
    ``{_target_: vocalis.metrics.wer.WER, hyp_key: hyp_2best, name: WER_2best}``, or rescore the
    lists. Missing ranks are empty with score ``-inf``.
    """
    out = {"utt_id": data["utt_id"], "hyp": model_output["text"], "ref": data.get("text", "")}
    if "score" in model_output:
        out["score"] = model_output["score"]
    texts, scores = model_output.get("nbest", []), model_output.get("nbest_scores", [])
    if len(texts) != len(scores):
        raise ValueError(f"{data['utt_id']}: the model returned {len(texts)} n-best texts but {len(scores)} "
                         "nbest_scores; they must pair up, one score per hypothesis")
    for rank, (text, score) in enumerate(zip(texts, scores), 1):
        out[f"hyp_{rank}best"], out[f"score_{rank}best"] = text, score
    for key, value in data.items():
        if isinstance(value, str) and key not in ("utt_id", "text"):
            if key in out:
                raise ValueError(f"{data['utt_id']}: dataset field {key!r} has the name of an output field of "
                                 "asr_output; rename it in the dataset, or write an output_fn of your own")
            out[key] = value
    return out
