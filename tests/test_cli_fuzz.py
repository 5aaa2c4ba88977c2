"""CLI fuzz table: malformed invocations of every command fail the same way.

Each case runs ``edmips`` or ``hwsim`` in-process (``main(argv)``) and asserts: exit code 2,
exactly one line on stderr, that line naming the file, key or value at fault, no "Traceback",
and nothing written (the input folder and the case's output folder are unchanged). A few cases
run as subprocesses to check the same at the process level. The last tests interrupt a stage
(SIGINT, SIGKILL) and check a re-run finishes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from edmips.cli import main as edmips_main
from hwsim.cli import main as hwsim_main

ROOT = Path(__file__).resolve().parents[1]
ACC = ROOT / "accel_configs"
STRIPES = ACC / "stripes.yaml"
BITFUSION = ACC / "bitfusion_eyeriss.yaml"
FPGA = ACC / "fpga_xc7z020.yaml"
UNWRITABLE = "/sys/edmips-fuzz-out"  # sysfs refuses new files, even to root

WORKLOAD = {
    "version": 1,
    "name": "tiny",
    "layers": [
        {"name": "c1", "kind": "conv", "in_channels": 1, "out_channels": 4, "kernel": 3,
         "padding": 1, "in_hw": [8, 8]},
        {"name": "fc", "kind": "linear", "in_channels": 256, "out_channels": 10},
    ],
}  # fmt: skip
ALLOC = {"version": 1, "layers": {"c1": {"w": 4, "a": 4}, "fc": {"w": 8, "a": 8}}}


def _experiment(**edits: object) -> dict:
    raw = yaml.safe_load((ROOT / "examples" / "digits_fpga.yaml").read_text())
    for key, value in edits.items():
        *parents, last = key.split("__")
        d = raw
        for p in parents:
            d = d[p]
        d[last] = value
    return raw


def _write_inputs(d: Path) -> None:
    """The fixture files every case draws on (good ones and broken ones)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "w.yaml").write_text(yaml.safe_dump(WORKLOAD))
    (d / "alloc.yaml").write_text(yaml.safe_dump(ALLOC))
    (d / "empty.yaml").write_text("")
    (d / "comments.yaml").write_text("# nothing but a comment\n")
    (d / "bin.yaml").write_bytes(bytes(range(256)) * 8)
    (d / "bin.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)
    (d / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (d / "list.yaml").write_text("- type: systolic\n- 2\n")
    (d / "scalar.yaml").write_text("42\n")
    (d / "trunc.yaml").write_text(STRIPES.read_text()[:300].rstrip() + ": [1, 2\n")
    (d / "folder").mkdir(exist_ok=True)
    (d / "afile").write_text("not a folder\n")
    stripes = yaml.safe_load(STRIPES.read_text())
    (d / "acc_key.yaml").write_text(yaml.safe_dump({**stripes, "colour": "red"}))
    (d / "acc_type.yaml").write_text(
        yaml.safe_dump({**stripes, "tech": {**stripes["tech"], "freq_mhz": "fast"}})
    )
    (d / "acc_range.yaml").write_text(
        yaml.safe_dump({**stripes, "tech": {**stripes["tech"], "freq_mhz": -5}})
    )
    (d / "acc_kind.yaml").write_text(yaml.safe_dump({**stripes, "type": "quantum"}))
    wl_key = yaml.safe_load(yaml.safe_dump(WORKLOAD))
    wl_key["layers"][0]["colour"] = "red"
    (d / "wl_key.yaml").write_text(yaml.safe_dump(wl_key))
    wl_type = yaml.safe_load(yaml.safe_dump(WORKLOAD))
    wl_type["layers"][0]["in_channels"] = "three"
    (d / "wl_type.yaml").write_text(yaml.safe_dump(wl_type))
    wl_neg = yaml.safe_load(yaml.safe_dump(WORKLOAD))
    wl_neg["layers"][1]["out_channels"] = -10
    (d / "wl_neg.yaml").write_text(yaml.safe_dump(wl_neg))
    (d / "bad.csv").write_text(
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,"
        " Num Filter, Strides,\nconv1, 8, 8, 3, x, 1, 4, 1,\n"
    )
    (d / "alloc_layer.yaml").write_text(
        yaml.safe_dump({"version": 1, "layers": {**ALLOC["layers"], "ghost": {"w": 4, "a": 4}}})
    )
    (d / "alloc_zero.yaml").write_text(
        yaml.safe_dump({"version": 1, "layers": {**ALLOC["layers"], "c1": {"w": 0, "a": 4}}})
    )
    (d / "alloc_33.yaml").write_text(
        yaml.safe_dump({"version": 1, "layers": {**ALLOC["layers"], "fc": {"w": 8, "a": 33}}})
    )
    (d / "bin.pt").write_bytes(os.urandom(4096))
    (d / "empty.pt").write_bytes(b"")
    torch.save([1, 2, 3], d / "list.pt")
    torch.save({"version": 1, "kind": "search"}, d / "search.pt")
    torch.save({"version": 1, "kind": "trained"}, d / "incomplete.pt")
    exps = {
        "exp_key.yaml": _experiment(colour="red"),
        "exp_type.yaml": _experiment(train__epochs="many"),
        "exp_range.yaml": _experiment(emit__verify=-3),
        "exp_accel.yaml": _experiment(search__accel="no_such_accel.yaml"),
        "exp_bits.yaml": _experiment(baselines=["2/2", "0/4"]),
        "exp_target.yaml": _experiment(search__target="latency=2parsecs"),
    }
    for name, raw in exps.items():
        (d / name).write_text(yaml.safe_dump(raw))


# (id, argv with {d} = the input folder and {o} = the case's empty output folder, the text the
# one error line must contain)
SIM = ["--accel", str(STRIPES), "--bits", "4/4"]
HW = ["hwsim", "--workload", "{d}/w.yaml"]
SEARCH = ["edmips", "search", "--model", "digits_mlp", "--no-progress", "--out", "{o}/s"]
TRAIN = ["edmips", "train", "--model", "digits_mlp", "--no-progress", "--out", "{o}/t"]
EMIT = ["edmips", "emit", "--no-progress"]
PARETO = ["edmips", "pareto", "--no-progress", "--out", "{o}/p"]
CASES = [
    # hwsim: workload files
    ("hw-wl-missing", ["hwsim", "--workload", "{d}/nope.yaml", *SIM], "nope.yaml: file not found"),
    ("hw-wl-empty", ["hwsim", "--workload", "{d}/empty.yaml", *SIM], "empty.yaml: empty file"),
    ("hw-wl-comments", ["hwsim", "--workload", "{d}/comments.yaml", *SIM], "comments.yaml: holds no"),
    ("hw-wl-binary", ["hwsim", "--workload", "{d}/bin.yaml", *SIM], "bin.yaml: a binary file"),
    ("hw-wl-latin1", ["hwsim", "--workload", "{d}/latin.yaml", *SIM], "latin.yaml: not UTF-8"),
    ("hw-wl-folder", ["hwsim", "--workload", "{d}/folder", *SIM], "folder: is a folder"),
    ("hw-wl-list", ["hwsim", "--workload", "{d}/list.yaml", *SIM], "list.yaml: expected a mapping"),
    ("hw-wl-scalar", ["hwsim", "--workload", "{d}/scalar.yaml", *SIM], "scalar.yaml: expected a"),
    ("hw-wl-trunc", ["hwsim", "--workload", "{d}/trunc.yaml", *SIM], "trunc.yaml: not valid YAML"),
    ("hw-wl-key", ["hwsim", "--workload", "{d}/wl_key.yaml", *SIM], "unknown key 'colour'"),
    ("hw-wl-type", ["hwsim", "--workload", "{d}/wl_type.yaml", *SIM], "in_channels"),
    ("hw-wl-neg", ["hwsim", "--workload", "{d}/wl_neg.yaml", *SIM], "out_channels"),
    ("hw-csv-binary", ["hwsim", "--workload", "{d}/bin.csv", *SIM], "bin.csv: a binary file"),
    ("hw-csv-value", ["hwsim", "--workload", "{d}/bad.csv", *SIM], "bad.csv: line 2"),
    # hwsim: accelerator configs
    ("hw-acc-missing", [*HW, "--bits", "4/4", "--accel", "{d}/nope.yaml"], "nope.yaml: file not"),
    ("hw-acc-empty", [*HW, "--bits", "4/4", "--accel", "{d}/empty.yaml"], "empty.yaml: empty"),
    ("hw-acc-binary", [*HW, "--bits", "4/4", "--accel", "{d}/bin.yaml"], "bin.yaml: a binary"),
    ("hw-acc-folder", [*HW, "--bits", "4/4", "--accel", "{d}/folder"], "folder: is a folder"),
    ("hw-acc-list", [*HW, "--bits", "4/4", "--accel", "{d}/list.yaml"], "list.yaml: expected a"),
    ("hw-acc-key", [*HW, "--bits", "4/4", "--accel", "{d}/acc_key.yaml"], "'colour': unknown key"),
    ("hw-acc-type", [*HW, "--bits", "4/4", "--accel", "{d}/acc_type.yaml"], "tech.freq_mhz"),
    ("hw-acc-range", [*HW, "--bits", "4/4", "--accel", "{d}/acc_range.yaml"], "tech.freq_mhz"),
    ("hw-acc-kind", [*HW, "--bits", "4/4", "--accel", "{d}/acc_kind.yaml"], "'quantum'"),
    # hwsim: bits
    ("hw-bits-0", [*HW, "--accel", str(STRIPES), "--bits", "0/0"], "bits '0/0'"),
    ("hw-bits-33", [*HW, "--accel", str(STRIPES), "--bits", "33/8"], "bits '33/8'"),
    ("hw-bits-ab", [*HW, "--accel", str(STRIPES), "--bits", "a/b"], "bits 'a/b'"),
    ("hw-bits-4", [*HW, "--accel", str(STRIPES), "--bits", "4"], "bits '4'"),
    ("hw-firstlast", [*HW, *SIM, "--first-last", "9/x"], "bits '9/x'"),
    # hwsim: allocation files
    ("hw-alloc-binary", [*HW, "--accel", str(STRIPES), "--alloc", "{d}/bin.yaml"], "bin.yaml: a"),
    ("hw-alloc-empty", [*HW, "--accel", str(STRIPES), "--alloc", "{d}/empty.yaml"], "empty.yaml"),
    ("hw-alloc-folder", [*HW, "--accel", str(STRIPES), "--alloc", "{d}/folder"], "is a folder"),
    ("hw-alloc-list", [*HW, "--accel", str(STRIPES), "--alloc", "{d}/list.yaml"], "list.yaml"),
    ("hw-alloc-layer", [*HW, "--accel", str(STRIPES), "--alloc", "{d}/alloc_layer.yaml"], "ghost"),
    ("hw-alloc-zero", [*HW, "--accel", str(STRIPES), "--alloc", "{d}/alloc_zero.yaml"], "got 0"),
    ("hw-alloc-33", [*HW, "--accel", str(STRIPES), "--alloc", "{d}/alloc_33.yaml"], "got 33"),
    # hwsim: outputs
    ("hw-json-exists", [*HW, *SIM, "--json", "{d}/afile"], "afile: already exists"),
    ("hw-json-under-file", [*HW, *SIM, "--json", "{d}/afile/r.json"], "afile is a file"),
    ("hw-json-unwritable", [*HW, *SIM, "--json", UNWRITABLE + "/r.json"], "cannot write in /sys"),
    ("hw-plot-folder", [*HW, *SIM, "--plot", "{d}/folder"], "--plot"),
    ("hw-md-under-file", [*HW, *SIM, "--markdown", "{d}/afile/x/r.md"], "afile is a file"),
    # edmips simulate
    ("sim-model", ["edmips", "simulate", "--model", "vgg", *SIM], "'vgg'"),
    ("sim-shape-small", ["edmips", "simulate", "--model", "digits_cnn", "--input-shape", "1x2x2",
                         *SIM], "[1, 2, 2]"),
    ("sim-shape-zero", ["edmips", "simulate", "--model", "digits_cnn", "--input-shape", "0x8x8",
                        *SIM], "'0x8x8'"),
    ("sim-shape-text", ["edmips", "simulate", "--model", "digits_cnn", "--input-shape", "big",
                        *SIM], "'big'"),
    ("sim-shape-2d", ["edmips", "simulate", "--model", "digits_cnn", "--input-shape", "8x8",
                      *SIM], "'8x8'"),
    ("sim-batch", ["edmips", "simulate", "--model", "digits_cnn", "--batch", "0", *SIM], "--batch 0"),
    ("sim-both", ["edmips", "simulate", "--model", "digits_cnn", "--workload", "{d}/w.yaml", *SIM],
     "either --model or --workload"),
    ("sim-alloc-binary", ["edmips", "simulate", "--model", "digits_cnn", "--accel", str(STRIPES),
                          "--alloc", "{d}/bin.yaml"], "bin.yaml: a binary"),
    ("sim-json-exists", ["edmips", "simulate", "--model", "digits_cnn", *SIM, "--json",
                         "{d}/afile"], "afile: already exists"),
    # edmips search
    ("search-unit", [*SEARCH, "--accel", str(STRIPES), "--target", "latency=2parsecs"], "2parsecs"),
    ("search-negative", [*SEARCH, "--accel", str(STRIPES), "--target", "latency=-1ms"], "-1ms"),
    ("search-metric", [*SEARCH, "--accel", str(STRIPES), "--target", "colour=0.5x"], "colour"),
    ("search-metric-flag", [*SEARCH, "--metric", "speed", "--lambda", "1"], "'speed'"),
    ("search-impossible", [*SEARCH, "--accel", str(BITFUSION), "--target", "latency=0.01x"],
     "infeasible"),
    ("search-wbits-0", [*SEARCH, "--target", "bitops=0.5x", "--w-bits", "0,2"], "'0,2'"),
    ("search-wbits-33", [*SEARCH, "--target", "bitops=0.5x", "--w-bits", "2,33"], "'2,33'"),
    ("search-wbits-text", [*SEARCH, "--target", "bitops=0.5x", "--a-bits", "four"], "'four'"),
    ("search-5bit-bitfusion", [*SEARCH, "--accel", str(BITFUSION), "--target", "latency=0.5x",
                               "--w-bits", "5", "--a-bits", "5"], "weight bits [5]"),
    ("search-accel-binary", [*SEARCH, "--accel", "{d}/bin.yaml", "--target", "latency=0.5x"],
     "bin.yaml: a binary"),
    ("search-model", [*SEARCH, "--model", "vgg", "--target", "bitops=0.5x"], "'vgg'"),
    ("search-out-file", ["edmips", "search", "--target", "bitops=0.5x", "--out", "{d}/afile"],
     "afile: exists and is a file"),
    ("search-out-under-file", ["edmips", "search", "--target", "bitops=0.5x", "--out",
                               "{d}/afile/sub"], "afile is a file"),
    ("search-out-unwritable", ["edmips", "search", "--target", "bitops=0.5x", "--out", UNWRITABLE],
     "cannot write in /sys"),
    # edmips train
    ("train-out-file", [*TRAIN[:-1], "{d}/afile", "--bits", "2/2"], "afile: exists and is a file"),
    ("train-out-under-file", [*TRAIN[:-1], "{d}/afile/sub", "--bits", "2/2"], "afile is a file"),
    ("train-out-unwritable", [*TRAIN[:-1], UNWRITABLE, "--bits", "2/2"], "cannot write in /sys"),
    ("train-alloc-binary", [*TRAIN, "--allocation", "{d}/bin.yaml"], "bin.yaml: a binary"),
    ("train-alloc-empty", [*TRAIN, "--allocation", "{d}/empty.yaml"], "empty.yaml: empty"),
    ("train-alloc-folder", [*TRAIN, "--allocation", "{d}/folder"], "folder: is a folder"),
    ("train-alloc-model", [*TRAIN, "--allocation", "{d}/alloc.yaml"], "'digits_mlp'"),
    ("train-bits-0", [*TRAIN, "--bits", "0/0"], "'0/0'"),
    ("train-bits-ab", [*TRAIN, "--bits", "a/b"], "'a/b'"),
    ("train-bits-str", [*TRAIN, "--bits", "4"], "'4'"),
    ("train-epochs", [*TRAIN, "--bits", "2/2", "--epochs", "0"], "--epochs 0"),
    ("train-model", [*TRAIN, "--model", "vgg", "--bits", "2/2"], "'vgg'"),
    ("train-family", [*TRAIN, "--bits", "2/2", "--family", "float"], "'float'"),
    ("train-data", [*TRAIN, "--bits", "2/2", "--data", "mnist"], "'mnist'"),
    ("train-fmnist-dir", [*TRAIN, "--bits", "2/2", "--data", "fmnist", "--data-dir",
                          "{d}/folder"], "folder"),
    # edmips evaluate
    ("eval-missing", ["edmips", "evaluate", "--model-file", "{d}/nope.pt"], "nope.pt"),
    ("eval-empty", ["edmips", "evaluate", "--model-file", "{d}/empty.pt"], "empty.pt"),
    ("eval-binary", ["edmips", "evaluate", "--model-file", "{d}/bin.pt"], "bin.pt"),
    ("eval-folder", ["edmips", "evaluate", "--model-file", "{d}/folder"], "folder"),
    ("eval-list", ["edmips", "evaluate", "--model-file", "{d}/list.pt"], "list.pt"),
    ("eval-kind", ["edmips", "evaluate", "--model-file", "{d}/search.pt"], "'search'"),
    ("eval-incomplete", ["edmips", "evaluate", "--model-file", "{d}/incomplete.pt"],
     "incomplete.pt: key 'allocation' missing"),
    ("eval-yaml", ["edmips", "evaluate", "--model-file", "{d}/w.yaml"], "w.yaml"),
    ("eval-accel-binary", ["edmips", "evaluate", "--model-file", "{d}/bin.pt", "--accel",
                           "{d}/bin.yaml"], "bin.yaml: a binary"),
    ("eval-json-exists", ["edmips", "evaluate", "--model-file", "{d}/bin.pt", "--json",
                          "{d}/afile"], "afile: already exists"),
    # edmips emit
    ("emit-model-binary", [*EMIT, "--model-file", "{d}/bin.pt", "--out", "{o}/fw"], "bin.pt"),
    ("emit-model-kind", [*EMIT, "--model-file", "{d}/search.pt", "--out", "{o}/fw"], "'search'"),
    ("emit-zoo", [*EMIT, "--zoo", "vgg", "--bits", "4/4", "--out", "{o}/fw"], "'vgg'"),
    ("emit-out-file", [*EMIT, "--zoo", "digits_cnn", "--bits", "4/4", "--out", "{d}/afile"],
     "afile: exists and is a file"),
    ("emit-out-unwritable", [*EMIT, "--zoo", "digits_cnn", "--bits", "4/4", "--out", UNWRITABLE],
     "cannot write in /sys"),
    ("emit-accel-folder", [*EMIT, "--zoo", "digits_cnn", "--bits", "4/4", "--accel", "{d}/folder",
                           "--out", "{o}/fw"], "folder: is a folder"),
    ("emit-alloc-binary", [*EMIT, "--zoo", "digits_cnn", "--alloc", "{d}/bin.yaml", "--out",
                           "{o}/fw"], "bin.yaml: a binary"),
    ("emit-verify", [*EMIT, "--zoo", "digits_cnn", "--bits", "4/4", "--verify", "lots", "--out",
                     "{o}/fw"], "'lots'"),
    # edmips run
    ("run-missing", ["edmips", "run", "{d}/nope.yaml", "--out", "{o}/r"], "nope.yaml: file not"),
    ("run-empty", ["edmips", "run", "{d}/empty.yaml", "--out", "{o}/r"], "empty.yaml: empty"),
    ("run-binary", ["edmips", "run", "{d}/bin.yaml", "--out", "{o}/r"], "bin.yaml: a binary"),
    ("run-folder", ["edmips", "run", "{d}/folder", "--out", "{o}/r"], "folder: is a folder"),
    ("run-list", ["edmips", "run", "{d}/list.yaml", "--out", "{o}/r"], "list.yaml: expected a"),
    ("run-trunc", ["edmips", "run", "{d}/trunc.yaml", "--out", "{o}/r"], "trunc.yaml: not valid"),
    ("run-key", ["edmips", "run", "{d}/exp_key.yaml", "--out", "{o}/r"], "colour: unknown key"),
    ("run-type", ["edmips", "run", "{d}/exp_type.yaml", "--out", "{o}/r"], "train.epochs: 'many'"),
    ("run-range", ["edmips", "run", "{d}/exp_range.yaml", "--out", "{o}/r"], "emit.verify: -3"),
    ("run-accel", ["edmips", "run", "{d}/exp_accel.yaml", "--out", "{o}/r"], "no_such_accel.yaml"),
    ("run-bits", ["edmips", "run", "{d}/exp_bits.yaml", "--out", "{o}/r"], "baselines[1]"),
    ("run-target", ["edmips", "run", "{d}/exp_target.yaml", "--out", "{o}/r"], "2parsecs"),
    ("run-out-file", ["edmips", "run", str(ROOT / "examples" / "digits_fpga.yaml"), "--out",
                      "{d}/afile"], "afile"),
    ("run-out-under-file", ["edmips", "run", str(ROOT / "examples" / "digits_fpga.yaml"), "--out",
                            "{d}/afile/sub"], "afile is a file"),
    ("run-out-unwritable", ["edmips", "run", str(ROOT / "examples" / "digits_fpga.yaml"), "--out",
                            UNWRITABLE], "cannot write in /sys"),
    ("run-stage", ["edmips", "run", "{d}/exp_key.yaml", "--stages", "deploy"], "'deploy'"),
    # edmips pareto
    ("pareto-accel-binary", [*PARETO, "--accel", "{d}/bin.yaml"], "bin.yaml: a binary"),
    ("pareto-accel-missing", [*PARETO, "--accel", "{d}/nope.yaml"], "nope.yaml: file not found"),
    ("pareto-targets", [*PARETO, "--accel", str(STRIPES), "--targets", ","], "','"),
    ("pareto-uniform", [*PARETO, "--accel", str(STRIPES), "--uniform", "0/0"], "0/0"),
    ("pareto-metric", [*PARETO, "--accel", str(STRIPES), "--metric", "speed"], "'speed'"),
    ("pareto-wbits", [*PARETO, "--accel", str(STRIPES), "--w-bits", "2,33"], "'2,33'"),
    ("pareto-out-file", ["edmips", "pareto", "--accel", str(STRIPES), "--out", "{d}/afile"],
     "afile: exists and is a file"),
    # no command, unknown command
    ("edmips-unknown-command", ["edmips", "deploy"], "'deploy'"),
    ("hwsim-no-workload", ["hwsim", *SIM], "--workload"),
]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz_inputs")
    _write_inputs(d)
    return d


def _snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folders`` with, for files, size and mtime (ns): what 'nothing written'
    means (a folder's own mtime moves when a writability probe comes and goes)."""
    seen = {}
    for f in folders:
        for p in [f, *f.rglob("*")]:
            st = p.lstat()
            seen[str(p)] = (0, 0) if p.is_dir() else (st.st_size, st.st_mtime_ns)
    return seen


def _call(argv: list[str]) -> int:
    prog, *rest = argv
    return (hwsim_main if prog == "hwsim" else edmips_main)(rest)


def test_table_is_big_and_covers_every_command() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)
    commands = {c[1][0] if c[1][0] == "hwsim" else c[1][1] for c in CASES}
    assert {
        "hwsim",
        "simulate",
        "search",
        "train",
        "evaluate",
        "emit",
        "run",
        "pareto",
    } <= commands


@pytest.mark.parametrize(("argv", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_invocation_fails_in_one_line(
    argv: list[str],
    expect: str,
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)  # defaults such as runs/... would land here
    args = [a.replace("{d}", str(inputs)).replace("{o}", str(out)) for a in argv]
    before = _snapshot(inputs, out)
    rc = _call(args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    assert "error: " in lines[0] and expect in lines[0], lines[0]
    assert _snapshot(inputs, out) == before, "output left behind"
    assert not Path(UNWRITABLE).exists()


SUBPROCESS_CASES = [
    ["hwsim", "--workload", "{d}/w.yaml", "--accel", str(STRIPES), "--alloc", "{d}/bin.yaml"],
    ["edmips", "train", "--bits", "2/2", "--no-progress", "--out", "{d}/afile"],
    ["edmips", "run", "{d}/exp_key.yaml", "--out", "{o}/r"],
]


@pytest.mark.parametrize("argv", SUBPROCESS_CASES, ids=lambda a: "-".join(a[:2]))
def test_as_a_process_no_traceback(argv: list[str], inputs: Path, tmp_path: Path) -> None:
    """The three tracebacks of issue 9 (binary --alloc; train --out a file, which used to fail
    after training) and an experiment error, as real processes."""
    args = [a.replace("{d}", str(inputs)).replace("{o}", str(tmp_path)) for a in argv]
    if args[0] == "hwsim":
        cmd = [sys.executable, "-c", "import sys; from hwsim.cli import main; sys.exit(main())"]
    else:
        cmd = [sys.executable, "-m", "edmips"]
    before = _snapshot(inputs, tmp_path)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd + args[1:], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert _snapshot(inputs, tmp_path) == before
    assert time.perf_counter() - t0 < 60  # refused up front, not after training
