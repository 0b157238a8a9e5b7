"""The `cgcnn` command, generated from the config dataclasses: each option is a field of ModelConfig,
TrainConfig, GraphConfig, DataLayout or PredictConfig (name, type, default and help from the field), or of
one of the small command dataclasses below for what only the command line has (inputs, --out, --model).
tyro parses; this module only assembles commands and calls the library. Errors in input → one line,
exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

from .config import DataLayout, GraphConfig, ModelConfig, PredictConfig, TrainConfig, option_name, pick, setting
from .errors import CgcnnError, InputError

log = logging.getLogger("cgcnn")


def counted(n: int, noun: str) -> str:
    """'1 crystal', '2 crystals'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def comma_list(text: str) -> list[str]:
    """'Sr,Ba' → ['Sr', 'Ba']."""
    return [part for part in text.split(",") if part]


COMMA_LISTS = {"targets", "a", "b", "x"}  # options given as comma-separated lists


# ---------------------------------------------------------------- what only the command line has


@dataclass
class TrainRun:
    data: str = setting(..., "folder in the original layout (ID.cif + id_prop.csv) or a CSV/JSON table")
    out: str = setting(..., "run folder for checkpoints, log, metrics, predictions")
    resume: bool = setting(False, "continue the run in --out from its last epoch")


@dataclass
class FeaturizeRun:
    data: str = setting(..., "folder in the original layout or a CSV/JSON table")


@dataclass
class ModelInputs:
    inputs: list[str] = setting(..., "structure files, folders of them, dataset folders or tables")
    model: str = setting(..., "shipped model name (see `cgcnn models`), model or ensemble file, or original .pth.tar")
    recursive: bool = setting(False, "search folders for structure files in their subfolders too")


@dataclass
class PredictRun:
    out: str = setting(..., "CSV (or .parquet) to write: id,prediction[,...]; written chunk by chunk to "
                       "OUT.partial, so that the same command resumes a killed run")
    resume: bool = setting(False, "insist on resuming: continue OUT.partial (or a finished OUT), never start over")
    shard: str | None = setting(None, "I/N: predict only the I-th of N equal blocks of the inputs (0-based), e.g. "
                                "one task of a SLURM array; the outputs, joined in order of I, are one run's")
    atom_init: str | None = setting(None, "element table for original checkpoints (default: the data's, else "
                                    "the original's)")


@dataclass
class ExplainRun:
    out: str = setting(..., "CSV to write: id,site,element,frac_x,frac_y,frac_z (fractional coordinates),"
                       "contribution,method")
    atom_init: str | None = setting(None, "element table for original checkpoints")
    html: str | None = setting(None, "also write one self-contained HTML page showing each crystal in 3D, its "
                               "atoms coloured by contribution, and a sortable table of the sites")
    png: str | None = setting(None, "also write a picture of each crystal (atoms coloured by contribution) into "
                              "this folder")


@dataclass
class EmbedRun:
    out: str = setting(..., "file to write, by extension: .csv (id, e0, e1, ...), .parquet (same columns) or .npy "
                       "(vectors only; ids in OUT.ids.csv)")
    sites: bool = setting(False, "one row per site (id, site, element, vector) instead of per crystal")
    member: int = setting(0, "an ensemble embeds with this member (their vectors are not comparable)", min=0)
    atom_init: str | None = setting(None, "element table for original checkpoints")


@dataclass
class EvaluateRun:
    data: str = setting(..., "labelled data: a folder in the original layout or a CSV/JSON table")
    model: str = setting(..., "shipped model name (see `cgcnn models`), model or ensemble file, or original .pth.tar")
    out: str | None = setting(None, "also write id, target(s) and prediction(s) to this CSV")


@dataclass
class ScreenRun:
    model: str = setting(..., "a model of formation energy per 5-atom cell (eV/cell)")
    a: list[str] = setting(..., "A-site elements, comma-separated")
    b: list[str] = setting(..., "B-site elements, comma-separated")
    x: list[str] | None = setting(None, "X-site sets, comma-separated (default: O3,O2N,ON2,N3,O2F,ONF,O2S)")
    out: str = setting(..., "ranked CSV")


@dataclass
class DemoRun:
    out: str = setting("runs/demo", "run folder of the demo")
    epochs: int | None = setting(None, "override the demo's number of epochs")


POSITIONAL = {"data", "inputs"}  # given without an option name


# ---------------------------------------------------------------- generating a command from dataclasses


def _tyro_field(f: dataclasses.Field, hint: Any, default: Any) -> tuple:
    import tyro

    if f.name in COMMA_LISTS:  # typed as text here, split after parsing
        hint = str if default is ... else str | None
    markers: list[Any] = [tyro.conf.arg(name=option_name(f)[2:], help=f.metadata.get("help"),
                                        metavar=_metavar(f, hint), help_behavior_hint=_default_hint(f, default))]
    if f.name in POSITIONAL:
        markers.append(tyro.conf.Positional)
    if default is ...:  # required
        return f.name, Annotated[(hint, *markers)]
    value = dataclasses.field(default_factory=lambda: list(default)) if isinstance(default, list) else default
    return f.name, Annotated[(hint, *markers)], value


PATHS = {"inputs", "data", "out", "atom_init", "cache_dir", "split_file", "html", "png", "init_from"}  # shown as PATH
NAMES = {"model": "MODEL", "shard": "I/N", "interval": "LEVEL", "device": "DEVICE"}


def _metavar(f: dataclasses.Field, hint: Any) -> str | None:
    """How an option's value is shown in the help: PATH, MODEL, INT, … (tyro would say STR or {None}|STR)."""
    import typing

    if f.name in PATHS:
        return "PATH"
    if f.name in NAMES:
        return NAMES[f.name]
    if f.name in COMMA_LISTS:
        return "A,B,…"
    kinds = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    kind = kinds[0]
    if typing.get_origin(kind) is list:
        return {int: "INT", float: "NUMBER"}.get(typing.get_args(kind)[0], "TEXT") + " …"
    if typing.get_origin(kind) is typing.Literal:
        return "{" + ",".join(map(str, typing.get_args(kind))) + "}"
    return {int: "INT", float: "NUMBER", str: "TEXT"}.get(kind)


def _default_hint(f: dataclasses.Field, default: Any) -> str:
    """One default per option: none where the help already says it, or where there is nothing to say."""
    if default is ...:
        return "(required)"
    if "default" in (f.metadata.get("help") or "") or default is None or default is False or default == []:
        return ""
    shown = " ".join(map(str, default)) if isinstance(default, list) else default
    return f"(default: {shown})"


def command_fields(parts: Sequence[tuple[type, Sequence[str] | None]]) -> Iterator[tuple[dataclasses.Field, Any, Any]]:
    """(field, type hint, default; ... if required) of the chosen fields (None: every field a user sets) of
    each part of a command: what the parser and the reference are built from."""
    import typing

    for cls, chosen in parts:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if (chosen is None and f.metadata.get("cli", True)) or (chosen and f.name in chosen):
                default = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[operator, misc]
                yield f, hints[f.name], default


def command_class(name: str, parts: Sequence[tuple[type, Sequence[str] | None]],
                  defaults: dict[str, Any] | None = None) -> type:
    """One dataclass holding the chosen fields of each part, for tyro; `defaults` (a recipe's values)
    replace the fields' own."""
    defaults = defaults or {}
    made = [_tyro_field(f, hint, defaults.get(f.name, default)) for f, hint, default in command_fields(parts)]
    required = [m for m in made if len(m) == 2]
    return dataclasses.make_dataclass(name, required + [m for m in made if len(m) == 3])


def parse_command(cls: type, args: Sequence[str], prog: str, description: str) -> dict:
    import tyro

    parsed: Any = tyro.cli(cls, args=list(args), prog=prog, description=description,
                      config=(tyro.conf.FlagCreatePairsOff,))
    values = dataclasses.asdict(parsed)
    return {k: comma_list(v) if k in COMMA_LISTS and v is not None else v for k, v in values.items()}


# ---------------------------------------------------------------- recipes (cgcnn train --config FILE)


def recipe_values(path: str, allowed: dict[str, tuple[dataclasses.Field, Any]]) -> dict[str, Any]:
    """A YAML recipe {setting: value} as typed starting values of the command's fields (options given on the
    command line win over them); each key and value is checked, and no value is ever read as an option."""
    import yaml

    try:
        recipe = yaml.load(Path(path).read_text(), Loader=_unique_key_loader())
    except OSError as exc:
        raise InputError(path, f"cannot read the recipe ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputError(path, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(recipe, dict):
        raise InputError(path, "a recipe is a mapping of setting: value")
    values: dict[str, Any] = {}
    for key, value in recipe.items():
        f, hint = allowed.get(str(key).replace("-", "_"), (None, None))
        if f is None:
            raise InputError(path, f"unknown setting {key!r} (settings are the options of `cgcnn train`)")
        value = _check_recipe_value(path, str(key), value, f, hint)
        if f.name in COMMA_LISTS and isinstance(value, list):
            value = ",".join(map(str, value))
        elif f.name in COMMA_LISTS and value is not None:
            value = str(value)
        values[f.name] = value
    return values


def _unique_key_loader() -> type:
    """YAML's safe loader, refusing a key given twice (where the plain loader keeps the last silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.YAMLError(f"the setting {key!r} is given twice (line {key_node.start_mark.line + 1})")
                seen.add(key)
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def _check_recipe_value(path: str, key: str, value: Any, f: dataclasses.Field, hint: Any) -> Any:
    """A recipe value of the field's type (or a list of them), named in the error if not; a number YAML
    reads as text (`2e-3`: YAML 1.1 wants `2.0e-3`) becomes the number."""
    import typing

    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = [a for a in (typing.get_args(hint) if union else (hint,)) if a is not type(None)]
    if value is None:
        return value
    for option in allowed:
        origin, args = typing.get_origin(option), typing.get_args(option)
        if origin is list and (isinstance(value, list) or f.name in COMMA_LISTS):
            items = value if isinstance(value, list) else [value]
            kind = args[0] if args else str
            if all(_is_type(_number(item, kind), kind) for item in items):
                return [_number(item, kind) for item in items] if isinstance(value, list) else value
        elif origin is typing.Literal and value in args:
            return value
        elif origin is None and _is_type(_number(value, option), option):
            return _number(value, option)
    raise InputError(path, f"{key}: {value!r} is not a valid value (expected {_type_words(hint)})")


def _number(value: Any, kind: Any) -> Any:
    """`value` as a number of `kind` where it is text that reads as one, else unchanged."""
    if kind in (int, float) and isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            return value
    return value


def _is_type(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return True


def _type_words(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")



# ---------------------------------------------------------------- commands

TRAIN_PARTS = [(TrainRun, None), (DataLayout, None), (ModelConfig, None), (TrainConfig, None)]


def run_train(values: dict, progress: bool) -> None:
    from .training import train
    from .training.report import summary

    result = train(values["data"], values["out"], pick(ModelConfig, values), pick(TrainConfig, values),
                   atom_init=values["atom_init"], targets=values["targets"], id_column=values["id_column"],
                   structure_column=values["structure_column"], resume=values["resume"], progress=progress)
    print(summary(result, values["out"]))


def run_featurize(values: dict, progress: bool) -> None:
    from .graphs import featurize

    layout = pick(DataLayout, values)
    report = featurize(values["data"], values["radius"], values["max_neighbors"], values["workers"],
                       values["cache_dir"], targets=layout.targets, id_column=layout.id_column,
                       structure_column=layout.structure_column, progress=progress, skip_bad=values["skip_bad"])
    print(json.dumps(report, indent=2))


def run_predict(values: dict, progress: bool) -> None:
    from .apps.pipeline import skipped_path
    from .apps.chunked_predict import predict_files
    from .model.distributed import launched_rank

    settings = pick(PredictConfig, values)
    report = predict_files(values["model"], values["inputs"], values["out"], values["atom_init"],
                           settings.batch_size, settings.device, settings.workers, settings.skip_bad,
                           progress=progress, interval=settings.interval, recursive=values["recursive"],
                           resume=True if values["resume"] else None, shard=shard_option(values["shard"]))
    skipped = f"; {report['skipped']} skipped, see {skipped_path(values['out'])}" if report["skipped"] else ""
    if launched_rank() != 0:  # under torchrun the first process speaks for all
        return
    resumed = f" ({report['resumed']:,} of them by an earlier run)" if report.get("resumed") else ""
    print(f"wrote {counted(report['predicted'], 'prediction')}{resumed} to {values['out']}{skipped}")
    if report["out_of_domain"]:
        print(f"warning: {report['out_of_domain']} of {report['predicted']} crystals are unlike the model's training "
              "crystals (ood = 1): their predictions are less reliable", file=sys.stderr)
    if report.get("seen_in_training"):
        print(f"note: {report['seen_in_training']:,} of the crystals predicted in this run were among the model's "
              "training crystals (same id or same structure)", file=sys.stderr)


def shard_option(text: str | None) -> tuple[int, int] | None:
    """'2/8' → (2, 8)."""
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise CgcnnError(f"--shard takes I/N, e.g. 0/4, not {text!r}") from None
    if count < 1:
        raise CgcnnError(f"--shard {text}: N, the number of blocks, is at least 1")
    return index, count


def run_models(values: dict, progress: bool) -> None:
    from .model.catalogue import shipped_models

    for name, info in shipped_models().items():
        test = ", ".join(f"{k} {v}" for k, v in info["test"].items())
        origin = (f"\n{'':18} fine-tuned from {info['fine_tuned_from']} (the same recipe from scratch: test MAE "
                  f"{info['scratch_test_mae']})" if info.get("fine_tuned_from") else "")
        print(f"{name:18} {info['target']} [{info['unit']}] — test {test} ({info['training_data']}){origin}\n"
              f"{'':18} licence: {info['licence']}")


def run_explain(values: dict, progress: bool) -> None:
    from .apps.explain import explain_files

    report = explain_files(values["model"], values["inputs"], values["out"], values["atom_init"],
                           recursive=values["recursive"], html=values["html"], png=values["png"])
    print(f"wrote {counted(report['sites'], 'site contribution')} of {counted(report['crystals'], 'crystal')} to "
          f"{values['out']}")


def run_embed(values: dict, progress: bool) -> None:
    from .apps.embed import embed_files

    settings = pick(PredictConfig, values)
    report = embed_files(values["model"], values["inputs"], values["out"], values["atom_init"], sites=values["sites"],
                         member=values["member"], batch_size=settings.batch_size, device=settings.device,
                         workers=settings.workers, skip_bad=settings.skip_bad, progress=progress,
                         recursive=values["recursive"])
    rows = counted(report["rows"], "site") + " of " if values["sites"] else ""
    skipped = f"; {report['skipped']} skipped" if report["skipped"] else ""
    print(f"wrote {report['dimensions']}-dimensional vectors of {rows}{counted(report['crystals'], 'crystal')} to "
          f"{values['out']}{skipped}")


def run_evaluate(values: dict, progress: bool) -> None:
    from .apps.evaluate import evaluate_files

    settings, layout = pick(PredictConfig, values), pick(DataLayout, values)
    result = evaluate_files(values["model"], values["data"], values["out"], targets=layout.targets,
                            id_column=layout.id_column, structure_column=layout.structure_column,
                            atom_init=layout.atom_init, batch_size=settings.batch_size, device=settings.device,
                            workers=settings.workers, skip_bad=settings.skip_bad, progress=progress)
    skipped = f" ({result['skipped']} skipped)" if result["skipped"] else ""
    print(f"{values['model']} on {counted(result['n'], 'labelled crystal')} of {values['data']}{skipped}:")
    if "accuracy" in result:
        auc = f", ROC-AUC {result['roc_auc']:.3f}" if result["roc_auc"] is not None else ""
        print(f"  accuracy {result['accuracy']:.3f}{auc}")
    for column, (name, m) in zip(result.get("label_columns", []), result.get("targets", {}).items()):
        print(f"  {column} as {name}: MAE {m['mae']:.4g}, RMSE {m['rmse']:.4g}, R² {m['r2']:.3f} ({m['n']:,} labelled)")
    if result.get("seen_in_training"):
        print(f"  {result['seen_in_training']:,} of them were training crystals of the model (same id or structure)")
        unseen = result.get("unseen") or {}
        if "accuracy" in unseen:
            print(f"  on the {unseen['n']:,} others: accuracy {unseen['accuracy']:.3f}")
        for name, m in unseen.get("targets", {}).items():
            print(f"  on the {unseen['n']:,} others, {name}: MAE {m['mae']:.4g}, RMSE {m['rmse']:.4g}, R² {m['r2']:.3f}")


def run_screen(values: dict, progress: bool) -> None:
    from .apps.perovskites import ANION_MIXTURES, STABLE_BELOW, screen

    rows = screen(values["model"], values["a"], values["b"], values["x"] or ANION_MIXTURES, values["out"])
    stable = sum(r[-1] for r in rows)
    print(f"ranked {len(rows)} candidates ({stable} predicted below {STABLE_BELOW:g} eV/atom) in {values['out']}")


def run_demo(values: dict, progress: bool) -> None:
    from .apps.demo import run_demo as demo

    print(demo(values["out"], epochs=values["epochs"], progress=progress))


@dataclass
class Command:
    help: str
    run: Callable[[dict, bool], None]
    parts: list = dataclasses.field(default_factory=list)


COMMANDS = {
    "train": Command("train a model on a dataset", run_train, TRAIN_PARTS),
    "featurize": Command("build the graph store of a dataset (done by train when missing)", run_featurize,
                         [(FeaturizeRun, None), (DataLayout, None), (GraphConfig, ("radius", "max_neighbors")),
                          (TrainConfig, ("workers", "cache_dir", "skip_bad"))]),
    "predict": Command("predict with a trained model or an original CGCNN checkpoint", run_predict,
                       [(ModelInputs, None), (PredictRun, None), (PredictConfig, None)]),
    "embed": Command("write each crystal's vector (the pooled atom vectors that feed the model's last layers)",
                     run_embed, [(ModelInputs, None), (EmbedRun, None),
                                 (PredictConfig, ("batch_size", "device", "workers", "skip_bad"))]),
    "evaluate": Command("score a model on labelled data (MAE, RMSE, R²; accuracy, ROC-AUC)", run_evaluate,
                        [(EvaluateRun, None), (DataLayout, None),
                         (PredictConfig, ("batch_size", "device", "workers", "skip_bad"))]),
    "models": Command("list the trained models shipped with cgcnn (for --model NAME)", run_models),
    "explain": Command("per-site contributions to each prediction (CSV, one row per site)", run_explain,
                       [(ModelInputs, None), (ExplainRun, None)]),
    "screen": Command("rank candidate cubic ABX3 perovskites by predicted formation energy", run_screen,
                      [(ScreenRun, None)]),
    "demo": Command("train on the embedded formation-energy data and report", run_demo, [(DemoRun, None)]),
}


def _global_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log what the command does (INFO messages)")
    common.add_argument("--no-progress", action="store_true", default=argparse.SUPPRESS, help="hide progress bars")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The top level: global options and the list of commands (each command's options come from tyro)."""
    common = _global_options()
    parser = argparse.ArgumentParser(prog="cgcnn", description=str(__import__("cgcnn").__doc__).splitlines()[0],
                                     parents=[common], allow_abbrev=False,
                                     epilog="`cgcnn COMMAND --help` lists a command's options and their defaults")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.help, add_help=False, parents=[common], allow_abbrev=False)
    return parser


def parse_arguments(name: str, args: Sequence[str]) -> dict:
    """A command's settings from its options; for `train`, `--config RECIPE` gives the starting values."""
    _refuse_repeated_options(args)
    command, args, defaults = COMMANDS[name], list(args), {}
    if name == "train" and "--config" in args:
        at = args.index("--config")
        if at + 1 >= len(args):
            raise CgcnnError("--config needs a recipe file (YAML)")
        allowed = {f.name: (f, hint) for f, hint, _ in command_fields(TRAIN_PARTS)}
        allowed.update({(f.metadata.get("flag") or f.name): (f, hint) for f, hint in allowed.values()})
        defaults = recipe_values(args[at + 1], allowed)
        args = args[:at] + args[at + 2:]
    cls = command_class(f"cgcnn_{name}", command.parts, defaults)
    return parse_command(cls, args, f"cgcnn {name}", command.help)


def _close_progress_bars() -> None:
    """Clear any bar an error interrupted, so that the error gets a line of its own."""
    from tqdm.auto import tqdm

    for bar in list(getattr(tqdm, "_instances", [])):
        bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    args, rest = build_parser().parse_known_args(argv)
    verbose, progress = getattr(args, "verbose", False), not getattr(args, "no_progress", False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    command = COMMANDS[args.command]
    try:
        command.run(parse_arguments(args.command, rest), progress)
    except CgcnnError as exc:
        _close_progress_bars()
        print(f"cgcnn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cgcnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`cgcnn ... | head`): not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141  # as a shell reports a process ended by SIGPIPE
    return 0


def _refuse_repeated_options(args: Sequence[str]) -> None:
    """An option given twice is a mistake to point out, not a choice to make silently (the last would win)."""
    seen = set()
    for arg in args:
        if arg == "--":
            return
        if arg.startswith("--") and len(arg) > 2:
            name = arg.split("=", 1)[0]
            if name in seen:
                raise CgcnnError(f"{name} is given twice; give it once")
            seen.add(name)



def reference_markdown() -> str:
    """The command-line reference (docs/cli.md), generated from the same fields as the parser."""
    lines = ["# Command-line reference", "", "Generated from the settings dataclasses that the parser is built "
             "from (`cgcnn.cli.reference_markdown`). Global options, before or after the command: `-v` (log "
             "what happens), `--no-progress`.", ""]
    for name, command in COMMANDS.items():
        lines += [f"## cgcnn {name}", "", command.help[0].upper() + command.help[1:] + ".", ""]
        rows = []
        for f, hint, default in command_fields(command.parts):
            shown = "required" if default is ... else f"`{default}`"
            option = f.name.upper() if f.name in POSITIONAL else f"`{option_name(f)}`"
            rows.append(f"| {option} | {_type_text(hint)} | {shown} | {f.metadata.get('help', '')} |")
        lines += ["| option | type | default | meaning |", "|---|---|---|---|", *rows, ""] if rows else []
    return "\n".join(lines)


def _type_text(hint: Any) -> str:
    """`Literal['a', 'b']` → 'a / b', `int | None` → 'int', `list[float]` → 'floats' (for the reference)."""
    import typing

    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return " / ".join(map(str, args))
    if origin is list:
        return f"{_type_text(args[0])}s"
    if args and origin is not None:
        return _type_text(args[0])
    return getattr(hint, "__name__", str(hint))


if __name__ == "__main__":
    sys.exit(main())
