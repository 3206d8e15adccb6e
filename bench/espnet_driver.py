"""ESPnet side of bench/bench_espnet.py. Runs INSIDE the ESPnet venv (Python 3.12, espnet 202611), never in
Vocalis' interpreter; bench_espnet.py starts it as a subprocess and talks to it over stdin/stdout.

Protocol: one JSON command per stdin line; each reply is one stdout line ``@@JSON <json>`` (anything else on
stdout, e.g. ESPnet's import-time nltk noise, is passed through by the bench). The process stays alive
between commands so ESPnet and Vocalis can take turns (interleaved timing on shared cores).

Commands:
  init    {work, token_list, threads, seed, frontend, encoder_conf, decoder_conf, model_conf, lr, warmup_steps}
          builds espnet2's ESPnetASRModel through ASRTask's own argument parser (so Speech2Text can later
          load it from the config.yaml written here), Adam + WarmupLR.
  train   {batches: [[{path, ids}, ...], ...], clip, bf16} -> per-step wall times (forward + backward + clip +
          optimizer step; the frontend runs inside the model, as in ESPnet training), losses; bf16: the
          forward under CPU bfloat16 autocast.
  save    {} -> writes work/model.pth (plain state dict, espnet2 parameter names).
  decode  {utts: [{utt_id, path}], beam_size, ctc_weight, dump_feats} -> espnet2.bin.asr_inference.Speech2Text
          on each utterance alone (batch 1), per-utterance wall time, token ids and text; with dump_feats the
          encoder inputs (frontend + utterance_mvn output) and the encoder output of each utterance are saved
          to the file dump_feats names so Vocalis can decode the very same inputs with converted weights.
  quit    {}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch


def reply(obj) -> None:
    sys.stdout.write("@@JSON " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def load_wave(path: str) -> np.ndarray:
    wave, rate = sf.read(path, dtype="float32")
    if rate != 16000:
        raise ValueError(f"{path}: {rate} Hz, expected 16000")
    return wave


class Driver:
    def __init__(self):
        self.model = None
        self.waves: dict[str, np.ndarray] = {}

    def wave(self, path: str) -> np.ndarray:
        if path not in self.waves:
            self.waves[path] = load_wave(path)
        return self.waves[path]

    def init(self, work, token_list, threads=2, seed=0, frontend_conf=None, encoder_conf=None,
             decoder_conf=None, model_conf=None, lr=1e-3, warmup_steps=100):
        from espnet2.tasks.asr import ASRTask
        from espnet2.schedulers.warmup_lr import WarmupLR

        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "tokens.txt").write_text("\n".join(token_list) + "\n", encoding="utf-8")

        argv = ["--output_dir", str(self.work), "--token_list", str(self.work / "tokens.txt"),
                "--init", "xavier_uniform", "--frontend", "default", "--normalize", "utterance_mvn",
                "--encoder", "transformer", "--decoder", "transformer", "--token_type", "bpe", "--seed", str(seed)]
        parser = ASRTask.get_parser()
        args = parser.parse_args(argv)
        args.frontend_conf, args.encoder_conf = dict(frontend_conf), dict(encoder_conf)
        args.decoder_conf, args.model_conf = dict(decoder_conf), dict(model_conf)
        # specaug default is None in ASRTask; make it explicit (the baseline has specaug: null)
        args.specaug = None
        self.model = ASRTask.build_model(args)
        self.args = args
        import yaml

        with open(self.work / "config.yaml", "w", encoding="utf-8") as f:
            yaml.safe_dump(json.loads(json.dumps(vars(args), default=str)), f)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.sched = WarmupLR(self.opt, warmup_steps=warmup_steps)
        n_params = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        import espnet

        return {"params": n_params, "espnet": espnet.__version__, "torch": torch.__version__,
                "threads": torch.get_num_threads(), "keys": list(self.model.state_dict().keys())}

    def _batch(self, batch):
        waves = [self.wave(u["path"]) for u in batch]
        lens = torch.tensor([len(w) for w in waves])
        speech = torch.zeros(len(waves), int(lens.max()))
        for i, w in enumerate(waves):
            speech[i, : len(w)] = torch.from_numpy(w)
        ids = [u["ids"] for u in batch]
        tl = torch.tensor([len(x) for x in ids])
        text = torch.full((len(ids), int(tl.max())), -1, dtype=torch.long)
        for i, x in enumerate(ids):
            text[i, : len(x)] = torch.tensor(x)
        return speech, lens, text, tl

    def train(self, batches, clip=1.0, bf16=False):
        from timed_step import timed_steps  # bench/ sibling, torch only: the same timed region as Vocalis'

        prepared = [self._batch(b) for b in batches]  # audio I/O outside the timed region
        return timed_steps(self.model, self.opt, self.sched, prepared, lambda b: self.model(*b)[0], clip=clip,
                           bf16=bf16)

    def save(self):
        torch.save(self.model.state_dict(), self.work / "model.pth")
        return {"model": str(self.work / "model.pth")}

    def decode(self, utts, beam_size=10, ctc_weight=0.3, dump_feats=None, bpemodel=None):
        from espnet2.bin.asr_inference import Speech2Text

        s2t = Speech2Text(asr_train_config=str(self.work / "config.yaml"), asr_model_file=str(self.work / "model.pth"),
                          device="cpu", beam_size=beam_size, ctc_weight=ctc_weight, lm_weight=0.0, penalty=0.0,
                          nbest=1, maxlenratio=0.0, minlenratio=0.0, batch_size=1, token_type="bpe",
                          bpemodel=bpemodel)
        waves = [self.wave(u["path"]) for u in utts]
        s2t(waves[0])  # warm-up (first-call allocations), not timed
        out = []
        for u, w in zip(utts, waves):
            start = time.perf_counter()
            results = s2t(w)
            elapsed = time.perf_counter() - start
            text, _tokens, token_int, _hyp = results[0]
            out.append({"utt_id": u["utt_id"], "time": elapsed, "audio_s": len(w) / 16000, "text": text,
                        "ids": [int(i) for i in token_int]})
        if dump_feats:
            model = s2t.asr_model.eval()
            feats = {}
            with torch.inference_mode():
                for u, w in zip(utts, waves):
                    speech = torch.from_numpy(w)[None]
                    lens = torch.tensor([len(w)])
                    f, fl = model._extract_feats(speech, lens)
                    f, fl = model.normalize(f, fl)
                    enc, el, _ = model.encoder(f, fl)
                    feats[u["utt_id"]] = {"feats": f[0].clone(), "enc": enc[0].clone()}
            torch.save(feats, dump_feats)
        return {"utts": out, "feats": dump_feats}


def main() -> None:
    driver = Driver()
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.pop("cmd")
        if cmd == "quit":
            reply({"ok": True})
            break
        try:
            reply({"ok": True, **getattr(driver, cmd)(**msg)})
        except Exception as err:  # report, keep serving
            import traceback

            reply({"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()})


if __name__ == "__main__":
    main()
