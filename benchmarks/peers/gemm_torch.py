#!/usr/bin/python3
"""PyTorch peer of benchmarks/gpu/gemm_bench.cpp: bf16 torch.matmul on the ViT-S/16 training shapes.

For each linear layer (qkv 384->1152, proj 384->384, fc1 384->1536, fc2 1536->384) with N = batch * 197
tokens: forward y = x W^T, backward dx = dy W and dW = dy^T x. Times each with CUDA events (mean of
--iters runs after --warmup) and prints the same table as gemm_bench (what, size, time, TFLOP/s);
--tsv FILE also writes "what<TAB>TFLOP/s" lines for `attncamp_gpu_bench --peer FILE`.

Differences from attncamp, stated so the ratio is read correctly: torch.matmul's dW writes a bf16
result (attncamp accumulates into the f32 gradient, beta = 1); reduced-precision bf16 reductions
are switched off so both sides accumulate in f32.
"""
import argparse

import torch

from cuda_timing import time_ms

TOKENS_PER_IMAGE = 197
LAYERS = [("qkv", 384, 1152), ("proj", 384, 384), ("fc1", 384, 1536), ("fc2", 1536, 384)]


def cases(tokens):
    """(what, m, n, k, trans_a, trans_b) for every GEMM, in gemm_bench's order."""
    out = []
    for name, d_in, d_out in LAYERS:
        out.append((name + ".fwd", tokens, d_out, d_in, False, True))
        out.append((name + ".dx", tokens, d_in, d_out, False, False))
        out.append((name + ".dW", d_out, d_in, tokens, True, False))
    return out


def time_gemm(m, n, k, ta, tb, warmup, iters):
    """Mean milliseconds of one bf16 matmul C[m,n] = op(A) op(B) (op = transpose of the stored matrix)."""
    dev = torch.device("cuda")
    a = torch.empty((k, m) if ta else (m, k), dtype=torch.bfloat16, device=dev).uniform_(-1, 1)
    b = torch.empty((n, k) if tb else (k, n), dtype=torch.bfloat16, device=dev).uniform_(-1, 1)
    c = torch.empty((m, n), dtype=torch.bfloat16, device=dev)
    op_a = a.t() if ta else a
    op_b = b.t() if tb else b
    return time_ms(lambda: torch.matmul(op_a, op_b, out=c), warmup, iters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="images per batch; tokens N = batch * 197")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--tsv", default="", help="also write what<TAB>TFLOP/s lines here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gemm_torch.py needs a CUDA device")
    try:  # torch >= 1.14; older versions raise AssertionError on unknown attributes
        torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
    except (AssertionError, AttributeError):
        pass

    rows = []
    total_ms = total_flops = 0.0
    for what, m, n, k, ta, tb in cases(args.batch * TOKENS_PER_IMAGE):
        ms = time_gemm(m, n, k, ta, tb, args.warmup, args.iters)
        flops = 2.0 * m * n * k
        rows.append((what, f"{m}x{n}x{k}", ms, flops / (ms * 1e-3) * 1e-12))
        total_ms += ms
        total_flops += flops
    rows.append(("all", "(sum)", total_ms, total_flops / (total_ms * 1e-3) * 1e-12))

    print(f"\nbf16 torch.matmul, ViT-S/16 shapes, batch {args.batch} "
          f"(N = {args.batch * TOKENS_PER_IMAGE} tokens), mean of {args.iters} runs, torch {torch.__version__}")
    print(f"{'what':<10} {'size MxNxK':<18} {'time ms':>10} {'TFLOP/s':>10}")
    for what, size, ms, tflops in rows:
        print(f"{what:<10} {size:<18} {ms:>10.4f} {tflops:>10.1f}")
    if args.tsv:
        with open(args.tsv, "w", encoding="utf-8") as f:
            for what, _, _, tflops in rows:
                f.write(f"{what}\t{tflops:.3f}\n")


if __name__ == "__main__":
    main()
