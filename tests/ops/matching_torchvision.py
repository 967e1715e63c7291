#!/usr/bin/python3
"""torchvision's Matcher for tests/ops/matching_test.cpp (Matching.MatchesTorchvision).

Usage: matching_torchvision.py BASE G P HIGH LOW ALLOW [BASE G P HIGH LOW ALLOW ...]
For each case reads BASE.iou (f32 [G,P]), runs torchvision.models.detection._utils.Matcher(HIGH, LOW, ALLOW != 0)
on it and writes the matches as i64 to BASE.matches.
"""
import sys

import numpy as np
import torch
from torchvision.models.detection._utils import Matcher


def run(base, g, p, high, low, allow):
    g, p, high, low, allow = int(g), int(p), float(high), float(low), int(allow) != 0
    iou = torch.from_numpy(np.fromfile(base + ".iou", dtype=np.float32).reshape(g, p))
    Matcher(high, low, allow)(iou).numpy().astype(np.int64).tofile(base + ".matches")


if __name__ == "__main__":
    args = sys.argv[1:]
    for i in range(0, len(args), 6):
        run(*args[i:i + 6])
