"""ESPnet2's ``encoder_conf`` / ``decoder_conf`` / ``frontend_conf`` keys, read by the task bridge.

An ESPnet2 config describes the same conformer as Vocalis' with keys Vocalis does not take:
some choose what Vocalis builds in one fixed way (``macaron_style: true``, ``rel_pos_type:
latest``, ``normalize_before: true``), one picks the subsampling (``input_layer: conv2d6``).
:func:`translate_conf` lets such a config run unchanged where it asks for what Vocalis builds,
and says what Vocalis builds where it asks for something else, instead of failing on a key the
user copied from ESPnet with "has no argument".
"""

from __future__ import annotations

from typing import Any

from vocalis.config.schema import ConfigKeyError, suggest

# ESPnet2's input_layer -> subsampling_factor of Vocalis' Conv2dSubsampling
INPUT_LAYERS = {"conv2d": 4, "conv2d6": 6, "conv2d8": 8}

# keys whose only value Vocalis builds, per encoder / decoder choice (ESPnet2's names and values)
_PRE_NORM = {"normalize_before": True, "concat_after": False}
_REL_POS = {"pos_enc_layer_type": "rel_pos", "rel_pos_type": "latest"}
FIXED = {
    "transformer": {**_PRE_NORM, "positionwise_layer_type": "linear"},
    "conformer": {**_PRE_NORM, **_REL_POS, "selfattention_layer_type": "rel_selfattn", "macaron_style": True,
                  "activation_type": "swish", "use_cnn_module": True, "positionwise_layer_type": "linear"},
    "e_branchformer": {**_REL_POS, "attention_layer_type": "rel_selfattn", "use_linear_after_conv": False,
                       "gate_activation": "identity", "layer_drop_rate": 0.0, "positionwise_layer_type": "linear",
                       "use_ffn": True, "macaron_ffn": True},
    "decoder": {**_PRE_NORM, "input_layer": "embed", "use_output_layer": True},
}


def translate_conf(kind: str, name: str, conf: dict[str, Any], accepted: set[str] | None) -> dict[str, Any]:
    """``conf`` (``encoder_conf`` or ``decoder_conf``, ``kind`` says which) for Vocalis' ``name`` block.

    Drops ESPnet2 keys that ask for what Vocalis builds, maps ``input_layer`` to
    ``subsampling_factor`` and ``positional_dropout_rate`` to ``dropout_rate`` (Vocalis uses one
    rate for both), and raises :class:`ConfigKeyError` naming ``<kind>.<key>`` for anything else
    the block's constructor (``accepted``, its keyword names; None takes anything) does not take.
    """
    out = dict(conf)
    fixed = FIXED["decoder" if kind == "decoder_conf" else name]
    for key, built in fixed.items():
        if key in out:
            value = out.pop(key)
            if value != built:
                raise ConfigKeyError(f"{kind}.{key}: {value!r} is not built in: Vocalis' {name} "
                                     f"{'decoder' if kind == 'decoder_conf' else 'encoder'} is {key}: {built!r}; "
                                     "drop the key or set it to that value")
    if kind == "encoder_conf" and "input_layer" in out:
        out = _subsampling_from_input_layer(out)
    if "positional_dropout_rate" in out:
        rate, dropout = out.pop("positional_dropout_rate"), out.get("dropout_rate", 0.1)
        if rate != dropout:
            raise ConfigKeyError(f"{kind}.positional_dropout_rate: {rate} differs from dropout_rate {dropout}; "
                                 "Vocalis applies dropout_rate after the positional encoding too: drop the key "
                                 "or set both to one value")
    if accepted is not None:
        for key in out:
            if key not in accepted:
                raise ConfigKeyError(f"{kind}.{key}: Vocalis' {name} has no such setting"
                                     f"{suggest(key, sorted(accepted))}")
    return out


def _subsampling_from_input_layer(conf: dict[str, Any]) -> dict[str, Any]:
    layer = conf.pop("input_layer")
    if layer not in INPUT_LAYERS:
        raise ConfigKeyError(f"encoder_conf.input_layer: {layer!r} is not built in; choices: "
                             f"{', '.join(INPUT_LAYERS)} (or set subsampling_factor: 4, 6 or 8)")
    factor = INPUT_LAYERS[layer]
    if conf.get("subsampling_factor", factor) != factor:
        raise ConfigKeyError(f"encoder_conf.input_layer: {layer} means subsampling_factor {factor}, but "
                             f"subsampling_factor is {conf['subsampling_factor']}; keep one of the two")
    return {**conf, "subsampling_factor": factor}


def translate_frontend_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """ESPnet2's frontend sizes in samples (``fs``, ``win_length``, ``hop_length``, ``n_fft``) as
    the Kaldi fbank's (``sample_rate``, ``frame_length_ms``, ``frame_shift_ms``).

    ``n_fft`` must be the power of two the fbank rounds the window up to (512 for 400 samples);
    the fbank is Kaldi's (povey window, pre-emphasis), so features are not ESPnet's STFT
    frontend's bit for bit, but frame for frame.
    """
    out = dict(conf)
    if "fs" in out:
        out["sample_rate"] = out.pop("fs")
    rate = out.get("sample_rate", 16000)
    for samples_key, ms_key in (("win_length", "frame_length_ms"), ("hop_length", "frame_shift_ms")):
        if samples_key in out:
            if ms_key in out:
                raise ConfigKeyError(f"frontend_conf: give {samples_key} (samples) or {ms_key}, not both")
            out[ms_key] = 1000.0 * out.pop(samples_key) / rate
    if "n_fft" in out:
        n_fft = out.pop("n_fft")
        window = round(out.get("frame_length_ms", 25.0) * rate / 1000)
        padded = 1 << (window - 1).bit_length()
        if n_fft != padded:
            raise ConfigKeyError(f"frontend_conf.n_fft: {n_fft} is not built in: the fbank pads its {window}-sample "
                                 f"window to {padded} points; drop n_fft or set it to {padded}")
    return out
