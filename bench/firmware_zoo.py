"""Firmware bench: the MobileNetV2-style and ResNet-20-style zoo networks (``mobilenetv2_fm``,
``resnet20_fm``, 1x28x28) trained briefly on Fashion-MNIST in the fixed family at a mixed
allocation, emitted as io_stream hls4ml projects for the FPGA plan of
``accel_configs/fpga_xc7z020.yaml``, and C-simulated bit-exactly on held-out samples.

Per network it prints and writes (``bench/results/firmware_zoo/results.md`` and ``.json``): the
allocation, the training steps and time, test accuracy of the PyTorch model and of the float64
emulation of the firmware, the emit time, the g++ compile + C-simulation time, the verify line
(max |diff| must be 0) and the budgeted design's totals next to the emitted one's.

    python3 bench/firmware_zoo.py                      # both networks (~15-30 min on 2 cores)
    python3 bench/firmware_zoo.py --nets resnet20_fm --steps 50 --samples 20 --out /tmp/fz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# a fixed mixed pattern of (w, a) bits for the searched layers, cycled in layer order
PATTERN = [(4, 4), (2, 3), (3, 4), (4, 2), (3, 3), (2, 4)]


def mixed_allocation(wl):  # noqa: ANN001, ANN201 - hwsim types
    from hwsim import Allocation

    names = wl.names
    bits = {n: PATTERN[i % len(PATTERN)] for i, n in enumerate(names[1:-1])}
    bits[names[0]] = bits[names[-1]] = (8, 8)
    return Allocation(bits, [names[0], names[-1]])


def run_net(name: str, steps: int, samples: int, out: Path, data_dir: str | None) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from codegen.emit import emit
    from codegen.emulate import emulate
    from codegen.export import export_model
    from hwsim import load_config
    from search.convert import LayerPolicy, convert_fixed, export_fixed
    from search.data import load_dataset
    from search.trace import trace_workload
    from search.zoo import build_model

    torch.manual_seed(0)
    train_set, test_set, info = load_dataset("fmnist", data_dir)
    shape = tuple(int(s) for s in info["input_shape"])
    model = build_model(name, num_classes=10, input_shape=shape)
    wl = trace_workload(model, shape, batch=1, name=name)
    alloc = mixed_allocation(wl)
    convert_fixed(model, alloc, "fixed", LayerPolicy())
    loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    t0 = time.perf_counter()
    done = 0
    while done < steps:
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
            if done >= steps:
                break
    train_s = time.perf_counter() - t0
    model.eval()
    n_test = 1000
    tx = torch.stack([test_set[i][0] for i in range(n_test)])
    ty = torch.tensor([int(test_set[i][1]) for i in range(n_test)])
    with torch.no_grad():
        acc = float((model(tx).argmax(1) == ty).float().mean())
    calib = torch.stack([train_set[i][0] for i in range(512)]).double().numpy()
    qm = export_model(*export_fixed(model, alloc), shape)
    proj = out / name
    t0 = time.perf_counter()
    res = emit(
        qm,
        proj,
        accel=load_config(ROOT / "accel_configs" / "fpga_xc7z020.yaml"),
        samples=tx[:samples].double().numpy(),
        calib=calib,
        force=True,
        progress=False,
    )
    emit_s = time.perf_counter() - t0
    # the firmware's accuracy: its bit-exact float64 emulation on the C-simulated samples
    xq = res.plan.input_type.cast(tx[:samples].double().numpy())
    y_emul, _ = emulate(res.plan, xq)
    y_torch = ty[:samples].numpy()
    acc_emul = float((np.argmax(y_emul.reshape(samples, -1), axis=1) == y_torch).mean())
    b, e = res.budgeted.totals(), res.emitted.totals()
    return {
        "net": name,
        "layers": len(wl),
        "allocation": {n: list(v) for n, v in alloc.bits.items()},
        "float_layers": alloc.float_layers,
        "train_steps": steps,
        "train_batch": 64,
        "train_s": round(train_s, 1),
        "accuracy_torch": acc,
        "accuracy_firmware_emulation": acc_emul,
        "test_samples": n_test,
        "emulation_samples": samples,
        "io_type": res.io_type,
        "emit_s": round(emit_s, 1),
        "csim_s": round(res.verify.csim_seconds, 1),
        "verify": res.verify.to_dict(),
        "budgeted_totals": b,
        "emitted_totals": e,
        "differs": res.differs,
        "hls_layers": len(res.plan.nodes),
        "notes": res.notes,
    }


def table(rows: list[dict]) -> str:
    head = (
        "| network | MAC layers | hls4ml layers | train steps (s) | top-1 torch (1000 test) /"
        " firmware emulation (C-simulated samples)"
        " | emit total (s) | g++ compile + C-sim (s) | verify | budgeted = emitted |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['net']} | {r['layers']} | {r['hls_layers']} | {r['train_steps']} ({r['train_s']})"
            f" | {100 * r['accuracy_torch']:.1f}% / {100 * r['accuracy_firmware_emulation']:.1f}%"
            f" | {r['emit_s']} | {r['csim_s']} | {r['verify']['line']}"
            f" | {'yes' if not r['differs'] else '; '.join(r['differs'])} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=["mobilenetv2_fm", "resnet20_fm"])
    ap.add_argument("--steps", type=int, default=300, help="Adam steps of batch 64 (default 300)")
    ap.add_argument("--samples", type=int, default=200, help="C-simulated samples (default 200)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "firmware_zoo"))
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    projects = Path("/tmp") / f"firmware_zoo_projects_{out.name}"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for net in args.nets:
        r = run_net(net, args.steps, args.samples, projects, args.data_dir)
        print(json.dumps({k: r[k] for k in ("net", "train_s", "emit_s", "csim_s")}), flush=True)
        print(r["verify"]["line"], flush=True)
        rows.append(r)
    md = [
        "# Firmware of the zoo networks: bit-exact C simulation",
        "",
        f"`python3 bench/firmware_zoo.py --steps {args.steps} --samples {args.samples}`"
        " (shared 2-core CPU, torch 1 thread; times are wall seconds on a machine shared with"
        " other jobs). Fashion-MNIST, fixed family, first/last layer float (8/8), other layers"
        f" cycling through {PATTERN} (w/a bits). FPGA plan: accel_configs/fpga_xc7z020.yaml"
        " (io_stream). Projects were written to " + str(projects) + " (not committed).",
        "",
        table(rows),
        "",
    ]
    for r in rows:
        md += [f"## {r['net']}", "", "Budgeted / emitted totals (hwsim):", ""]
        md += [f"- budgeted: {r['budgeted_totals']}", f"- emitted: {r['emitted_totals']}", ""]
        md += ["Notes:", ""] + [f"- {n}" for n in r["notes"]] + [""]
    (out / "results.md").write_text("\n".join(md))
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    return 0 if all(r["verify"]["exact"] == r["verify"]["samples"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
