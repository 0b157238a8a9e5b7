"""One dataclass per command: everything the command needs, typed, composed of the package's configs.

A job is what `cgcnn COMMAND ...` parses into (cli.py generates the options from these fields and from the
fields of each config a job holds) and what a Python user can build by hand; `job.run()` does the work and
returns the command's report (a dict; the CLI prints it). Fields that are configs (`part`) keep their own
defaults and checks; `only` names the fields of a config that the command offers (the rest keep their
defaults). A new command is a new class here, a `run` method and a line in cli.COMMANDS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import DataLayout, GraphConfig, ModelConfig, PredictConfig, TrainConfig, setting

MODEL = "shipped model name (see `cgcnn models`), model or ensemble file, or original .pth.tar"
INPUTS = "structure files, folders of them, dataset folders or tables"
RECURSIVE = "search folders for structure files in their subfolders too"
ATOM_INIT = "element table for original checkpoints"
BATCHES = ("batch_size", "device", "workers", "skip_bad")  # what commands that only read a model offer


def part(config: type, only: tuple[str, ...] | None = None) -> Any:
    """A field holding a whole config; `only`: the fields the command offers (None: every user setting)."""
    return field(default_factory=config, metadata={"part": True, "only": only})


@dataclass
class TrainJob:
    """train a model on a dataset"""

    data: str = setting(..., "folder in the original layout (ID.cif + id_prop.csv) or a CSV/JSON table")
    out: str = setting(..., "run folder for checkpoints, log, metrics, predictions")
    resume: bool = setting(False, "continue the run in --out from its last epoch")
    layout: DataLayout = part(DataLayout)
    network: ModelConfig = part(ModelConfig)
    training: TrainConfig = part(TrainConfig)

    def run(self, progress: bool = True) -> dict:
        from ..training import train

        return train(self.data, self.out, self.network, self.training, layout=self.layout, resume=self.resume,
                     progress=progress)


@dataclass
class FeaturizeJob:
    """build the graph store of a dataset (done by train when missing)"""

    data: str = setting(..., "folder in the original layout or a CSV/JSON table")
    layout: DataLayout = part(DataLayout)
    graph: GraphConfig = part(GraphConfig)
    resources: TrainConfig = part(TrainConfig, only=("workers", "cache_dir", "skip_bad"))

    def run(self, progress: bool = True) -> dict:
        from ..graphs import featurize

        return featurize(self.data, self.graph, self.resources.workers, self.resources.cache_dir, progress,
                         self.resources.skip_bad, layout=self.layout)


@dataclass
class PredictJob:
    """predict with a trained model or an original CGCNN checkpoint"""

    inputs: list[str] = setting(..., INPUTS)
    model: str = setting(..., MODEL)
    out: str = setting(..., "CSV (or .parquet) to write: id,prediction[,...]; written chunk by chunk to "
                       "OUT.partial, so that the same command resumes a killed run")
    recursive: bool = setting(False, RECURSIVE)
    resume: bool = setting(False, "insist on resuming: continue OUT.partial (or a finished OUT), never start over")
    shard: str | None = setting(None, "I/N: predict only the I-th of N equal blocks of the inputs (0-based), e.g. "
                                "one task of a SLURM array; the outputs, joined in order of I, are one run's")
    atom_init: str | None = setting(None, ATOM_INIT + " (default: the data's, else the original's)")
    settings: PredictConfig = part(PredictConfig)

    def run(self, progress: bool = True) -> dict:
        from .chunked_predict import predict_files

        s = self.settings
        return predict_files(self.model, self.inputs, self.out, self.atom_init, s.batch_size, s.device, s.workers,
                             s.skip_bad, progress=progress, interval=s.interval, recursive=self.recursive,
                             resume=True if self.resume else None, shard=shard_option(self.shard))


def shard_option(text: str | None) -> tuple[int, int] | None:
    """'2/8' → (2, 8)."""
    from ..errors import CgcnnError

    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise CgcnnError(f"--shard takes I/N, e.g. 0/4, not {text!r}") from None
    if count < 1:
        raise CgcnnError(f"--shard {text}: N, the number of blocks, is at least 1")
    return index, count


@dataclass
class EmbedJob:
    """write each crystal's vector (the pooled atom vectors that feed the model's last layers)"""

    inputs: list[str] = setting(..., INPUTS)
    model: str = setting(..., MODEL)
    out: str = setting(..., "file to write, by extension: .csv (id, e0, e1, ...), .parquet (same columns) or .npy "
                       "(vectors only; ids in OUT.ids.csv)")
    recursive: bool = setting(False, RECURSIVE)
    sites: bool = setting(False, "one row per site (id, site, element, vector) instead of per crystal")
    member: int = setting(0, "an ensemble embeds with this member (their vectors are not comparable)", min=0)
    atom_init: str | None = setting(None, ATOM_INIT)
    settings: PredictConfig = part(PredictConfig, only=BATCHES)

    def run(self, progress: bool = True) -> dict:
        from .embed import embed_files

        s = self.settings
        return embed_files(self.model, self.inputs, self.out, self.atom_init, sites=self.sites, member=self.member,
                           batch_size=s.batch_size, device=s.device, workers=s.workers, skip_bad=s.skip_bad,
                           progress=progress, recursive=self.recursive)


@dataclass
class EvaluateJob:
    """score a model on labelled data (MAE, RMSE, R²; accuracy, ROC-AUC)"""

    data: str = setting(..., "labelled data: a folder in the original layout or a CSV/JSON table")
    model: str = setting(..., MODEL)
    out: str | None = setting(None, "also write id, target(s) and prediction(s) to this CSV")
    layout: DataLayout = part(DataLayout)
    settings: PredictConfig = part(PredictConfig, only=BATCHES)

    def run(self, progress: bool = True) -> dict:
        from .evaluate import evaluate_files

        s, layout = self.settings, self.layout
        return evaluate_files(self.model, self.data, self.out, targets=layout.targets, id_column=layout.id_column,
                              structure_column=layout.structure_column, atom_init=layout.atom_init,
                              batch_size=s.batch_size, device=s.device, workers=s.workers, skip_bad=s.skip_bad,
                              progress=progress)


@dataclass
class ModelsJob:
    """list the trained models shipped with cgcnn (for --model NAME)"""

    def run(self, progress: bool = True) -> dict:
        from ..model.catalogue import shipped_models

        return shipped_models()


@dataclass
class ExplainJob:
    """per-site contributions to each prediction (CSV, one row per site)"""

    inputs: list[str] = setting(..., INPUTS)
    model: str = setting(..., MODEL)
    out: str = setting(..., "CSV to write: id,site,element,frac_x,frac_y,frac_z (fractional coordinates),"
                       "contribution,method")
    recursive: bool = setting(False, RECURSIVE)
    atom_init: str | None = setting(None, ATOM_INIT)
    html: str | None = setting(None, "also write one self-contained HTML page showing each crystal in 3D, its "
                               "atoms coloured by contribution, and a sortable table of the sites")
    png: str | None = setting(None, "also write a picture of each crystal (atoms coloured by contribution) into "
                              "this folder")

    def run(self, progress: bool = True) -> dict:
        from .explain import explain_files

        return explain_files(self.model, self.inputs, self.out, self.atom_init, recursive=self.recursive,
                             html=self.html, png=self.png)


@dataclass
class ScreenJob:
    """rank candidate cubic ABX3 perovskites by predicted formation energy"""

    model: str = setting(..., "a model of formation energy per 5-atom cell (eV/cell)")
    a: list[str] = setting(..., "A-site elements, comma-separated")
    b: list[str] = setting(..., "B-site elements, comma-separated")
    x: list[str] | None = setting(None, "X-site sets, comma-separated (default: O3,O2N,ON2,N3,O2F,ONF,O2S)")
    out: str = setting(..., "ranked CSV")

    def run(self, progress: bool = True) -> dict:
        from .perovskites import ANION_MIXTURES, STABLE_BELOW, screen

        rows = screen(self.model, self.a, self.b, self.x or ANION_MIXTURES, self.out)
        return {"candidates": len(rows), "stable": sum(r[-1] for r in rows), "stable_below": STABLE_BELOW}


@dataclass
class DemoJob:
    """train on the embedded formation-energy data and report"""

    out: str = setting("runs/demo", "run folder of the demo")
    epochs: int | None = setting(None, "override the demo's number of epochs")

    def run(self, progress: bool = True) -> dict:
        from .demo import run_demo

        return {"report": run_demo(self.out, epochs=self.epochs, progress=progress)}


__all__ = ["DemoJob", "EmbedJob", "EvaluateJob", "ExplainJob", "FeaturizeJob", "ModelsJob", "PredictJob",
           "ScreenJob", "TrainJob"]
