"""cost_tables evaluates each distinct layer once (hwsim/tables.py): the tables equal the model's
own evaluation of every layer, and per-layer settings keyed by name keep equal layers apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from hwsim import LayerSpec, Workload, cost_tables, load_config
from hwsim.config import parse_config
from hwsim.tables import _distinct_layers

ROOT = Path(__file__).resolve().parents[1]
FPGA = ROOT / "accel_configs" / "fpga_xc7z020.yaml"
W, A = [2, 4, 8], [3, 8]


def _direct(wl: Workload, cfg) -> dict[str, np.ndarray]:
    """Every layer through the model, no deduplication."""
    L = wl.arrays().reshape((len(wl), 1, 1))
    w = np.asarray(W, float).reshape(1, -1, 1)
    a = np.asarray(A, float).reshape(1, 1, -1)
    shape = (len(wl), len(W), len(A))
    return {k: np.broadcast_to(v, shape) for k, v in cfg.model.evaluate(L, w, a).items()}


def test_resnet50_has_24_distinct_layers_in_order_of_appearance():
    wl = Workload.load(ROOT / "tests" / "data" / "resnet50_workload.yaml")
    sub, inv = _distinct_layers(wl.arrays(), names_matter=False)
    assert (len(wl), len(sub)) == (54, 24)
    assert list(sub.names[:2]) == [wl.names[0], wl.names[1]]
    assert np.all(np.diff(np.unique(inv, return_index=True)[1]) > 0)  # first uses in order
    for f in ("macs", "reduction", "cout", "is_first"):
        np.testing.assert_array_equal(getattr(sub, f)[inv], getattr(wl.arrays(), f), err_msg=f)
    same, ident = _distinct_layers(wl.arrays(), names_matter=True)
    assert len(same) == 54 and np.array_equal(ident, np.arange(54))


def test_fpga_tables_equal_the_model_on_every_layer():
    wl = Workload.load(ROOT / "tests" / "data" / "resnet50_workload.yaml")
    cfg = load_config(FPGA)
    assert not cfg.model.layer_names_matter()
    got, ref = cost_tables(wl, cfg, W, A), _direct(wl, cfg)
    assert set(got) == set(ref)
    for k in got:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_per_layer_override_keeps_equal_layers_apart():
    raw = yaml.safe_load(FPGA.read_text())
    raw["reuse"]["overrides"] = {"c": {"rf": 4, "strategy": "Resource"}}
    cfg = parse_config(raw, "override.yaml")
    assert cfg.model.layer_names_matter()
    layers = [LayerSpec(n, "linear", 64, 64) for n in ("a", "b", "c", "d")]
    wl = Workload("four_equal", layers)
    got = cost_tables(wl, cfg, W, A)
    ref = _direct(wl, cfg)
    for k in got:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    assert np.all(got["reuse_factor"][2] == 4) and not np.any(got["reuse_factor"][1] == 4)
    np.testing.assert_array_equal(got["lut"][1], got["lut"][3])  # b and d: no override
