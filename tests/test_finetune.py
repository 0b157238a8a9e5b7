"""Fine-tuning (`cgcnn train --init-from MODEL`): from each kind of model, head kept or replaced, frozen parts
unchanged, target scaling refitted, conflicting settings refused. Real crystals from the embedded data."""

import json

import numpy as np
import pytest
import torch
from conftest import PRETRAINED, embedded_rows, need, write_table
from test_cli import run_cli

from cgcnn import DataLayout, ModelConfig, TrainConfig, load_model, train
from cgcnn.config import ConfigError
from cgcnn.graphs.batching import GraphDataset, collate
from cgcnn.model import model_from_file, models_from_file
from cgcnn.model.catalogue import resolve_model
from cgcnn.training.finetune import freeze, parameter_groups, start_from
from cgcnn.training.loop import make_optimizer

QUICK = dict(epochs=2, optimizer="adam", lr=1e-3, scheduler="none", batch_size=16)
SHIPPED = "formation-energy"  # an ensemble of 3, target formation_energy_per_atom


def shifted_table(path, rows, name="formation_energy_per_atom", shift=0.0, scale=1.0):
    """The rows as a table whose target is the formation energy under another name and scale."""
    rows = [{**r, name: float(r["formation_energy_per_atom"]) * scale + shift} for r in rows]
    return write_table(path, rows, ["id", "cif", name])


def test_kept_head_starts_from_exactly_the_source_predictions(tmp_path):
    """Same target: the output layer is kept and rescaled to the refitted target scaling, so before any
    training step the model predicts what the source predicts."""
    rows = embedded_rows(40)
    predictor = load_model(SHIPPED)
    graphs = predictor.graphs_for([r["cif"] for r in rows], [r["id"] for r in rows])
    batch = collate([GraphDataset(graphs)[k] for k in range(len(graphs))])
    source = predictor.models[1]
    model = type(source)(ModelConfig(**{**source.config.to_dict()}), source.element_features)
    model.target_mean.fill_(-0.7)  # scaling refitted on other data
    model.target_std.fill_(0.4)
    record = start_from(model.eval(), TrainConfig(init_from=SHIPPED, init_member=1), ["formation_energy_per_atom"])
    assert record["output_layer"] == "kept" and record["member"] == 1
    with torch.no_grad():
        torch.testing.assert_close(model.unscale(model(batch)), source.unscale(source(batch)), rtol=0, atol=1e-5)


def test_fine_tuning_a_shipped_ensemble_member_by_member(tmp_path):
    table = shifted_table(tmp_path / "data.csv", embedded_rows(60))
    result = train(table, tmp_path / "run", cfg=TrainConfig(**QUICK, ensemble=2), progress=False, init_from=SHIPPED)
    assert result["ensemble"] == 2 and result["fine_tuned_from"]["model"] == SHIPPED
    for k in range(2):
        member = json.loads((tmp_path / "run" / f"member-{k}" / "test_metrics.json").read_text())
        assert member["fine_tuned_from"]["member"] == k and member["fine_tuned_from"]["output_layer"] == "kept"
        _, _, metadata = model_from_file(tmp_path / "run" / f"member-{k}" / "best.pt")
        assert metadata["fine_tuned_from"]["model"] == SHIPPED


def test_new_target_replaces_the_head_and_refits_the_scaling(tmp_path):
    rows = embedded_rows(60)
    table = shifted_table(tmp_path / "data.csv", rows, name="energy_mev", scale=1000.0, shift=50.0)
    train(table, tmp_path / "run", cfg=TrainConfig(**QUICK, split=[0.6, 0.2, 0.2]), progress=False,
          init_from=SHIPPED)
    model, names, metadata = model_from_file(tmp_path / "run" / "best.pt")
    assert names == ["energy_mev"] and metadata["fine_tuned_from"]["output_layer"] == "replaced"
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    values = {r["id"]: float(r["formation_energy_per_atom"]) * 1000 + 50 for r in rows}
    train_values = np.array([values[i] for i in split["train"]])
    assert model.target_mean.item() == pytest.approx(train_values.mean(), rel=1e-5)
    assert model.target_std.item() == pytest.approx(train_values.std(ddof=1), rel=1e-4)
    # the copied parts really are the source's starting point: the embedding moved little in 2 epochs
    source = models_from_file(resolve_model(SHIPPED))[0][0]
    assert torch.allclose(model.embedding.weight, source.embedding.weight, atol=0.05)


def test_classifier_from_a_regression_model(tmp_path):
    rows = [{**r, "metal_like": int(float(r["formation_energy_per_atom"]) > -1)} for r in embedded_rows(60)]
    table = write_table(tmp_path / "data.csv", rows, ["id", "cif", "metal_like"])
    result = train(table, tmp_path / "run", ModelConfig(task="classification"), TrainConfig(**QUICK),
                   progress=False, init_from=SHIPPED)
    assert result["fine_tuned_from"]["output_layer"] == "replaced" and 0 <= result["test"]["accuracy"] <= 1


def test_frozen_parts_are_unchanged_after_training(tmp_path):
    table = shifted_table(tmp_path / "data.csv", embedded_rows(60), name="other")
    cfg = TrainConfig(**QUICK, init_from=SHIPPED, freeze="convs")
    train(table, tmp_path / "run", cfg=cfg, progress=False)
    tuned = model_from_file(tmp_path / "run" / "best.pt")[0].state_dict()
    source = models_from_file(resolve_model(SHIPPED))[0][0].state_dict()
    frozen = [k for k in source if k.startswith(("embedding.", "convs."))]
    assert any("running_mean" in k for k in frozen)  # batch-norm statistics are held too
    for key in frozen:
        torch.testing.assert_close(tuned[key], source[key], rtol=0, atol=0, msg=key)
    assert not torch.equal(tuned["conv_to_fc.weight"], source["conv_to_fc.weight"])  # the rest learns


def test_backbone_learns_at_a_scaled_rate():
    model = load_model(SHIPPED).models[0]
    groups = parameter_groups(model, 1e-3, 0.1)
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-4)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    freeze(model, "embedding")
    optimizer = make_optimizer(model, TrainConfig(init_from=SHIPPED, freeze="embedding", optimizer="adam", lr=1e-3))
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert id(model.embedding.weight) not in trained and id(model.convs[0].fc_full.weight) in trained


def test_fine_tuning_our_run_folder_and_an_original_checkpoint(tmp_path):
    table = shifted_table(tmp_path / "data.csv", embedded_rows(60))
    train(table, tmp_path / "first", ModelConfig(atom_fea_len=16, n_conv=1), TrainConfig(**QUICK), progress=False)
    result = train(table, tmp_path / "second", cfg=TrainConfig(**QUICK), progress=False, init_from=tmp_path / "first")
    assert result["fine_tuned_from"]["file"].endswith("best.pt")
    assert model_from_file(tmp_path / "second" / "best.pt")[0].config.atom_fea_len == 16  # the source's size

    original = need(PRETRAINED / "formation-energy-per-atom.pth.tar")
    result = train(table, tmp_path / "third", cfg=TrainConfig(**QUICK), progress=False, init_from=original)
    model = model_from_file(tmp_path / "third" / "best.pt")[0]
    assert (model.config.n_conv, model.config.h_fea_len) == (4, 32)  # the original published model's sizes
    assert result["fine_tuned_from"]["output_layer"] == "replaced"  # its target name is unknown


def test_conflicting_settings_are_refused(tmp_path, capsys):
    table = shifted_table(tmp_path / "data.csv", embedded_rows(20))
    with pytest.raises(ConfigError, match="atom_fea_len .* trained with 64"):
        train(table, tmp_path / "a", ModelConfig(atom_fea_len=32), TrainConfig(**QUICK), init_from=SHIPPED)
    with pytest.raises(ConfigError, match="radius"):
        train(table, tmp_path / "b", ModelConfig(radius=6.0), TrainConfig(**QUICK), init_from=SHIPPED)
    with pytest.raises(ConfigError, match="element table"):
        train(table, tmp_path / "c", cfg=TrainConfig(**QUICK), layout=DataLayout(atom_init=table), init_from=SHIPPED)
    with pytest.raises(ConfigError, match="--init-from"):
        TrainConfig(freeze="convs")
    members = len(load_model(SHIPPED).models)
    code, _, err = run_cli(["train", table, "--out", tmp_path / "d", "--init-from", SHIPPED, "--init-member",
                            str(members + 1)], capsys)
    assert code == 2 and f"--init-member {members + 1}" in err and f"{members} member(s)" in err
    code, _, err = run_cli(["train", table, "--out", tmp_path / "e", "--init-from", "no-such-model"], capsys)
    assert code == 2 and "no such model file, nor a shipped model name" in err
    assert not any((tmp_path / name).exists() for name in "abcde")  # refused before anything is written
