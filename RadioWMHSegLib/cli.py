"""The `radiowmhseg` command line: one subcommand per file in commands/, errors as one line."""

import argparse
import importlib
import sys

from .errors import RadioWMHSegError

# Subcommand name -> module in RadioWMHSegLib.commands (each has add_parser and run).
COMMANDS = {
    "segment": "segment",
    "rank": "rank",
    "evaluate": "evaluate",
    "info": "info",
    "synth": "synth",
    "import-brats": "import_tumours",
    "import-msd": "import_tumours",
    "dataset": "dataset",
    "pretrain": "pretrain",
    "finetune": "finetune",
    "experiment": "experiment",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radiowmhseg",
        description="White-matter hyperintensity segmentation on FLAIR MRI (3D attention V-Net, transfer learning).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"{__package__}.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.commands.{module_name}":
                continue  # a subcommand not present in this build
            raise
        module.add_parser(subparsers, name)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except RadioWMHSegError as exc:
        print(f"radiowmhseg: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        # A command interrupted while it writes says which outputs exist (segment does).
        detail = f": {exc}" if str(exc) else ""
        print(f"radiowmhseg: interrupted{detail}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
