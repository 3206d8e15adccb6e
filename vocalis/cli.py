"""``vocalis run <recipe> ...`` and the recipe's ``run.py``: one parser, one runner."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from vocalis.stages.registry import STAGE_NAMES


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stages", nargs="+", default=["all"], help=f"stages to run, in declared order: {', '.join(STAGE_NAMES)}, or all")
    for role in ("training", "inference", "metrics", "publication"):  # None: conf/<role>.yaml if the recipe has it
        parser.add_argument(f"--{role}_config", default=None, help=f"default: conf/{role}.yaml when it exists; "
                            "'' for none")
    parser.add_argument("--dry_run", action="store_true", help="list the stages that would run, run nothing")
    parser.epilog = ("key=value arguments anywhere on the line override config keys: training by default, "
                     "inference.<key>=v, metrics.<key>=v and publication.<key>=v for the others; data_dir, exp_tag "
                     "and exp_dir go to every config that has them")


def _options_taking_a_value(parser: argparse.ArgumentParser) -> set[str]:
    """``--x`` options of ``parser`` and its subcommands that read the next word as their value."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options_taking_a_value(sub)
        elif action.option_strings and action.nargs is None:
            found.update(action.option_strings)
    return found


def parse_with_overrides(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse flags; every ``key=value`` word (not a ``--flag=value``) is an override, wherever it stands."""
    argv = list(sys.argv[1:] if argv is None else argv)
    takes_value = _options_taking_a_value(parser)
    flags, overrides = [], []
    for i, word in enumerate(argv):
        is_value = i > 0 and argv[i - 1] in takes_value  # --training_config conf/lr=1e-3.yaml is a path
        (overrides if "=" in word and not word.startswith("-") and not is_value else flags).append(word)
    args = parser.parse_args(flags)
    args.overrides = overrides
    return args


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


def _run(recipe_dir: Path, args: argparse.Namespace) -> int:
    from vocalis.stages.runner import run_stages

    files = {}
    for role in ("training", "inference", "metrics", "publication"):
        given = getattr(args, f"{role}_config")
        value = f"conf/{role}.yaml" if given is None else given
        path = Path(value) if Path(value).is_absolute() else recipe_dir / value
        if value and not path.is_file() and Path(value).is_file():  # relative to the working folder
            path = Path(value).resolve()
        files[role] = path if value and path.is_file() else None
        if value and not path.is_file() and given is not None:
            raise FileNotFoundError(f"--{role}_config {value}: no such file in the recipe folder {recipe_dir} (config "
                                    "paths are relative to it) nor in the working folder")
    results = run_stages(recipe_dir, args.stages, files, args.overrides, args.dry_run)
    if "measure" in results:
        from vocalis.metrics.report import format_results_table

        print(format_results_table(results["measure"]), end="")
    return 0


def run_recipe(recipe_dir: str | Path, argv: list[str] | None = None) -> int:
    """Entry point of a recipe's ``run.py``."""
    parser = argparse.ArgumentParser(description=f"run the stages of the recipe in {recipe_dir}")
    add_run_arguments(parser)
    setup_logging()
    return _run(Path(recipe_dir).resolve(), parse_with_overrides(parser, argv))


def add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="a folder written by the pack stage")
    parser.add_argument("inputs", nargs="+", help="audio files, folders of audio files, or wav.scp lists")
    parser.add_argument("--batch_size", type=int, default=None, help="files per model call (default: the bundle's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16", "int8"), default=None,
                        help="precision of the network: autocast to bfloat16/float16, or int8 (CPU; the "
                             "bundle's recorded int8 ranges) (default: the bundle's)")
    parser.add_argument("--trust_user_code", action="store_true",
                        help="allow a bundle that carries recipe code (src/) to run it")


def _transcribe(args: argparse.Namespace) -> int:
    """Print ``utt_id<TAB>text`` per input, decoded in batches; a progress bar on stderr for many files."""
    from tqdm import tqdm

    from vocalis.publish import InferenceModel
    from vocalis.publish.audio_inputs import list_audio_inputs

    pairs = list_audio_inputs(args.inputs)
    model = InferenceModel.from_packed(args.bundle, trust_user_code=args.trust_user_code, device=args.device,
                                       batch_size=args.batch_size, dtype=args.dtype)
    outputs = model.transcribe([path for _, path in pairs])
    for (utt_id, _), output in tqdm(zip(pairs, outputs), total=len(pairs), unit="file", file=sys.stderr,
                                    disable=len(pairs) <= model.batch_size):
        print(f"{utt_id}\t{output['text']}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vocalis", description="Vocalis speech toolkit")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the stages of a recipe folder")
    run.add_argument("recipe_dir", help="e.g. egs3/digits/asr")
    add_run_arguments(run)
    add_transcribe_arguments(sub.add_parser("transcribe", help="print utt_id<TAB>text for audio with a packed model"))
    argv = list(sys.argv[1:] if argv is None else argv)
    # file names may hold '=': only `run` takes key=value overrides
    args = parser.parse_args(argv) if argv[:1] == ["transcribe"] else parse_with_overrides(parser, argv)
    setup_logging()
    if args.command == "run":
        return _run(Path(args.recipe_dir).resolve(), args)
    if args.command == "transcribe":
        return _transcribe(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
