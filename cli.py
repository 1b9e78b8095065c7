"""`mimicsim <verb>`: the single command-line entry point.

Verbs are imported lazily (so `mimicsim --help` is instant) and parsed with tyro. Errors a user can
fix (`MimicsimError`) print one line and exit with status 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from mimicsim.errors import MimicsimError

Verb = tuple[str, str]  # (module holding the verb's function, one-line summary shown by --help)
Table = dict[str, "Verb | Table"]

# Every verb is a function in a `commands.py` (or `demo.py`), named like the verb's words joined by
# "_": `mimicsim retarget-batch` is `retarget_batch`, `mimicsim motion info` is `motion_info`.
# A group maps to its own table ("motion info", "motion render").
VERBS: Table = {
    "demo": ("mimicsim.demo", "run the main job on built-in data, writing into out/"),
    "robots": ("mimicsim.assets.commands", "list the registered robots"),
    "render-robot": ("mimicsim.assets.commands", "render a robot's standing pose to a PNG"),
    "motion": {
        "info": (
            "mimicsim.retarget.human.commands",
            "describe a human motion file (format, fps, height, contacts, plausibility)",
        ),
        "render": ("mimicsim.retarget.human.commands", "render a human motion file's skeleton to an MP4"),
    },
    "retarget": ("mimicsim.retarget.commands", "retarget a human motion onto a robot (npz, quality, video)"),
    "retarget-batch": ("mimicsim.retarget.commands", "retarget a folder of motions (resumable, workers or Ray)"),
    "retarget-stream": (
        "mimicsim.retarget.commands",
        "retarget live frames sent over a websocket, answering robot poses",
    ),
    "retarget-eval": ("mimicsim.retarget.commands", "print the quality report of a retargeted motion"),
    "retarget-hand": (
        "mimicsim.envs.manipulation.commands",
        "retarget hand keypoints onto the Franka + Inspire; replay; video; LeRobot dataset",
    ),
    "train-tracker": (
        "mimicsim.policies.tracking.commands",
        "train a PPO motion-tracking policy (checkpoints, logs, ONNX)",
    ),
    "export-tracker": ("mimicsim.policies.tracking.commands", "export a tracker checkpoint to ONNX with its metadata"),
    "refine": (
        "mimicsim.policies.tracking.commands",
        "simulate a tracking policy on a motion; write the physical motion",
    ),
    "refine-batch": (
        "mimicsim.policies.tracking.commands",
        "refine a folder of motions, keep those tracked to success",
    ),
    "eval": ("mimicsim.eval.commands", "score a policy on manipulation tasks (JSON, HTML report, MP4s)"),
    "serve": (
        "mimicsim.policies.manipulation.commands",
        "serve a policy over ZeroMQ (Being-H0's wire format) or websocket",
    ),
    "eval-tracking": ("mimicsim.eval.commands", "measure a tracking policy on clips (table + JSON)"),
}

USAGE = "usage: mimicsim [--debug] <verb> [options]   (mimicsim <verb> --help for a verb's options)"


def verb_function(words: str, module: str) -> Callable[..., object]:
    """The function of the verb `mimicsim <words>` in `module`."""
    return getattr(importlib.import_module(module), words.replace("-", "_").replace(" ", "_"))


def _help(table: Table, prefix: str = "") -> str:
    lines = []
    for verb, entry in table.items():
        if isinstance(entry, dict):
            lines.append(_help(entry, prefix + verb + " "))
        else:
            lines.append(f"  {prefix + verb:<22} {entry[1]}")
    return "\n".join(lines)


def _resolve(argv: list[str]) -> tuple[str, str, list[str]]:
    table: Table | Verb = VERBS
    words: list[str] = []
    while argv and isinstance(table, dict):
        word, argv = argv[0], argv[1:]
        if word not in table:
            raise MimicsimError(f"unknown command {' '.join([*words, word])!r}; run `mimicsim --help`")
        words.append(word)
        table = table[word]
    if isinstance(table, dict):
        raise MimicsimError(f"`mimicsim {' '.join(words)}` needs one of: {', '.join(table)}")
    return " ".join(words), table[0], argv


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    if not args or args[0] in ("-h", "--help"):
        print(
            f"{USAGE}\n\nmimicsim: human motion -> humanoid robots, and VLA policies -> scored tasks.\n\n"
            f"verbs:\n{_help(VERBS)}"
        )
        return 0
    try:
        import tyro

        name, module, rest = _resolve(args)
        func = verb_function(name, module)
        tyro.cli(func, args=rest, prog=f"mimicsim {name}")
    except MimicsimError as exc:
        if debug:
            raise
        print(f"mimicsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mimicsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`mimicsim ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
