"""Child process for hls4ml's C simulation: build the shared library with g++ and run samples.

Run as ``python -m codegen.csim PROJECT_DIR IN.npz OUT.npz``; a C++ assert or crash kills only this
process. ``IN.npz`` holds ``x`` (N, n_in) float64, ``n_out``, ``build`` (0/1) and optionally
``trace_names``/``trace_sizes`` (record those layers' outputs for every sample).
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import subprocess
import sys

import numpy as np
import numpy.ctypeslib as npc

PROJECT = "myproject"


def build(project_dir: str) -> str:
    """Run ``build_lib.sh`` (g++); return the path of the shared library. Raises on failure."""
    res = subprocess.run(
        ["bash", "build_lib.sh"], cwd=project_dir, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        tail = (res.stdout + res.stderr).strip().splitlines()[-20:]
        raise RuntimeError("g++ build failed:\n" + "\n".join(tail))
    return library(project_dir)


def library(project_dir: str) -> str:
    with open(os.path.join(project_dir, "build_lib.sh")) as fh:
        text = fh.read()
    m = re.search(r"^LIB_STAMP=(\S+)", text, re.M)
    if m:
        path = os.path.join(project_dir, "firmware", f"{PROJECT}-{m.group(1)}.so")
        if os.path.exists(path):
            return path
    found = glob.glob(os.path.join(project_dir, "firmware", "*.so"))
    if not found:
        raise RuntimeError("no compiled library in firmware/")
    return found[0]


def run(project_dir: str, in_path: str, out_path: str) -> None:
    data = np.load(in_path)
    x = np.ascontiguousarray(data["x"], dtype=np.float64)
    n_out = int(data["n_out"])
    lib_path = build(project_dir) if int(data["build"]) else library(project_dir)
    lib = ctypes.cdll.LoadLibrary(lib_path)
    top = getattr(lib, f"{PROJECT}_double")
    top.restype = None
    dptr = npc.ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")
    top.argtypes = [dptr, dptr]
    names = [str(n) for n in data["trace_names"]] if "trace_names" in data else []
    sizes = [int(s) for s in data["trace_sizes"]] if "trace_sizes" in data else []
    traces: dict[str, list[np.ndarray]] = {n: [] for n in names}
    if names:

        class TraceData(ctypes.Structure):
            _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]

        lib.allocate_trace_storage.argtypes = [ctypes.c_size_t]
        lib.collect_trace_output.argtypes = [ctypes.POINTER(TraceData)]
        lib.allocate_trace_storage(ctypes.sizeof(ctypes.c_double))
        n_traced = int(data["n_traced"])
        buf = (TraceData * n_traced)()
        size_of = dict(zip(names, sizes, strict=True))
    out = np.zeros((x.shape[0], n_out), dtype=np.float64)
    cwd = os.getcwd()
    os.chdir(os.path.join(project_dir, "firmware"))
    try:
        for i in range(x.shape[0]):
            y = np.zeros(n_out, dtype=np.float64)
            top(np.ascontiguousarray(x[i]), y)
            out[i] = y
            if names:
                lib.collect_trace_output(buf)
                for t in buf:
                    nm = t.name.decode()
                    if nm in traces:
                        arr = ctypes.cast(t.data, ctypes.POINTER(ctypes.c_double))
                        traces[nm].append(np.ctypeslib.as_array(arr, shape=(size_of[nm],)).copy())
    finally:
        os.chdir(cwd)
    extra = {f"trace:{k}": np.asarray(v) for k, v in traces.items() if v}
    np.savez(out_path, y=out, **extra)


if __name__ == "__main__":
    try:
        run(sys.argv[1], sys.argv[2], sys.argv[3])
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(3)
