#!/usr/bin/python3
"""torchvision's keep list for tests/ops/nms_test.cpp (Nms.MatchesTorchvision).

Usage: nms_torchvision.py BASE THRESHOLD plain|batched [BASE THRESHOLD plain|batched ...]
For each case reads BASE.boxes (f32 [N,4]), BASE.scores (f32 [N]) and BASE.classes (i64 [N]), runs
torchvision.ops.nms (plain) or batched_nms (batched) on the CPU and writes the kept indices as
i64 to BASE.keep.
"""
import sys

import numpy as np
import torch
import torchvision


def run(base, threshold, kind):
    boxes = torch.from_numpy(np.fromfile(base + ".boxes", dtype=np.float32).reshape(-1, 4))
    scores = torch.from_numpy(np.fromfile(base + ".scores", dtype=np.float32))
    classes = torch.from_numpy(np.fromfile(base + ".classes", dtype=np.int64))
    if kind == "plain":
        keep = torchvision.ops.nms(boxes, scores, threshold)
    else:
        keep = torchvision.ops.batched_nms(boxes, scores, classes, threshold)
    keep.numpy().astype(np.int64).tofile(base + ".keep")


if __name__ == "__main__":
    args = sys.argv[1:]
    for i in range(0, len(args), 3):
        run(args[i], float(args[i + 1]), args[i + 2])
