#!/usr/bin/python3
"""PyTorch peer of benchmarks/gpu/norm_loss_bench.cpp: LayerNorm and cross-entropy on CUDA, bf16.

Cases, in norm_loss_bench's order: LayerNorm forward and backward on the ViT-S/16 token matrix
[batch * 197, 384] (aten's native_layer_norm / native_layer_norm_backward kernels, no autograd
overhead), residual add + LayerNorm forward (x + r, then layer_norm: eager PyTorch has no fused
kernel) and its backward (native_layer_norm_backward, then + the residual gradient), and
F.cross_entropy forward + backward through autograd on [batch, 1000] and [8192, 8192] logits.
Times each with CUDA events (mean of --iters runs after --warmup); GB/s use the same byte counts
as norm_loss_bench (the least each op must move). --tsv FILE writes "what<TAB>GB/s" lines for
`attncamp_norm_loss_bench --peer FILE`.

Differences, stated so the ratio is read correctly: PyTorch's bf16 layer_norm takes bf16 gamma
and beta (attncamp's are f32; C = 384 values either way); its cross-entropy computes log-softmax in bf16 storage (attncamp never
stores probabilities). Under autocast PyTorch would run both in f32, which is slower.
"""
import argparse

import torch
import torch.nn.functional as F

from cuda_timing import time_ms

TOKENS_PER_IMAGE = 197
DIM = 384


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128, help="images per batch; LayerNorm rows = batch * 197")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--tsv", default="", help="also write what<TAB>GB/s lines here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("norm_loss_torch.py needs a CUDA device")
    dev = torch.device("cuda")
    bf16 = torch.bfloat16

    def rand(*shape, dtype=bf16):
        return torch.empty(shape, dtype=dtype, device=dev).uniform_(-1, 1)

    n = args.batch * TOKENS_PER_IMAGE
    act = n * DIM * 2.0
    x, r, dy, dr = rand(n, DIM), rand(n, DIM), rand(n, DIM), rand(n, DIM)
    w, b = rand(DIM), rand(DIM)
    eps = 1e-6
    _, mean, rstd = torch.ops.aten.native_layer_norm(x, [DIM], w, b, eps)
    mask = [True, True, True]
    rows = []
    ln_shape = f"{n}x{DIM}"
    rows.append(("ln.fwd", ln_shape, time_ms(lambda: torch.ops.aten.native_layer_norm(x, [DIM], w, b, eps),
                                             args.warmup, args.iters), 2 * act))
    rows.append(("ln.bwd", ln_shape, time_ms(
        lambda: torch.ops.aten.native_layer_norm_backward(dy, x, [DIM], mean, rstd, w, b, mask),
        args.warmup, args.iters), 3 * act))

    def add_ln_fwd():
        s = x + r
        return torch.ops.aten.native_layer_norm(s, [DIM], w, b, eps)

    s = x + r
    _, smean, srstd = torch.ops.aten.native_layer_norm(s, [DIM], w, b, eps)

    def add_ln_bwd():
        dx, _, _ = torch.ops.aten.native_layer_norm_backward(dy, s, [DIM], smean, srstd, w, b, mask)
        return dx + dr

    rows.append(("add_ln.fwd", ln_shape, time_ms(add_ln_fwd, args.warmup, args.iters), 4 * act))
    rows.append(("add_ln.bwd", ln_shape, time_ms(add_ln_bwd, args.warmup, args.iters), 4 * act))

    for rr, cc in ((args.batch, 1000), (8192, 8192)):
        logits = rand(rr, cc).requires_grad_(True)
        labels = (torch.arange(rr, device=dev, dtype=torch.int64) * 7919) % cc

        def ce():
            logits.grad = None
            F.cross_entropy(logits, labels).backward()

        shape = f"{rr}x{cc}"
        rows.append((f"ce.{shape}", shape, time_ms(ce, args.warmup, args.iters), rr * cc * 4.0 + rr * 8.0))

    print(f"\nLayerNorm (ViT-S/16 tokens, batch {args.batch}) and cross-entropy, bf16, "
          f"mean of {args.iters} runs, torch {torch.__version__}")
    print(f"{'what':<16} {'shape':<14} {'time ms':>10} {'GB/s':>10}")
    table = []
    for what, shape, ms, nbytes in rows:
        gbs = nbytes / (ms * 1e-3) * 1e-9
        table.append((what, gbs))
        print(f"{what:<16} {shape:<14} {ms:>10.4f} {gbs:>10.1f}")
    if args.tsv:
        with open(args.tsv, "w", encoding="utf-8") as f:
            for what, gbs in table:
                f.write(f"{what}\t{gbs:.3f}\n")


if __name__ == "__main__":
    main()
