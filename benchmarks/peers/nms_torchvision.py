#!/usr/bin/python3
"""torchvision peer of benchmarks/nms_bench.cpp (CPU) and benchmarks/gpu/nms_bench.cpp (CUDA).

Reads the cases that `attncamp_nms_bench --dir DIR` (or `attncamp_gpu_nms_bench --dir DIR`) wrote:
DIR/<op>_<boxes>_<classes>.{boxes,scores,classes} (f32 [N,4], f32 [N], i64 [N]); runs
torchvision.ops.nms (op nms) or torchvision.ops.batched_nms (op batched_nms) at IoU threshold 0.5
on --device, with torch.set_num_threads(--threads) on the CPU; writes each keep list to
DIR/<case>.keep_torchvision (i64) and prints "case<TAB>ms" lines, ms the median of repeated calls
(CPU: at least 5 calls and 0.5 s after one untimed call; CUDA: CUDA events, the mean of --iters
calls after --warmup). torchvision's batched_nms picks its own path by size (per class above 1000
boxes on the CPU, 5000 on CUDA), as attncamp's does.
"""
import argparse
import glob
import os
import statistics
import time

import numpy as np
import torch
import torchvision

IOU_THRESHOLD = 0.5


def median_ms(fn):
    fn()
    times = []
    while len(times) < 5 or sum(times) < 500:
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="the folder the attncamp benchmark wrote")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--warmup", type=int, default=10, help="CUDA only")
    parser.add_argument("--iters", type=int, default=50, help="CUDA only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        from cuda_timing import time_ms
    for path in sorted(glob.glob(os.path.join(args.dir, "*.boxes"))):
        base = path[: -len(".boxes")]
        name = os.path.basename(base)
        boxes = torch.from_numpy(np.fromfile(base + ".boxes", dtype=np.float32).reshape(-1, 4)).to(dev)
        scores = torch.from_numpy(np.fromfile(base + ".scores", dtype=np.float32)).to(dev)
        classes = torch.from_numpy(np.fromfile(base + ".classes", dtype=np.int64)).to(dev)
        if name.startswith("batched_nms"):
            def call():
                return torchvision.ops.batched_nms(boxes, scores, classes, IOU_THRESHOLD)
        else:
            def call():
                return torchvision.ops.nms(boxes, scores, IOU_THRESHOLD)
        keep = call()
        keep.cpu().numpy().astype(np.int64).tofile(base + ".keep_torchvision")
        ms = time_ms(call, args.warmup, args.iters) if dev.type == "cuda" else median_ms(call)
        print(f"{name}\t{ms:.4f}", flush=True)


if __name__ == "__main__":
    main()
