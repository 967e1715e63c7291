#!/usr/bin/python3
"""torchvision peer of attncamp's RoIAlign benchmarks; prints the comparison table.

Reads what attncamp_roi_align_bench (CPU) or attncamp_roi_align_gpu_bench (CUDA) wrote to --dir:
ours.tsv (tag, pass, what, size, ms) and <tag>.bin per size (the header of
benchmarks/roi_align_inputs.h, then f32 arrays: the channels-last map [B,H,W,C], rois [K,5], the
pooled gradient [K,ph,pw,C], attncamp's output and grad_input). For each size it times
torchvision.ops.roi_align (aligned=True) and its backward kernel torch.ops.torchvision._roi_align_backward
on the same values, transposed to torchvision's NCHW layout (attncamp reads channels-last), in the
benchmark's dtype (bf16 has no torchvision kernel: f32 instead, said in the table; in f16
torchvision also takes the rois in f16, which the difference column then shows), and compares the
outputs. On the CPU with torch.set_num_threads(--threads) (torchvision's CPU RoIAlign loops run on
one thread whatever that number), median wall time; on CUDA the mean of CUDA-event-timed runs.
Table: what, size, attncamp ms, torchvision ms, ratio (torchvision / attncamp, above 1: attncamp
faster) and max|attncamp - torchvision| / (1 + max|torchvision|).
"""
import argparse
import os
import statistics
import struct
import sys
import time

import torch
from torchvision.ops import roi_align

HEADER = struct.Struct("<8qd")


def load_case(path):
    """The sizes and tensors of one <tag>.bin (CPU f32)."""
    with open(path, "rb") as f:
        data = f.read()
    b, h, w, c, k, ph, pw, ratio, scale = HEADER.unpack_from(data, 0)
    values = torch.frombuffer(bytearray(data[HEADER.size :]), dtype=torch.float32)
    shapes = {"map": (b, h, w, c), "rois": (k, 5), "grad": (k, ph, pw, c), "out": (k, ph, pw, c), "grad_in": (b, h, w, c)}
    tensors, at = {}, 0
    for name, shape in shapes.items():
        n = 1
        for s in shape:
            n *= s
        tensors[name] = values[at : at + n].reshape(shape)
        at += n
    assert at == values.numel(), f"{path}: size does not match its header"
    return dict(b=b, h=h, w=w, c=c, ph=ph, pw=pw, ratio=ratio, scale=scale), tensors


def timer(device, warmup, iters):
    """Returns time(fn) -> ms: the median wall time on the CPU, the CUDA-event mean on the GPU."""
    if device == "cuda":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from cuda_timing import time_ms

        return lambda fn: time_ms(fn, warmup, iters)

    def cpu_ms(fn):
        for _ in range(warmup):
            fn()
        ms = []
        for _ in range(iters):
            t0 = time.perf_counter()
            fn()
            ms.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ms)

    return cpu_ms


def rel_diff(ours, ref):
    ref = ref.double()
    return float((ours.double() - ref).abs().max() / (1.0 + ref.abs().max()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="where the attncamp benchmark wrote ours.tsv and <tag>.bin")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    time_ms = timer(args.device, args.warmup, args.iters)

    dtype_name, rows = "f32", []
    with open(os.path.join(args.dir, "ours.tsv")) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "#dtype":
                dtype_name = fields[1]
            else:
                rows.append(fields)
    dtype = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.float32}[dtype_name]
    peer_note = "" if dtype_name != "bf16" else " (torchvision in f32: it has no bf16 RoIAlign)"

    table, peer = [], {}
    for tag, pass_, what, size, ms in rows:
        if tag not in peer:
            p, t = load_case(os.path.join(args.dir, tag + ".bin"))
            x = t["map"].permute(0, 3, 1, 2).contiguous().to(dev, dtype)
            rois = t["rois"].to(dev, dtype)
            grad = t["grad"].permute(0, 3, 1, 2).contiguous().to(dev, dtype)
            size_hw = (p["ph"], p["pw"])
            fwd = lambda: roi_align(x, rois, size_hw, p["scale"], p["ratio"], True)
            bwd = lambda: torch.ops.torchvision._roi_align_backward(
                grad, rois, p["scale"], p["ph"], p["pw"], p["b"], p["c"], p["h"], p["w"], p["ratio"], True
            )
            out, gin = fwd(), bwd()
            peer[tag] = {
                "fwd": (time_ms(fwd), rel_diff(t["out"], out.permute(0, 2, 3, 1).cpu())),
                "bwd": (time_ms(bwd), rel_diff(t["grad_in"], gin.permute(0, 2, 3, 1).cpu())),
            }
            peer[tag]["bwd-det"] = (peer[tag]["bwd"][0], float("nan"))
        peer_ms, diff = peer[tag][pass_]
        table.append((f"{pass_} {what}", size, float(ms), peer_ms, diff))

    where = f"CPU, {args.threads} thread(s)" if args.device == "cpu" else torch.cuda.get_device_name()
    print(f"\nRoIAlign, attncamp (channels-last) vs torchvision {__import__('torchvision').__version__} "
          f"(NCHW, same values), {dtype_name}{peer_note}, {where}")
    print(f"{'what':<48} {'size':<14} {'attncamp ms':>12} {'torchvision ms':>15} {'ratio':>7} {'max rel diff':>13}")
    for what, size, ours, theirs, diff in table:
        d = "-" if diff != diff else f"{diff:.1e}"
        print(f"{what:<48} {size:<14} {ours:>12.3f} {theirs:>15.3f} {theirs / ours:>7.2f} {d:>13}")


if __name__ == "__main__":
    main()
