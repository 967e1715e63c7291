#!/usr/bin/env python3
"""COCO bbox evaluation with a Python peer, timed in phases, for benchmarks/coco_eval.sh and the
tests: pycocotools (the reference) or faster-coco-eval (a C++ core behind pycocotools' API).
Prints the evaluator's own summary, then one line per phase "time PHASE SECONDS" (load = both
JSON files into COCO objects, evaluate, accumulate, summarize, total) and the twelve numbers as
"stats v0 ... v11" with 17 significant digits. With --per-category, also
"category ID AP" (AP @[.50:.95 | all | 100], -1 for no ground truth) and, with --arrays PREFIX,
eval['precision'] [T, R, K, A, M] and eval['recall'] [T, K, A, M] as raw little-endian float64
(C order) in PREFIX.precision and PREFIX.recall.
Usage: coco_eval_py.py {pycocotools,faster} GT.json DETS.json [--per-category] [--arrays PREFIX]
"""
import argparse
import contextlib
import io
import sys
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("impl", choices=["pycocotools", "faster"])
    ap.add_argument("gt")
    ap.add_argument("dets")
    ap.add_argument("--per-category", action="store_true")
    ap.add_argument("--arrays", default="")
    a = ap.parse_args()
    if a.impl == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as COCOeval

    times = {}
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(a.gt)
        dt = gt.loadRes(a.dets)
    t1 = time.perf_counter()
    times["load"] = t1 - t0
    ev = COCOeval(gt, dt, "bbox")
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet):
        ev.evaluate()
        t2 = time.perf_counter()
        ev.accumulate()
        t3 = time.perf_counter()
    ev.summarize()
    t4 = time.perf_counter()
    times.update(evaluate=t2 - t1, accumulate=t3 - t2, summarize=t4 - t3, total=t4 - t0)
    for k, v in times.items():
        print(f"time {k} {v:.6f}")
    print("stats " + " ".join(f"{float(s):.17g}" for s in ev.stats[:12]))
    precision = np.asarray(ev.eval["precision"], dtype="<f8")
    if a.per_category:
        for k, cat in enumerate(ev.params.catIds):
            s = precision[:, :, k, 0, -1]
            ap_k = float(np.mean(s[s > -1])) if (s > -1).any() else -1.0
            print(f"category {cat} {ap_k:.17g}")
    if a.arrays:
        np.ascontiguousarray(precision).tofile(a.arrays + ".precision")
        np.ascontiguousarray(np.asarray(ev.eval["recall"], dtype="<f8")).tofile(a.arrays + ".recall")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
