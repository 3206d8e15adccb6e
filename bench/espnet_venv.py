"""The ESPnet side of bench_espnet.py: its Python 3.12 venv and the driver subprocess.

Bench code, not part of the vocalis package; nothing here is a Vocalis dependency.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("VOCALIS_BENCH_CACHE", Path.home() / ".cache" / "vocalis-bench"))
HERE = Path(__file__).resolve().parent
ESPNET_PIP = ["espnet[asr,train]==202611", "lightning", "protobuf", "tensorboard", "dask[distributed]",
              "dask_jobqueue", "editdistance", "jiwer"]

def find_python312() -> str:
    # a pyenv shim on PATH may exist and still fail ("command not found" for an inactive version),
    # so each candidate must actually run
    for cand in [shutil.which("python3.12"), *sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.12*/bin/python3.12")))]:
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    raise SystemExit("ESPnet 202611 needs Python 3.12 and none was found (pyenv install 3.12.1, or put python3.12 "
                     "on PATH); or run with --skip-espnet on cached results")


def ensure_espnet_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run([str(python), "-c", "import espnet, espnet2.bin.asr_inference; print(espnet.__version__)"],
                               capture_output=True, text=True)
        if check.returncode == 0:
            return python
        print(f"[setup] ESPnet venv at {venv} is broken ({check.stderr.strip().splitlines()[-1:]}); reinstalling")
    print(f"[setup] ESPnet venv missing: creating {venv} (Python 3.12, {' '.join(ESPNET_PIP)}; ~7 GB, a few minutes)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([find_python312(), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *ESPNET_PIP], check=True)
    print(f"[setup] ESPnet venv ready: {python}")
    return python


class EspnetProcess:
    """The driver subprocess; ``call(cmd, **kw)`` sends one command and returns its JSON reply."""

    def __init__(self, python: Path, threads: int, log_path: Path):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1",
                   NLTK_DATA=str(CACHE / "nltk_data"))
        env.pop("PYTHONPATH", None)
        self.log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen([str(python), str(HERE / "espnet_driver.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=str(CACHE))

    def call(self, cmd: str, **kw) -> dict:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("@@JSON "):
                out = json.loads(line[7:])
                if not out.get("ok"):
                    raise RuntimeError(f"ESPnet driver failed on {cmd}: {out.get('error')}\n{out.get('traceback')}")
                return out
            self.log.write(line)
        raise RuntimeError(f"ESPnet driver exited (rc {self.proc.wait()}); see {self.log.name}")

    def close(self) -> None:
        try:
            self.call("quit")
        except Exception:
            pass
        self.proc.wait(timeout=30)
        self.log.close()
