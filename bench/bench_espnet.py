"""Vocalis vs ESPnet (espnet 202611) side by side in one run: training speed, beam-10 joint
CTC/attention decoding speed with hypothesis agreement on the same weights, CTC greedy speed.

    python bench/bench_espnet.py                       # full run (sets up the ESPnet venv if missing)
    python bench/bench_espnet.py --train-steps 40 --test-utts 40   # quick
    python bench/bench_espnet.py --skip-espnet         # reuse the cached ESPnet results

Model (both sides, the baseline of /work/shared/reference/espnet3-baseline.md): transformer encoder
256-d, 4 heads, 1024 units, 6 blocks, conv2d x4 subsampling; transformer decoder 3 blocks, 1024 units;
ctc_weight 0.3, lsm_weight 0.1; 80-dim fbank + utterance MVN; Adam 1e-3, WarmupLR(100), clip 1.0;
batches of 16 utterances sorted by duration, in a seeded shuffled order, the same batches on both sides.

ESPnet runs in its own Python 3.12 venv (``~/.cache/vocalis-bench/espnet-venv``; never a Vocalis
dependency) as a subprocess: ``bench/espnet_driver.py`` builds espnet2's ESPnetASRModel through
ASRTask's argument parser and decodes with espnet2's ``Speech2Text``. Vocalis runs in this interpreter.
The two take turns (chunks of training steps, chunks of test utterances) so load from other users of
the shared cores hits both alike.

1. Training utt/s: 16 / median step time over the steady-state steps (the first ``--warmup-steps``
   are skipped). A step is forward + backward + clip + optimizer step, with the feature extraction
   inside it on both sides (ESPnet's frontend runs in the model; Vocalis' Kaldi fbank + MVN is timed
   as part of the step). Audio is read before the clock starts.
2. Beam 10, ctc_weight 0.3: ESPnet's ``Speech2Text`` (BatchBeamSearch, batch 1) vs Vocalis'
   ``beam_search`` on the ESPnet-trained weights converted to ``HybridCTCAttentionModel``
   (:func:`convert_espnet_state_dict`) and fed ESPnet's own frontend features, so the hypotheses
   can agree exactly. Vocalis' fbank is still computed (and timed) on every waveform so its RTF
   pays for a frontend too. Agreement = identical token sequences. Reported for Vocalis batch 1
   and batch ``--decode-batch``, and last at batch 1 with ``model.dtype: int8``'s model (its
   conv-front ranges from the encoder on the first 16 test utterances, where ``model.dtype: int8``
   takes 32 of the valid split; the agreement shows what int8 changes).
3. CTC greedy: Vocalis' own trained model (its own fbank), batches of 16 sorted by duration,
   the best of 3 passes; in float32, as ``model.dtype: int8`` decodes it
   (:mod:`vocalis.infer.int8`, conv-front ranges from 32 training utterances), and as
   ``model.dtype: bfloat16`` does (autocast; fast on CPUs with AMX).
4. Training again under bf16 autocast, last (``--bf16-steps`` of the same batches, both sides, as
   Lightning's ``precision: bf16-mixed`` runs a step; run before part 3, it slowed the float32
   greedy timing by ~8 %). The float32 row is the like-for-like goal; this row shows whether the
   lead holds where both sides use the CPU's bfloat16 units.

Writes the table as JSON to ``--json`` (default ``~/.cache/vocalis-bench/bench_espnet.json``); ESPnet's
results are cached in ``~/.cache/vocalis-bench/espnet_results.json`` (+ ``espnet-work/``) for --skip-espnet.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import time
from pathlib import Path

import torch

from vocalis.cpu_bfloat16 import has_bfloat16_arithmetic
from vocalis.data.audio import load_audio
from vocalis.data.manifest import read_manifest
from vocalis.data.tokenizer import Tokenizer, train_sentencepiece
from vocalis.decode.beam_search import BeamSearchOptions
from vocalis.metrics.alignment import edit_distance

from espnet_convert import convert_espnet_state_dict, match_espnet_numerics  # noqa: E402 (bench/ sibling)
from espnet_venv import CACHE, HERE, EspnetProcess, ensure_espnet_venv  # noqa: E402
from vocalis_side import (BATCH, DEC, ENC, FRONTEND, LR, MODEL_CONF, WARMUP,  # noqa: E402
                          VocalisFrontend, VocalisTrainer, best_greedy, build_vocalis, int8_copy,
                          vocalis_beam, vocalis_ctc_greedy)

DIGITS_DATA = HERE.parent / "egs3" / "digits" / "asr" / "data"


# ----------------------------------------------------------------------------- data
def load_corpus(data: Path, cache: Path) -> tuple[list[dict], list[dict], Tokenizer]:
    train, test = (read_manifest(data / "manifest" / f"{s}.tsv") for s in ("train", "test"))
    tok_dir = data / "tokenizer" / "bpe_30"
    if not (tok_dir / "tokenizer.model").is_file():
        tok_dir = cache / "tokenizer"
        if not (tok_dir / "tokenizer.model").is_file():
            print(f"[data] no tokenizer in {data}/tokenizer/bpe_30: training a bpe-30 one into {tok_dir}")
            train_sentencepiece([r["text"] for r in train], tok_dir, 30, "bpe")
    return train, test, Tokenizer.from_dir(tok_dir)


def make_batches(train: list[dict], tokenizer: Tokenizer, steps: int, seed: int = 0) -> list[list[dict]]:
    """ESPnet's ``sorted`` batches: utterances sorted by duration, cut into 16s, batch order shuffled per epoch."""
    rows = sorted(train, key=lambda r: (float(r["duration"]), r["utt_id"]))
    chunks = [rows[i:i + BATCH] for i in range(0, len(rows) - BATCH + 1, BATCH)]
    rng, out = random.Random(seed), []
    while len(out) < steps:
        order = list(range(len(chunks)))
        rng.shuffle(order)
        out += [chunks[i] for i in order]
    return [[{"utt_id": r["utt_id"], "path": r["path"], "ids": tokenizer.encode(r["text"])} for r in b]
            for b in out[:steps]]


# ----------------------------------------------------------------------------- training in turns
def interleaved_training(esp: "EspnetProcess | None", esp_res: dict, key: str, voc: VocalisTrainer,
                         batches: list[list[dict]], chunk_steps: int, bf16: bool = False) -> tuple[list, list]:
    """Both sides train on the same batches in turns of ``chunk_steps``; ESPnet's step times and
    losses go to ``esp_res[key + "_times" / "_losses"]`` (kept there when ``esp`` is None: cached);
    returns Vocalis' ``(times, losses)``."""
    esp_res.setdefault(f"{key}_times", [])
    esp_res.setdefault(f"{key}_losses", [])
    voc_times, voc_losses = [], []
    t0 = time.time()
    for i in range(0, len(batches), chunk_steps):
        chunk = batches[i:i + chunk_steps]
        if esp is not None:
            r = esp.call("train", batches=[[{"path": u["path"], "ids": u["ids"]} for u in b] for b in chunk],
                         bf16=bf16)
            esp_res[f"{key}_times"] += r["times"]
            esp_res[f"{key}_losses"] += r["losses"]
        r = voc.train(chunk, bf16=bf16)
        voc_times += r["times"]
        voc_losses += r["losses"]
        k = len(voc_times)
        esp_t = esp_res[f"{key}_times"][k - len(chunk):k]
        print(f"[{key}] steps {k:4d}/{len(batches)}  espnet {statistics.median(esp_t):.3f} s/step "
              f"loss {esp_res[f'{key}_losses'][k - 1]:.1f}  |  vocalis {statistics.median(r['times']):.3f} s/step "
              f"loss {voc_losses[-1]:.1f}  ({time.time() - t0:.0f} s)", flush=True)
    return voc_times, voc_losses


def machine() -> str:
    """CPU model, the vector ISA torch dispatches to and whether it multiplies bfloat16 natively:
    the ratios and the bf16 rows move with them (AVX2 vs AVX-512, emulated vs native bfloat16)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    bf16 = {True: "native", False: "emulated", None: "unknown"}[has_bfloat16_arithmetic()]
    return f"{model}, torch CPU capability {torch.backends.cpu.get_cpu_capability()}, bfloat16 {bf16}"


def wer(refs: dict[str, str], hyps: dict[str, str]) -> float:
    errs = sum(edit_distance(refs[u].split(), hyps[u].split()) for u in hyps)
    return 100.0 * errs / max(1, sum(len(refs[u].split()) for u in hyps))


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DIGITS_DATA), help="built digits data folder (read only)")
    parser.add_argument("--train-steps", type=int, default=150, help="training steps per side (the decode model "
                        "is ESPnet's after these steps)")
    parser.add_argument("--warmup-steps", type=int, default=10, help="first steps left out of the timing")
    parser.add_argument("--chunk", type=int, default=10, help="steps per turn when interleaving the two sides")
    parser.add_argument("--test-utts", type=int, default=100)
    parser.add_argument("--decode-chunk", type=int, default=25, help="test utterances per turn")
    parser.add_argument("--decode-batch", type=int, default=8, help="Vocalis beam-search batch (besides batch 1)")
    parser.add_argument("--bf16-steps", type=int, default=40, help="steps per side trained again under bf16 "
                        "autocast, as Lightning's precision: bf16-mixed (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-espnet", action="store_true", help="reuse cached ESPnet results")
    parser.add_argument("--espnet-venv", type=Path, default=CACHE / "espnet-venv")
    parser.add_argument("--json", type=Path, default=CACHE / "bench_espnet.json")
    args = parser.parse_args()
    if 0 < args.bf16_steps <= args.warmup_steps:
        parser.error(f"--bf16-steps {args.bf16_steps} leaves no steps to time past --warmup-steps "
                     f"{args.warmup_steps}: pass more, or 0 to skip")

    torch.set_num_threads(args.threads)
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / "espnet-work"
    esp_cache = CACHE / "espnet_results.json"
    if not (Path(args.data) / "manifest" / "train.tsv").is_file():
        raise SystemExit(f"no digits corpus in {args.data}: build it with `python egs3/digits/asr/run.py --stages "
                         "create_dataset` (about 80 s) or pass --data")
    train, test, tokenizer = load_corpus(Path(args.data), CACHE)
    vocab = tokenizer.vocab_size
    batches = make_batches(train, tokenizer, args.train_steps)
    test = test[: args.test_utts]
    refs = {r["utt_id"]: r["text"] for r in test}
    setting = {"data": str(Path(args.data).resolve()), "train_steps": args.train_steps, "test_utts": len(test),
               "threads": args.threads, "batches": [[u["utt_id"] for u in b] for b in batches[:3]]}

    esp = None
    if args.skip_espnet:
        if not esp_cache.is_file():
            raise SystemExit(f"--skip-espnet: no cached ESPnet results at {esp_cache}; run once without it")
        esp_res = json.loads(esp_cache.read_text())
        if esp_res["setting"] != setting:
            print(f"[warn] cached ESPnet results were made with another setting: {esp_res['setting'] | {'batches': '...'}}")
        print(f"[espnet] reusing cached results from {esp_cache} (measured {esp_res['when']})")
    else:
        python = ensure_espnet_venv(args.espnet_venv)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        esp = EspnetProcess(python, args.threads, CACHE / "espnet_driver.log")
        info = esp.call("init", work=str(work), token_list=tokenizer.token_list, threads=args.threads, seed=0,
                        frontend_conf=FRONTEND, encoder_conf=ENC, decoder_conf=DEC, model_conf=MODEL_CONF, lr=LR,
                        warmup_steps=WARMUP)
        esp_res = {"setting": setting, "when": time.strftime("%Y-%m-%d %H:%M"), "espnet": info["espnet"],
                   "torch": info["torch"], "params": info["params"], "train_times": [], "train_losses": [],
                   "decode": []}
        print(f"[espnet] espnet {info['espnet']}, torch {info['torch']}, {info['params']:,} parameters, "
              f"{info['threads']} threads")

    voc = VocalisTrainer(vocab)
    n_voc = sum(p.numel() for p in voc.model.parameters() if p.requires_grad)
    cpu = machine()
    print(f"[vocalis] torch {torch.__version__}, {n_voc:,} parameters, {torch.get_num_threads()} threads; {cpu}")

    # 1. training, interleaved chunks over the same batches
    voc_times, voc_losses = interleaved_training(esp, esp_res, "train", voc, batches, args.chunk)
    w = args.warmup_steps
    esp_step = statistics.median(esp_res["train_times"][w:len(batches)])
    voc_step = statistics.median(voc_times[w:])
    paired = statistics.median(e / v for e, v in zip(esp_res["train_times"][w:], voc_times[w:]))

    # 2. beam 10 on the same (converted) weights, interleaved chunks of test utterances
    items = [{"utt_id": r["utt_id"], "path": r["path"], "wave": torch.from_numpy(load_audio(r["path"], 16000)[0])}
             for r in test]
    audio_s = sum(len(it["wave"]) for it in items) / 16000
    if esp is not None:
        esp.call("save")
    conv = build_vocalis(vocab)
    state = convert_espnet_state_dict(torch.load(work / "model.pth", map_location="cpu", weights_only=True),
                                      conv.state_dict(), ENC["num_blocks"], DEC["num_blocks"])
    conv.load_state_dict(state, strict=True)
    changes = match_espnet_numerics(conv)
    conv.eval()
    opts = BeamSearchOptions(beam_size=10, ctc_weight=0.3)
    frontend = VocalisFrontend()
    voc_b1_s = voc_bn_s = voc_q_s = 0.0
    voc_b1, voc_bn, voc_q, enc_diff = {}, {}, {}, 0.0
    for i in range(0, len(items), args.decode_chunk):
        chunk = items[i:i + args.decode_chunk]
        feats_file = work / f"feats_{i}.pt"
        if esp is not None:
            r = esp.call("decode", utts=[{"utt_id": it["utt_id"], "path": it["path"]} for it in chunk],
                         beam_size=10, ctc_weight=0.3, dump_feats=str(feats_file),
                         bpemodel=str(tokenizer.model_file))
            esp_res["decode"] += r["utts"]
        dumped = torch.load(feats_file, map_location="cpu", weights_only=True)
        for it in chunk:
            it["esp_feats"] = dumped[it["utt_id"]]["feats"]
        with torch.inference_mode():  # conversion check: encoder outputs on the same inputs
            for it in chunk[:3]:
                f = it["esp_feats"][None]
                enc, _ = conv.encode(f, torch.tensor([f.shape[1]]))
                enc_diff = max(enc_diff, float((enc[0] - dumped[it["utt_id"]]["enc"]).abs().max()))
        if i == 0:
            vocalis_beam(conv, chunk[:2], 1, frontend, opts, True)  # warm-up
        s, h = vocalis_beam(conv, chunk, 1, frontend, opts, True)
        voc_b1_s, voc_b1 = voc_b1_s + s, voc_b1 | h
        s, h = vocalis_beam(conv, chunk, args.decode_batch, frontend, opts, True)
        voc_bn_s, voc_bn = voc_bn_s + s, voc_bn | h
        if i == 0:  # model.dtype: int8's copy; conv-front ranges from the encoder on 16 test utterances
            def encode_some(model: torch.nn.Module, some: list[dict] = chunk[:16]) -> None:
                for it in some:
                    model.encode(it["esp_feats"][None], torch.tensor([len(it["esp_feats"])]))

            conv_int8 = int8_copy(conv, encode_some)
            vocalis_beam(conv_int8, chunk[:2], 1, frontend, opts, True)  # warm-up
        s, h = vocalis_beam(conv_int8, chunk, 1, frontend, opts, True)
        voc_q_s, voc_q = voc_q_s + s, voc_q | h
        done = esp_res["decode"][: i + len(chunk)]
        print(f"[decode] {i + len(chunk):4d}/{len(items)} utts  espnet RTF "
              f"{sum(d['time'] for d in done) / sum(d['audio_s'] for d in done):.4f}  |  vocalis b1 RTF "
              f"{voc_b1_s / sum(len(it['wave']) for it in items[:i + len(chunk)]) * 16000:.4f}", flush=True)
    if esp is not None:  # the float32 results are cached before the bf16 part can fail
        esp_cache.write_text(json.dumps(esp_res))
    esp_dec = {d["utt_id"]: d for d in esp_res["decode"]}
    esp_time = sum(esp_dec[u]["time"] for u in refs)
    esp_rtf = esp_time / audio_s
    agree_b1 = sum(voc_b1[u] == esp_dec[u]["ids"] for u in refs) / len(refs)
    agree_bn = sum(voc_bn[u] == esp_dec[u]["ids"] for u in refs) / len(refs)
    agree_q = sum(voc_q[u] == esp_dec[u]["ids"] for u in refs) / len(refs)
    esp_wer = wer(refs, {u: esp_dec[u]["text"] for u in refs})
    conv_wer = wer(refs, {u: tokenizer.decode(voc_b1[u]) for u in refs})

    # 3. Vocalis' own model: CTC greedy speed (+ beam WER at the same training budget)
    own = voc.model.eval()
    calibration = [{"utt_id": u["utt_id"], "wave": voc.wave(u["path"])} for b in batches[:2] for u in b]
    own_int8 = int8_copy(own, lambda m: vocalis_ctc_greedy(m, calibration, 16, frontend))
    greedy_rtf, greedy = best_greedy(own, items, frontend, audio_s)
    int8_rtf, greedy_int8 = best_greedy(own_int8, items, frontend, audio_s)
    bf16_rtf, greedy_bf16 = best_greedy(own, items, frontend, audio_s, torch.bfloat16)
    bf16_same = sum(greedy[u] == greedy_bf16[u] for u in refs) / len(refs)
    bf16_wer = wer(refs, {u: tokenizer.decode(greedy_bf16[u]) for u in refs})
    int8_same = sum(greedy[u] == greedy_int8[u] for u in refs) / len(refs)
    int8_wer = wer(refs, {u: tokenizer.decode(greedy_int8[u]) for u in refs})
    own_s, own_hyps = vocalis_beam(own, items, args.decode_batch, frontend, opts, False)
    own_wer = wer(refs, {u: tokenizer.decode(own_hyps[u]) for u in refs})
    greedy_wer = wer(refs, {u: tokenizer.decode(greedy[u]) for u in refs})

    # 4. training under bf16 autocast on both sides, last: run before part 3, it slowed the float32
    # greedy timing by ~8 % (0.0048 -> 0.0052 RTF)
    bf16, steps = None, batches[:args.bf16_steps]
    if steps and esp is None and len(esp_res.get("train_bf16_times", [])) < len(steps):
        print(f"[train_bf16] skipped: the cached ESPnet results hold fewer than {len(steps)} bf16 steps")
    elif steps:
        voc_bf16, _ = interleaved_training(esp, esp_res, "train_bf16", voc, steps, args.chunk, True)
        esp_bf16 = esp_res["train_bf16_times"][w:len(steps)]
        bf16 = {"espnet": BATCH / statistics.median(esp_bf16), "vocalis": BATCH / statistics.median(voc_bf16[w:]),
                "paired_median_ratio": statistics.median(e / v for e, v in zip(esp_bf16, voc_bf16[w:])),
                # each side's bf16 step against its own float32 step on the same batch
                "espnet_speedup": statistics.median(
                    f / b for f, b in zip(esp_res["train_times"][w:len(steps)], esp_bf16)),
                "vocalis_speedup": statistics.median(f / b for f, b in zip(voc_times[w:len(steps)], voc_bf16[w:])),
                "steps": len(steps)}
        bf16["ratio"] = bf16["vocalis"] / bf16["espnet"]
    if esp is not None:
        esp.close()
        esp_cache.write_text(json.dumps(esp_res))
    table = {
        "setting": {**setting, "batches": f"{len(batches)} sorted batches of {BATCH}", "audio_s": round(audio_s, 1),
                    "espnet": esp_res["espnet"], "espnet_torch": esp_res["torch"], "vocalis_torch": torch.__version__,
                    "machine": cpu,
                    "params": {"espnet": esp_res["params"], "vocalis": n_voc}, "espnet_measured": esp_res["when"],
                    "conversion": {"changes_to_vocalis_model": changes, "max_abs_encoder_diff": enc_diff}},
        "train_utt_per_s": {"espnet": BATCH / esp_step, "vocalis": BATCH / voc_step, "ratio": esp_step / voc_step,
                            "paired_median_ratio": paired, "goal": ">= 1.5",
                            "final_loss": {"espnet": esp_res["train_losses"][len(batches) - 1], "vocalis": voc_losses[-1]}},
        "train_bf16_utt_per_s": bf16,
        "beam10_rtf": {"espnet": esp_rtf, "vocalis_b1": voc_b1_s / audio_s, f"vocalis_b{args.decode_batch}": voc_bn_s / audio_s,
                       "ratio_b1": esp_rtf / (voc_b1_s / audio_s), f"ratio_b{args.decode_batch}": esp_rtf / (voc_bn_s / audio_s),
                       "goal": ">= 5", "agreement_b1": agree_b1, f"agreement_b{args.decode_batch}": agree_bn,
                       "vocalis_b1_int8": voc_q_s / audio_s, "ratio_b1_int8": esp_rtf / (voc_q_s / audio_s),
                       "agreement_b1_int8": agree_q,
                       "wer_espnet": esp_wer, "wer_vocalis_converted": conv_wer,
                       "wer_vocalis_own_model_same_budget": own_wer},
        "ctc_greedy_rtf": {"vocalis_b16": greedy_rtf, "vocalis_b16_int8": int8_rtf, "vocalis_b16_bf16": bf16_rtf,
                           "goal": "<= 0.005", "wer_vocalis_own_model": greedy_wer, "wer_int8": int8_wer,
                           "int8_same_hypotheses": int8_same, "wer_bf16": bf16_wer, "bf16_same_hypotheses": bf16_same,
                           "timing": "best of 3 passes"},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(table, indent=1))

    tr, bm = table["train_utt_per_s"], table["beam10_rtf"]
    nb = args.decode_batch
    print()
    print(f"Vocalis vs ESPnet {esp_res['espnet']} | {args.threads} threads | {args.train_steps} train steps "
          f"(timing skips {w}) | {len(test)} test utts, {audio_s:.0f} s audio | ESPnet measured {esp_res['when']}"
          f"{' (cached)' if args.skip_espnet else ''}")
    print(f"{'goal':<44}{'ESPnet':>10}{'Vocalis':>10}{'ratio':>8}  target")
    print(f"{'training utt/s (median step)':<44}{tr['espnet']:>10.2f}{tr['vocalis']:>10.2f}{tr['ratio']:>8.2f}  >= 1.5"
          f"  (paired-step median {paired:.2f})")
    if bf16:
        print(f"{'  same, both sides under bf16 autocast':<44}{bf16['espnet']:>10.2f}{bf16['vocalis']:>10.2f}"
              f"{bf16['ratio']:>8.2f}  (paired {bf16['paired_median_ratio']:.2f}; bf16 / float32 step: ESPnet "
              f"{bf16['espnet_speedup']:.2f}x, Vocalis {bf16['vocalis_speedup']:.2f}x; {bf16['steps']} steps)")
    print(f"{'beam-10 CTC/att RTF, Vocalis batch 1':<44}{esp_rtf:>10.4f}{bm['vocalis_b1']:>10.4f}{bm['ratio_b1']:>8.2f}  >= 5")
    print(f"{f'beam-10 CTC/att RTF, Vocalis batch {nb}':<44}{esp_rtf:>10.4f}{bm[f'vocalis_b{nb}']:>10.4f}"
          f"{bm[f'ratio_b{nb}']:>8.2f}  >= 5")
    print(f"{'  hypothesis agreement (same weights)':<44}{'':>10}{agree_b1:>10.1%}{'':>8}  b{nb}: {agree_bn:.1%}")
    print(f"{'beam-10 CTC/att RTF, batch 1, dtype int8':<44}{esp_rtf:>10.4f}{bm['vocalis_b1_int8']:>10.4f}"
          f"{bm['ratio_b1_int8']:>8.2f}  (not the goal; {agree_q:.1%} agree with ESPnet)")
    print(f"{'  WER % (ESPnet / converted Vocalis)':<44}{esp_wer:>10.2f}{conv_wer:>10.2f}{'':>8}  "
          f"Vocalis own model, same budget: {own_wer:.2f}")
    print(f"{'CTC greedy RTF, batch 16':<44}{'-':>10}{greedy_rtf:>10.4f}{'':>8}  <= 0.005  (WER {greedy_wer:.2f})")
    print(f"{'CTC greedy RTF, batch 16, dtype int8':<44}{'-':>10}{int8_rtf:>10.4f}{'':>8}  <= 0.005  "
          f"(WER {int8_wer:.2f}, {int8_same:.1%} the same hypotheses as float32)")
    print(f"{'CTC greedy RTF, batch 16, dtype bfloat16':<44}{'-':>10}{bf16_rtf:>10.4f}{'':>8}  <= 0.005  "
          f"(WER {bf16_wer:.2f}, {bf16_same:.1%} the same hypotheses as float32)")
    print(f"conversion: max |enc_vocalis - enc_espnet| = {enc_diff:.2e}; changed on the Vocalis side: {'; '.join(changes)}")
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
