"""The `cgcnn` command: parses arguments and calls the library. Errors in input → one line, exit code 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import CgcnnError

log = logging.getLogger("cgcnn")


def _add_data_options(p):
    p.add_argument("--targets", type=lambda s: s.split(","), help="table layout: comma-separated target columns")
    p.add_argument("--id-column", default="id", help="table layout: the id column (default: id, else row number)")
    p.add_argument("--structure-column", help="table layout: column holding a structure file path or text")
    p.add_argument("--atom-init", help="element feature table, original atom_init.json format")


def _add_model_options(p):
    g = p.add_argument_group("model")
    g.add_argument("--task", choices=["regression", "classification"], default="regression")
    g.add_argument("--conv", choices=["gated", "shared"], default="gated", help="Eq. 5 (gated) or Eq. 4 (shared)")
    g.add_argument("--atom-fea-len", type=int, default=64)
    g.add_argument("--h-fea-len", type=int, default=128)
    g.add_argument("--n-conv", type=int, default=3)
    g.add_argument("--n-h", type=int, default=1)
    g.add_argument("--radius", type=float, default=8.0, help="neighbour cutoff in Å")
    g.add_argument("--max-neighbors", type=int, default=12)
    g.add_argument("--gaussian-step", type=float, default=0.2, help="Gaussian spacing and width in Å")
    g.add_argument("--pooling", choices=["full", "linear"], default="full",
                   help="linear: a scalar per atom, pooled, so predictions split exactly into site contributions")
    g.add_argument("--site-reduction", choices=["mean", "sum"], default="mean",
                   help="linear pooling: mean for per-atom targets (eV/atom), sum for per-cell targets (eV/cell)")


def _add_training_options(p):
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=30)
    g.add_argument("--batch-size", type=int, default=256)
    g.add_argument("--optim", choices=["sgd", "adam", "adamw"], default="sgd")
    g.add_argument("--lr", type=float, default=0.01)
    g.add_argument("--momentum", type=float, default=0.9)
    g.add_argument("--weight-decay", type=float, default=0.0)
    g.add_argument("--scheduler", choices=["step", "cosine", "none"], default="step")
    g.add_argument("--lr-milestones", type=int, nargs="+", default=[100])
    g.add_argument("--loss", choices=["mse", "l1", "huber"], default="mse")
    g.add_argument("--patience", type=int, help="early stopping: epochs without a better validation score")
    g.add_argument("--split", type=float, nargs=3, default=[0.6, 0.2, 0.2], metavar=("TRAIN", "VAL", "TEST"),
                   help="ratios (≤ 1) or sizes of the train/val/test splits")
    g.add_argument("--split-file", help="JSON of train/val/test ids (a run's split.json); overrides --split")
    g.add_argument("--warmup-epochs", type=int, default=0, help="linear learning-rate warm-up epochs")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--ensemble", type=int, default=1, metavar="K",
                   help="train K models from seeds seed..seed+K-1 on one split; predictions give mean and std")
    g.add_argument("--init-seed", type=int, help="seed of the weights and shuffling alone (default: --seed); "
                   "train ensemble member k elsewhere with --init-seed SEED+k --out RUN/member-k")
    g.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    g.add_argument("--loader-workers", type=int, default=0, help="data-loader processes during training")
    g.add_argument("--max-batch-atoms", type=int, help="cap on atoms per batch (a larger crystal goes alone)")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    g.add_argument("--compile", action="store_true", help="torch.compile the model for training (faster steps)")


def _add_featurize_options(p):
    from .featurize import default_workers

    p.add_argument("--workers", type=int, default=default_workers(),
                   help="processes that read crystals and build graphs (default: all cores)")
    p.add_argument("--cache-dir", help="graph store folder (default: $CGCNN_CACHE_DIR or ~/.cache/cgcnn)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out unusable crystals, listed with their reasons in skipped.csv, instead of stopping")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cgcnn", description=__import__("cgcnn").__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model on a dataset")
    p.add_argument("data", help="folder in the original layout (ID.cif + id_prop.csv) or a CSV/JSON table")
    p.add_argument("--out", required=True, help="run folder for checkpoints, log, metrics, predictions")
    _add_data_options(p)
    _add_model_options(p)
    _add_training_options(p)
    _add_featurize_options(p)

    p = sub.add_parser("featurize", help="build the graph store of a dataset (done by train when missing)")
    p.add_argument("data", help="folder in the original layout or a CSV/JSON table")
    _add_data_options(p)
    p.add_argument("--radius", type=float, default=8.0)
    p.add_argument("--max-neighbors", type=int, default=12)
    _add_featurize_options(p)

    p = sub.add_parser("predict", help="predict with a trained model or an original CGCNN checkpoint")
    p.add_argument("inputs", nargs="+", help="structure files, folders of them, dataset folders or tables")
    p.add_argument("--model", required=True,
                   help="shipped model name (see `cgcnn models`), model or ensemble file, or original .pth.tar")
    p.add_argument("--out", required=True, help="CSV to write: id,prediction[,...]")
    p.add_argument("--atom-init", help="element table for original checkpoints (default: the data's, else the original's)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1, help="processes that read crystals and build graphs")
    p.add_argument("--skip-bad", action="store_true", help="leave out unusable crystals (listed in OUT.skipped.csv)")

    sub.add_parser("models", help="list the trained models shipped with cgcnn (for --model NAME)")

    p = sub.add_parser("explain", help="per-site contributions to each prediction (CSV, one row per site)")
    p.add_argument("inputs", nargs="+", help="structure files, folders of them, dataset folders or tables")
    p.add_argument("--model", required=True, help="shipped model name, model or ensemble file")
    p.add_argument("--out", required=True, help="CSV to write: id,site,element,x,y,z,contribution,method")
    p.add_argument("--atom-init", help="element table for original checkpoints")

    p = sub.add_parser("screen", help="rank candidate cubic ABX3 perovskites by predicted formation energy")
    p.add_argument("--model", required=True, help="a model of formation energy per 5-atom cell (eV/cell)")
    p.add_argument("--a", required=True, type=lambda s: s.split(","), help="A-site elements, comma-separated")
    p.add_argument("--b", required=True, type=lambda s: s.split(","), help="B-site elements, comma-separated")
    p.add_argument("--x", type=lambda s: s.split(","), help="X-site sets (default: O3,O2N,ON2,N3,O2F,ONF,O2S)")
    p.add_argument("--out", required=True, help="ranked CSV")

    p = sub.add_parser("demo", help="train on the embedded formation-energy data and report")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--epochs", type=int, default=None, help="override the demo's number of epochs")
    return parser


def _configs(args):
    from .model import ModelConfig
    from .train import TrainConfig

    model = ModelConfig(
        atom_fea_len=args.atom_fea_len, h_fea_len=args.h_fea_len, n_conv=args.n_conv, n_h=args.n_h,
        conv=args.conv, task=args.task, radius=args.radius, max_neighbors=args.max_neighbors,
        gaussian_step=args.gaussian_step, pooling=args.pooling, site_reduction=args.site_reduction,
    )
    train = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optim, lr=args.lr,
        momentum=args.momentum, weight_decay=args.weight_decay, scheduler=args.scheduler,
        lr_milestones=args.lr_milestones, loss=args.loss, patience=args.patience, split=args.split,
        split_file=args.split_file, warmup_epochs=args.warmup_epochs, ensemble=args.ensemble,
        seed=args.seed, init_seed=args.init_seed, device=args.device, workers=args.workers,
        loader_workers=args.loader_workers,
        max_batch_atoms=args.max_batch_atoms, cache_dir=args.cache_dir, compile=args.compile,
        skip_bad=args.skip_bad,
    )
    return model, train


def run_train(args):
    from .train import train

    model, cfg = _configs(args)
    result = train(args.data, args.out, model, cfg, atom_init=args.atom_init, targets=args.targets,
                   id_column=args.id_column, structure_column=args.structure_column, resume=args.resume,
                   progress=not args.no_progress)
    print(json.dumps(result, indent=2))


def run_featurize(args):
    from .featurize import featurize

    report = featurize(args.data, args.radius, args.max_neighbors, args.workers, args.cache_dir,
                       targets=args.targets, id_column=args.id_column, structure_column=args.structure_column,
                       progress=not args.no_progress, skip_bad=args.skip_bad)
    print(json.dumps(report, indent=2))


def run_predict(args):
    from .predict import predict_files, skipped_path

    report = predict_files(args.model, args.inputs, args.out, args.atom_init, args.batch_size, args.device,
                           args.workers, args.skip_bad)
    skipped = f"; {report['skipped']} skipped, see {skipped_path(args.out)}" if report["skipped"] else ""
    print(f"wrote {report['predicted']} predictions to {args.out}{skipped}")


def run_models(args):
    from .models import shipped_models

    for name, info in shipped_models().items():
        test = ", ".join(f"{k} {v}" for k, v in info["test"].items())
        print(f"{name:18} {info['target']} [{info['unit']}] — test {test} ({info['training_data']})")


def run_explain(args):
    from .explain import explain_files

    report = explain_files(args.model, args.inputs, args.out, args.atom_init)
    print(f"wrote {report['sites']} site contributions of {report['crystals']} crystals to {args.out}")


def run_screen(args):
    from .perovskites import ANION_MIXTURES, screen

    rows = screen(args.model, args.a, args.b, args.x or ANION_MIXTURES, args.out)
    stable = sum(r[-1] for r in rows)
    print(f"ranked {len(rows)} candidates ({stable} predicted below 0.2 eV/atom) in {args.out}")


def run_demo(args):
    from .demo import run_demo as demo

    report = demo(args.out, epochs=args.epochs, progress=not args.no_progress)
    print(report)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    handlers = {"train": run_train, "featurize": run_featurize, "predict": run_predict, "models": run_models,
                "explain": run_explain, "screen": run_screen, "demo": run_demo}
    try:
        handlers[args.command](args)
    except CgcnnError as exc:
        print(f"cgcnn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cgcnn: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
