"""Settings live once, in the config dataclasses: they check themselves when built, and the command line
is generated from them (names, defaults, help)."""

from dataclasses import fields
from pathlib import Path

import pytest

from cgcnn.apps.jobs import FeaturizeJob, TrainJob
from cgcnn.cli import command_class, flat_settings, main, option_name, parse
from cgcnn.config import ConfigError, DataLayout, GraphConfig, ModelConfig, PredictConfig, TrainConfig
from cgcnn.graphs.store import cache_dir


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(optimizer="sgdd"), "optimizer (--optim) must be one of sgd, adam, adamw, not 'sgdd'"),
    (lambda: TrainConfig(scheduler="linear"), "scheduler (--scheduler) must be one of step, cosine, none"),
    (lambda: TrainConfig(batch_size=0), "batch_size (--batch-size) must be a number ≥ 1"),
    (lambda: TrainConfig(split=[0.8, 0.2]), "split (--split) takes three non-negative numbers"),
    (lambda: ModelConfig(conv="gatd"), "conv (--conv) must be one of gated, shared"),
    (lambda: ModelConfig(atom_fea_len=0), "atom_fea_len (--atom-fea-len) must be a number ≥ 1"),
    (lambda: GraphConfig(radius=-1.0), "radius (--radius) must be a number ≥ 0.001"),
    (lambda: PredictConfig(workers=0), "workers (--workers) must be a number ≥ 1"),
])
def test_a_config_refuses_a_bad_value_when_it_is_built(make, message):
    with pytest.raises(ConfigError) as caught:
        make()
    assert message in str(caught.value)


@pytest.mark.parametrize("bad", [["--optim", "sgdd"], ["--atom-fea-len", "0"], ["--split", "0.5"]])
def test_a_bad_setting_stops_train_before_any_graph_is_built(tmp_path, capsys, bad):
    data = tmp_path / "data"
    data.mkdir()
    cache = tmp_path / "cache"
    try:
        code = main(["train", str(data), "--out", str(tmp_path / "run"), "--cache-dir", str(cache), *bad])
    except SystemExit as exit:  # the parser's own refusal (a value outside the choices)
        code = exit.code
    assert code == 2 and not cache.exists() and not (tmp_path / "run").exists()
    assert bad[0] in capsys.readouterr().err


def test_train_options_are_the_config_fields_with_their_defaults():
    cls = command_class("train", TrainJob)
    options = {f.name for f in fields(cls)}
    for config in (DataLayout, ModelConfig, TrainConfig):
        assert {f.name for f in fields(config) if f.metadata["cli"]} <= options
    job = parse(["train", "data", "--out", "run"]).job
    assert isinstance(job, TrainJob) and (job.data, job.out) == ("data", "run")
    assert job.network == ModelConfig() and job.training == TrainConfig() and job.layout == DataLayout()


def test_every_option_has_help_and_its_default_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for config in (ModelConfig, TrainConfig):
        for f in fields(config):
            if f.metadata["cli"]:
                assert option_name(f) in text and " ".join(f.metadata["help"].split()[:3]) in text
    assert "training epochs (default: 30)" in text and "--optim {sgd,adam,adamw}" in text


def test_featurize_shares_the_graph_defaults():
    job = parse(["featurize", "data"]).job
    assert isinstance(job, FeaturizeJob) and job.graph == GraphConfig()
    assert (ModelConfig().radius, ModelConfig().max_neighbors) == (job.graph.radius, job.graph.max_neighbors)
    assert flat_settings(parse(["featurize", "data", "--radius", "5"]).job)["radius"] == 5.0


def test_global_options_work_before_and_after_the_command(capsys):
    assert main(["-v", "--no-progress", "models"]) == 0
    assert main(["models", "--no-progress", "-v"]) == 0
    assert "formation-energy" in capsys.readouterr().out


def test_the_default_cache_follows_the_platform(monkeypatch, tmp_path):
    from platformdirs import user_cache_dir

    monkeypatch.delenv("CGCNN_CACHE_DIR", raising=False)
    assert cache_dir() == Path(user_cache_dir("cgcnn", appauthor=False))
    monkeypatch.setenv("CGCNN_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path and cache_dir(tmp_path / "x") == tmp_path / "x"


def test_a_job_built_in_python_does_what_its_command_does(tmp_path, tiny100):
    from cgcnn.apps.jobs import PredictJob

    cif = str(tiny100 / "0.cif")
    assert main(["predict", cif, "--model", "formation-energy", "--out", str(tmp_path / "cli.csv"),
                 "--no-progress"]) == 0
    job = parse(["predict", cif, "--model", "formation-energy", "--out", str(tmp_path / "cli.csv")]).job
    assert job == PredictJob(inputs=[cif], model="formation-energy", out=str(tmp_path / "cli.csv"))
    report = PredictJob(inputs=[cif], model="formation-energy", out=str(tmp_path / "py.csv")).run(progress=False)
    assert report["predicted"] == 1
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
