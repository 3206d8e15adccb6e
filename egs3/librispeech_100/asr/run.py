from pathlib import Path
from vocalis.cli import run_recipe
if __name__ == "__main__":
    raise SystemExit(run_recipe(Path(__file__).parent))
