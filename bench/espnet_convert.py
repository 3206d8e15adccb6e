"""Convert ESPnet2's transformer CTC/attention weights onto Vocalis' HybridCTCAttentionModel.

Used by bench_espnet.py to decode with identical weights on both sides (exact hypothesis
agreement). Bench code, not part of the vocalis package.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from vocalis.tasks.asr.hybrid_model import HybridCTCAttentionModel


# ----------------------------------------------------------------------------- weight conversion
def convert_espnet_state_dict(esp: dict[str, torch.Tensor], target: dict[str, torch.Tensor], num_blocks: int,
                              dec_blocks: int) -> dict[str, torch.Tensor]:
    """espnet2 ESPnetASRModel (transformer encoder/decoder, conv2d input layer) -> HybridCTCAttentionModel.

    ``target`` is the Vocalis model's state dict (to pick its encoder layout: Vocalis' own EncoderLayer
    with ``att.{q,k,v,out}``/``norm_att``/``norm_ff``, or the older ``nn.TransformerEncoderLayer`` with a
    fused ``in_proj``). Same architecture up to naming; the numerical mismatches are handled by
    :func:`match_espnet_numerics`. Every ESPnet parameter must be used (checked here) and every Vocalis
    tensor filled (checked by the caller's strict load).
    """
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    own_layer = "encoder.layers.0.att.q.weight" in target

    def take(src: str, dst: str) -> None:
        out[dst] = esp[src]
        used.add(src)

    for kind in ("weight", "bias"):
        take(f"encoder.embed.conv.0.{kind}", f"encoder.subsampling.conv.0.{kind}")
        take(f"encoder.embed.conv.2.{kind}", f"encoder.subsampling.conv.2.{kind}")
        out_src = f"encoder.embed.out.0.{kind}" if f"encoder.embed.out.0.{kind}" in esp else f"encoder.embed.out.{kind}"
        take(out_src, f"encoder.subsampling.out.{kind}")
        take(f"encoder.after_norm.{kind}", f"encoder.norm.{kind}" if own_layer else f"encoder.layers.norm.{kind}")
        take(f"decoder.after_norm.{kind}", f"decoder.norm.{kind}")
        take(f"decoder.output_layer.{kind}", f"decoder.output.{kind}")
        take(f"ctc.ctc_lo.{kind}", f"ctc_head.{kind}")
        for i in range(num_blocks):
            e = f"encoder.encoders.{i}"
            if own_layer:
                v = f"encoder.layers.{i}"
                for x in ("q", "k", "v", "out"):
                    take(f"{e}.self_attn.linear_{x}.{kind}", f"{v}.att.{x}.{kind}")
                take(f"{e}.feed_forward.w_1.{kind}", f"{v}.ff.0.{kind}")
                take(f"{e}.feed_forward.w_2.{kind}", f"{v}.ff.3.{kind}")
                take(f"{e}.norm1.{kind}", f"{v}.norm_att.{kind}")
                take(f"{e}.norm2.{kind}", f"{v}.norm_ff.{kind}")
            else:
                v = f"encoder.layers.layers.{i}"
                out[f"{v}.self_attn.in_proj_{kind}"] = torch.cat([esp[f"{e}.self_attn.linear_{x}.{kind}"] for x in "qkv"])
                used.update(f"{e}.self_attn.linear_{x}.{kind}" for x in "qkv")
                take(f"{e}.self_attn.linear_out.{kind}", f"{v}.self_attn.out_proj.{kind}")
                take(f"{e}.feed_forward.w_1.{kind}", f"{v}.linear1.{kind}")
                take(f"{e}.feed_forward.w_2.{kind}", f"{v}.linear2.{kind}")
                take(f"{e}.norm1.{kind}", f"{v}.norm1.{kind}")
                take(f"{e}.norm2.{kind}", f"{v}.norm2.{kind}")
        for i in range(dec_blocks):
            e, v = f"decoder.decoders.{i}", f"decoder.layers.{i}"
            for att_e, att_v in (("self_attn", "self_att"), ("src_attn", "src_att")):
                for x in ("q", "k", "v", "out"):
                    take(f"{e}.{att_e}.linear_{x}.{kind}", f"{v}.{att_v}.{x}.{kind}")
            take(f"{e}.feed_forward.w_1.{kind}", f"{v}.ff.0.{kind}")
            take(f"{e}.feed_forward.w_2.{kind}", f"{v}.ff.3.{kind}")
            for n, m in (("norm1", "norm_self"), ("norm2", "norm_src"), ("norm3", "norm_ff")):
                take(f"{e}.{n}.{kind}", f"{v}.{m}.{kind}")
    take("decoder.embed.0.weight", "decoder.embed.weight")
    left = [k for k in esp if k not in used and not k.startswith(("frontend.", "normalize."))]
    if left:
        raise KeyError(f"ESPnet tensors not converted: {left}")
    return out


def match_espnet_numerics(model: HybridCTCAttentionModel) -> list[str]:
    """Make the converted Vocalis model compute what ESPnet computes; returns what had to change.

    Mismatches found (the rest maps 1:1): torch's LayerNorm eps 1e-5 vs ESPnet's LayerNorm 1e-12
    (every norm), and, in the older Vocalis encoder built on nn.TransformerEncoderLayer, a GELU
    feed-forward where ESPnet's PositionwiseFeedForward uses ReLU.
    """
    changes = []
    for layer in getattr(getattr(model.encoder, "layers", None), "layers", []):
        if getattr(layer, "activation_relu_or_gelu", 1) != 1:
            layer.activation, layer.activation_relu_or_gelu = F.relu, 1
            changes.append("encoder FFN activation gelu -> relu")
    changes = sorted(set(changes))
    n = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.LayerNorm) and mod.eps != 1e-12:
            mod.eps = 1e-12
            n += 1
    if n:
        changes.append(f"LayerNorm eps 1e-5 -> 1e-12 ({n} norms, as ESPnet's LayerNorm)")
    return changes


# ----------------------------------------------------------------------------- decoding
