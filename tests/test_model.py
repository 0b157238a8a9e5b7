import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch.nn import functional as F

from cgcnn.model import safe_load
from cgcnn.graphs.elements import default_table, load_table_file, table_to_tensor
from cgcnn.model import CrystalGraphConvNet, ModelConfig
from cgcnn.apps.predict import Predictor, load_model
from conftest import read_cif


def random_predictor(conv="gated", task="regression", n_outputs=1, seed=0):
    torch.manual_seed(seed)
    config = ModelConfig(conv=conv, task=task, n_outputs=n_outputs, n_conv=2)
    return Predictor(CrystalGraphConvNet(config, table_to_tensor(default_table())).eval(), ["y"] * n_outputs)


def rotated(structure, seed=1):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))  # a proper rotation
    return Structure(Lattice(structure.lattice.matrix @ q.T), structure.species, structure.frac_coords)


def translated(structure):
    return Structure(structure.lattice, structure.species, structure.frac_coords + [0.137, 0.42, 0.9])


def permuted(structure, seed=2):
    order = np.random.default_rng(seed).permutation(len(structure))
    return Structure(structure.lattice, [structure.species[k] for k in order], structure.frac_coords[order])


def supercell(structure):
    return structure.make_supercell([2, 2, 2], in_place=False)


@pytest.mark.parametrize("conv", ["gated", "shared"])
@pytest.mark.parametrize("transform", [rotated, translated, permuted, supercell])
def test_prediction_is_invariant(tiny100, conv, transform):
    predictor = random_predictor(conv)
    for crystal_id in (1, 2, 3):
        structure = read_cif(tiny100 / f"{crystal_id}.cif")
        before, after = predictor.predict([structure, transform(structure)])[:, 0]
        assert after == pytest.approx(before, abs=1e-4)


@pytest.mark.parametrize("conv", ["gated", "shared"])
def test_evaluation_in_edge_blocks_gives_the_same_bits(tiny100, conv, monkeypatch):
    """Evaluation sums each convolution's messages block by block (cache-sized); the bits must not move."""
    from cgcnn.model import layers

    predictor = random_predictor(conv)
    for layer in predictor.model.convs:  # batch norm with statistics of its own, as a trained model has
        for module in layer.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0, 0.3)
                module.running_var.uniform_(0.5, 2.0)
    structures = [read_cif(tiny100 / f"{k}.cif") for k in range(12)]
    monkeypatch.setattr(layers, "EDGE_BLOCK", 10**9)
    whole = predictor.predict(structures)
    monkeypatch.setattr(layers, "EDGE_BLOCK", 37)  # many blocks, one cut mid-atom
    np.testing.assert_array_equal(predictor.predict(structures), whole)


def test_training_in_edge_blocks_is_the_same_function(tiny100, monkeypatch):
    """Training sums batch norm's statistics block by block: loss, gradients and running statistics must
    match the whole-batch path to float precision."""
    import copy

    from cgcnn.graphs.batching import GraphDataset, loader
    from cgcnn.model import layers

    predictor = random_predictor()
    graphs, _ = predictor.structure_graphs([read_cif(tiny100 / f"{k}.cif") for k in range(16)])
    (batch,) = loader(GraphDataset(graphs), 16, n_atoms=[g.n_atoms for g in graphs])
    monkeypatch.setattr(layers, "EDGE_BLOCK", 50)  # many blocks, one cut mid-atom
    found = {}
    for name, pays in (("whole", lambda edges, training: False), ("blocks", layers._blocks_pay)):
        monkeypatch.setattr(layers, "_blocks_pay", pays)
        model = copy.deepcopy(predictor.model).train()
        loss = model(batch).square().mean()
        loss.backward()
        found[name] = (loss, {k: p.grad for k, p in model.named_parameters()}, dict(model.named_buffers()))
    (loss, grads, buffers), (loss_b, grads_b, buffers_b) = found["whole"], found["blocks"]
    torch.testing.assert_close(loss_b, loss, rtol=1e-5, atol=0)
    for key, grad in grads.items():
        if "fc_full.bias" not in key:  # batch norm cancels this bias: its gradient is rounding noise
            torch.testing.assert_close(grads_b[key], grad, rtol=1e-4, atol=1e-6, msg=key)
    for key, value in buffers.items():
        if "running" in key or "tracked" in key:
            torch.testing.assert_close(buffers_b[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_output_shapes_for_targets_and_classes(tiny100):
    structures = [read_cif(tiny100 / f"{k}.cif") for k in range(4)]
    assert random_predictor(n_outputs=3).predict(structures).shape == (4, 3)
    probabilities = random_predictor(task="classification", n_outputs=3).predict(structures)
    assert probabilities.shape == (4, 3)
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)


def test_accepts_ase_atoms(tiny100):
    from pymatgen.io.ase import AseAtomsAdaptor

    structure = read_cif(tiny100 / "5.cif")
    predictor = random_predictor()
    np.testing.assert_allclose(predictor.predict(AseAtomsAdaptor.get_atoms(structure)),
                               predictor.predict(structure), atol=1e-6)


# ---------------------------------------------------------------- the original published models


def original_dense_prediction(structure, checkpoint, table):
    """The original algorithm, written out: get_all_neighbors, per-atom sort, dense N×12 tensors."""
    sd = {k: v.double() for k, v in checkpoint["state_dict"].items()}
    nbrs = [sorted(n, key=lambda x: x[1])[:12] for n in structure.get_all_neighbors(8, include_index=True)]
    assert all(len(n) == 12 for n in nbrs)
    idx = torch.tensor([[x[2] for x in n] for n in nbrs])
    dist = torch.tensor([[x[1] for x in n] for n in nbrs], dtype=torch.float64)
    gauss = torch.exp(-((dist[..., None] - torch.from_numpy(np.arange(0, 8.2, 0.2))) ** 2) / 0.2**2)
    x = table[torch.tensor(structure.atomic_numbers)].double() @ sd["embedding.weight"].T + sd["embedding.bias"]

    def bn(v, name):
        return (v - sd[f"{name}.running_mean"]) / torch.sqrt(sd[f"{name}.running_var"] + 1e-5) * sd[
            f"{name}.weight"] + sd[f"{name}.bias"]

    for c in range(checkpoint["args"]["n_conv"]):
        n, m = idx.shape
        z = torch.cat([x[:, None].expand(n, m, x.shape[1]), x[idx], gauss], 2)
        z = bn(z @ sd[f"convs.{c}.fc_full.weight"].T + sd[f"convs.{c}.fc_full.bias"], f"convs.{c}.bn1")
        gate, core = z.chunk(2, dim=2)
        x = F.softplus(x + bn((torch.sigmoid(gate) * F.softplus(core)).sum(1), f"convs.{c}.bn2"))
    h = F.softplus(F.softplus(x.mean(0)) @ sd["conv_to_fc.weight"].T + sd["conv_to_fc.bias"])
    out = h @ sd["fc_out.weight"].T + sd["fc_out.bias"]
    if checkpoint["args"]["task"] == "classification":
        return float(torch.softmax(out, 0)[1])
    return float(out[0] * checkpoint["normalizer"]["std"] + checkpoint["normalizer"]["mean"])


def test_original_checkpoints_match_the_original_algorithm(tiny100, original, pretrained):
    table = table_to_tensor(load_table_file(original / "atom_init.json"))
    structures = [read_cif(tiny100 / f"{k}.cif") for k in (0, 17, 20, 30, 42, 58, 77, 93)]
    models = sorted(pretrained.glob("*.pth.tar"))
    assert len(models) == 8
    for path in models:
        predictor = load_model(path, original / "atom_init.json")
        ours = predictor.predict(structures)
        ours = ours[:, 1] if predictor.is_classifier else ours[:, 0]
        reference = [original_dense_prediction(s, safe_load(path), table) for s in structures]
        np.testing.assert_allclose(ours, reference, atol=1e-4, err_msg=path.name)


def test_edge_features_hold_no_subnormal_floats():
    """Gaussians far from a distance are 0, not subnormal (slow on many CPUs); the others are the formula's."""
    from cgcnn.model.layers import GaussianExpansion

    expansion = GaussianExpansion(0.0, 8.0, 0.2)
    distances = torch.linspace(0.5, 8.0, 5001)
    edges = expansion(distances)
    formula = torch.exp(-((distances[:, None] - expansion.centers) ** 2) / expansion.width**2)
    assert ((formula > 0) & (formula < torch.finfo(torch.float32).tiny)).any()  # what the cut removes
    assert not ((edges > 0) & (edges < torch.finfo(torch.float32).tiny)).any()
    kept = edges > 0
    assert torch.equal(edges[kept], formula[kept]) and formula[~kept].max() < 1e-29
