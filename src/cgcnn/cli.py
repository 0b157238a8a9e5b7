"""The `cgcnn` command, generated from the jobs (apps/jobs.py): a command is a job dataclass, and its options
are the job's own fields and those of the configs it holds (ModelConfig, TrainConfig, GraphConfig,
DataLayout, PredictConfig: name, type, default and help from the field). tyro parses the command line into
a flat dataclass; `job_from` turns that into the typed job; `job.run()` does the work; this module prints
its report. Errors in input → one line, exit code 2.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

from .apps.jobs import (DemoJob, EmbedJob, EvaluateJob, ExplainJob, FeaturizeJob, ModelsJob, PredictJob, ScreenJob,
                        TrainJob)
from .config import option_name, pick
from .errors import CgcnnError, InputError

log = logging.getLogger("cgcnn")


def counted(n: int, noun: str) -> str:
    """'1 crystal', '2 crystals'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def comma_list(text: str) -> list[str]:
    """'Sr,Ba' → ['Sr', 'Ba']."""
    return [part for part in text.split(",") if part]


COMMA_LISTS = {"targets", "a", "b", "x"}  # options given as comma-separated lists


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


def job_fields(job: type) -> Iterator[tuple[dataclasses.Field, Any, Any, str | None]]:
    """(field, type hint, default (... if required), the job's config field holding it or None) of every
    option of a job: its own fields, then the user settings of each config it holds (those of `only`)."""
    hints = typing.get_type_hints(job)
    for f in fields(job):
        if not f.metadata.get("part"):
            yield f, hints[f.name], f.default, None
            continue
        config, only = hints[f.name], f.metadata["only"]
        config_hints = typing.get_type_hints(config)
        for g in fields(config):
            if (only is None and g.metadata.get("cli", True)) or (only and g.name in only):
                default = g.default_factory() if g.default is dataclasses.MISSING else g.default  # type: ignore[misc, operator]
                yield g, config_hints[g.name], default, f.name


RECIPE_HELP = ("a YAML recipe (e.g. recipes/formation-energy.yaml): settings by field name, the starting values "
               "that options given on the command line override")
GLOBAL = [("verbose", "log what the command does (INFO messages)", ("-v",)), ("no_progress", "hide progress bars", ())]


def command_class(name: str, job: type, defaults: dict[str, Any] | None = None) -> type:
    """The flat dataclass tyro parses for a job (one option per field, whichever config holds it), with the
    global options; `defaults` (a recipe's values) replace the fields' own."""
    import tyro

    defaults = defaults or {}
    made = [_tyro_field(f, hint, defaults.get(f.name, default)) for f, hint, default, _ in job_fields(job)]
    names = [m[0] for m in made]
    assert len(names) == len(set(names)), f"{job.__name__}: two of its configs offer the same option"
    made += [(key, Annotated[bool, tyro.conf.arg(help=text, aliases=aliases, help_behavior_hint="")], False)
             for key, text, aliases in GLOBAL]
    if job is TrainJob:  # read before parsing (its values are the defaults above); listed for --help
        made.append(("config", Annotated[str | None, tyro.conf.arg(help=RECIPE_HELP, metavar="PATH",
                                                                    help_behavior_hint="")], None))
    required = [m for m in made if len(m) == 2]
    return dataclasses.make_dataclass(f"cgcnn_{name}", required + [m for m in made if len(m) == 3])


def job_from(job: type, parsed: Any) -> Any:
    """The typed job from tyro's flat result: each config it holds built (and checked) from its options."""
    values = {k: comma_list(v) if k in COMMA_LISTS and isinstance(v, str) else v
              for k, v in dataclasses.asdict(parsed).items()}
    own: dict[str, Any] = {}
    parts: dict[str, dict[str, Any]] = {}
    for f, hint, _, holder in job_fields(job):
        if holder is None:
            own[f.name] = values[f.name]
        else:
            parts.setdefault(holder, {})[f.name] = values[f.name]
    config_of = typing.get_type_hints(job)
    return job(**own, **{holder: pick(config_of[holder], given) for holder, given in parts.items()})


def flat_settings(job: Any) -> dict[str, Any]:
    """{option field: value} of a job, whichever config holds it: what a command line set (tests, reports)."""
    return {f.name: getattr(getattr(job, holder) if holder else job, f.name)
            for f, _, _, holder in job_fields(type(job))}


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

def report_train(job: TrainJob, report: dict) -> None:
    from .training.report import summary

    print(summary(report, job.out))


def report_featurize(job: FeaturizeJob, report: dict) -> None:
    print(json.dumps(report, indent=2))


def report_predict(job: PredictJob, report: dict) -> None:
    from .apps.pipeline import skipped_path
    from .model.distributed import launched_rank

    if launched_rank() != 0:  # under torchrun the first process speaks for all
        return
    skipped = f"; {report['skipped']} skipped, see {skipped_path(job.out)}" if report["skipped"] else ""
    resumed = f" ({report['resumed']:,} of them by an earlier run)" if report.get("resumed") else ""
    print(f"wrote {counted(report['predicted'], 'prediction')}{resumed} to {job.out}{skipped}")
    if report["out_of_domain"]:
        print(f"warning: {report['out_of_domain']} of {report['predicted']} crystals are unlike the model's training "
              "crystals (ood = 1): their predictions are less reliable", file=sys.stderr)
    if report.get("seen_in_training"):
        print(f"note: {report['seen_in_training']:,} of the crystals predicted in this run were among the model's "
              "training crystals (same id or same structure)", file=sys.stderr)


def model_origin(info: dict) -> str:
    """How a transfer model was made and, where recorded, the validation scores that chose it."""
    made = (f"fine-tuned from {info['fine_tuned_from']}" if info.get("fine_tuned_from")
            else "trained from scratch" if info.get("trained_from") == "scratch" else "")
    if "validation_mae" in info:
        scores = info["validation_mae"]
        return f"{made} (chosen on validation MAE: fine-tuned {scores['fine-tuned']}, from scratch {scores['scratch']})"
    if made and "scratch_test_mae" in info:
        return f"{made} (the same recipe from scratch: test MAE {info['scratch_test_mae']})"
    return made


def report_models(job: ModelsJob, models: dict) -> None:
    for name, info in models.items():
        test = ", ".join(f"{k} {v}" for k, v in info["test"].items())
        origin = model_origin(info)
        origin = f"\n{'':18} {origin}" if origin else ""
        print(f"{name:18} {info['target']} [{info['unit']}] — test {test} ({info['training_data']}){origin}\n"
              f"{'':18} licence: {info['licence']}")


def report_explain(job: ExplainJob, report: dict) -> None:
    print(f"wrote {counted(report['sites'], 'site contribution')} of {counted(report['crystals'], 'crystal')} to "
          f"{job.out}")


def report_embed(job: EmbedJob, report: dict) -> None:
    rows = counted(report["rows"], "site") + " of " if job.sites else ""
    skipped = f"; {report['skipped']} skipped" if report["skipped"] else ""
    print(f"wrote {report['dimensions']}-dimensional vectors of {rows}{counted(report['crystals'], 'crystal')} to "
          f"{job.out}{skipped}")


def report_evaluate(job: EvaluateJob, result: dict) -> None:
    skipped = f" ({result['skipped']} skipped)" if result["skipped"] else ""
    print(f"{job.model} on {counted(result['n'], 'labelled crystal')} of {job.data}{skipped}:")
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


def report_screen(job: ScreenJob, report: dict) -> None:
    print(f"ranked {report['candidates']} candidates ({report['stable']} predicted below {report['stable_below']:g} "
          f"eV/atom) in {job.out}")


def report_demo(job: DemoJob, report: dict) -> None:
    print(report["report"])


@dataclass
class Command:
    job: type  # its docstring is the command's one-line help
    report: Callable[[Any, Any], None]  # prints what job.run() returned

    @property
    def help(self) -> str:
        return (self.job.__doc__ or "").strip()


COMMANDS = {
    "train": Command(TrainJob, report_train),
    "featurize": Command(FeaturizeJob, report_featurize),
    "predict": Command(PredictJob, report_predict),
    "embed": Command(EmbedJob, report_embed),
    "evaluate": Command(EvaluateJob, report_evaluate),
    "models": Command(ModelsJob, report_models),
    "explain": Command(ExplainJob, report_explain),
    "screen": Command(ScreenJob, report_screen),
    "demo": Command(DemoJob, report_demo),
}


@dataclass
class Parsed:
    name: str  # the command
    job: Any
    verbose: bool
    progress: bool


def parse(argv: Sequence[str]) -> Parsed:
    """The command and its typed job from a command line (global options before or after the command);
    for `train`, `--config RECIPE` gives the starting values."""
    import tyro

    args = _globals_after_command(list(argv))
    _refuse_repeated_options(args)
    name = args[0] if args and args[0] in COMMANDS else None
    defaults = {}
    if name == "train" and "--config" in args:
        at = args.index("--config")
        if at + 1 >= len(args):
            raise CgcnnError("--config needs a recipe file (YAML)")
        allowed = {f.name: (f, hint) for f, hint, _, _ in job_fields(TrainJob)}
        allowed.update({(f.metadata.get("flag") or f.name): (f, hint) for f, hint in allowed.values()})
        defaults = recipe_values(args[at + 1], allowed)
    classes = {key: command_class(key, command.job, defaults if key == name else None)
               for key, command in COMMANDS.items()}
    choices = [Annotated[cls, tyro.conf.subcommand(key, description=COMMANDS[key].help, prefix_name=False)]
               for key, cls in classes.items()]
    parsed: Any = tyro.cli(typing.Union[tuple(choices)], args=args, prog="cgcnn",  # type: ignore[call-overload]
                           description=str(__import__("cgcnn").__doc__).splitlines()[0] + " `cgcnn COMMAND "
                           "--help` lists a command's options; -v and --no-progress work with every command.",
                           config=(tyro.conf.FlagCreatePairsOff,))
    name = next(key for key, cls in classes.items() if isinstance(parsed, cls))
    return Parsed(name, job_from(COMMANDS[name].job, parsed), parsed.verbose, not parsed.no_progress)


def _globals_after_command(args: list[str]) -> list[str]:
    """`cgcnn -v predict ...` → `cgcnn predict ... -v`: tyro reads a command's options after its name."""
    flags = {"-v", "--verbose", "--no-progress"}
    lead = 0
    while lead < len(args) and args[lead] in flags:
        lead += 1
    return args[lead:lead + 1] + args[:lead] + args[lead + 1:] if lead < len(args) else args


def _close_progress_bars() -> None:
    """Clear any bar an error interrupted, so that the error gets a line of its own."""
    from tqdm.auto import tqdm

    for bar in list(getattr(tqdm, "_instances", [])):
        bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parsed = parse(sys.argv[1:] if argv is None else [str(a) for a in argv])
        logging.basicConfig(level=logging.INFO if parsed.verbose else logging.WARNING,
                            format="%(levelname)s %(message)s")
        command = COMMANDS[parsed.name]
        command.report(parsed.job, parsed.job.run(parsed.progress))
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
    lines = ["# Command-line reference", "", "Generated from the jobs and settings dataclasses that the parser is "
             "built from (`cgcnn.cli.reference_markdown`). Global options, before or after the command: `-v` (log "
             "what happens), `--no-progress`.", ""]
    for name, command in COMMANDS.items():
        lines += [f"## cgcnn {name}", "", command.help[0].upper() + command.help[1:] + ".", ""]
        rows = []
        for f, hint, default, _ in job_fields(command.job):
            shown = "required" if default is ... else f"`{default}`"
            option = f.name.upper() if f.name in POSITIONAL else f"`{option_name(f)}`"
            rows.append(f"| {option} | {_type_text(hint)} | {shown} | {f.metadata.get('help', '')} |")
        if command.job is TrainJob:
            rows.append(f"| `--config` | str | `None` | {RECIPE_HELP} |")
        lines += ["| option | type | default | meaning |", "|---|---|---|---|", *rows, ""] if rows else []
    return "\n".join(lines)


def _type_text(hint: Any) -> str:
    """`Literal['a', 'b']` → 'a / b', `int | None` → 'int', `list[float]` → 'floats' (for the reference)."""

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
