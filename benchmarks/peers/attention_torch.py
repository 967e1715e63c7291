#!/usr/bin/python3
"""PyTorch peer of benchmarks/gpu/attention_bench.cpp: bf16 scaled_dot_product_attention, fwd and fwd+bwd.

Same shapes: B*S = 16384 tokens and H*D = 2048 at S in {256, 1024, 4096}, D in {64, 128} (H = 2048 / D).
q, k, v and dout are [B,S,H,D] bf16 tensors (attncamp's layout) passed to SDPA as [B,H,S,D] views.
Each SDPA backend (flash, efficient, cudnn; math with --math) is forced in turn with
torch.nn.attention.sdpa_kernel (torch.backends.cuda.sdp_kernel on torch < 2.3), plus SDPA's own
choice ("default"); every backend that runs is reported, one that refuses a shape shows "n/a".
Times are CUDA-event means of --iters runs after --warmup. FLOPs: forward 4*B*H*S^2*D, backward 2.5x,
so fwd+bwd counts 3.5x (halved with --causal; for Sq == Sk torch's causal mask equals attncamp's).
--tsv FILE writes "what<TAB>TFLOP/s" lines, the best backend per row, for `attncamp_attention_bench --peer FILE`.
"""
import argparse
import contextlib

import torch
import torch.nn.functional as F

from cuda_timing import time_ms

TOKENS, MODEL_DIM = 16384, 2048


def cases():
    """(B, S, H, D) in attention_bench's order."""
    return [(TOKENS // s, s, MODEL_DIM // d, d) for s in (256, 1024, 4096) for d in (64, 128)]


def backends(with_math):
    """(name, context manager factory) per SDPA backend this torch has; None = SDPA's own choice."""
    out = [("default", None)]
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel  # torch >= 2.3
        names = [("flash", "FLASH_ATTENTION"), ("efficient", "EFFICIENT_ATTENTION"), ("cudnn", "CUDNN_ATTENTION")]
        if with_math:
            names.append(("math", "MATH"))
        for name, attr in names:
            if hasattr(SDPBackend, attr):
                out.append((name, lambda b=getattr(SDPBackend, attr): sdpa_kernel(b)))
    except ImportError:
        flags = {"flash": dict(enable_flash=True, enable_math=False, enable_mem_efficient=False),
                 "efficient": dict(enable_flash=False, enable_math=False, enable_mem_efficient=True)}
        if with_math:
            flags["math"] = dict(enable_flash=False, enable_math=True, enable_mem_efficient=False)
        for name, kw in flags.items():
            out.append((name, lambda kw=kw: torch.backends.cuda.sdp_kernel(**kw)))
    return out


def time_case(b, s, h, d, causal, ctx_factory, warmup, iters):
    """(forward ms, forward+backward ms) of one shape under one backend; raises if it refuses."""
    dev = torch.device("cuda")

    def bshd():
        return torch.empty((b, s, h, d), dtype=torch.bfloat16, device=dev).uniform_(-1, 1)

    q, k, v = (bshd().requires_grad_() for _ in range(3))
    dout = bshd().transpose(1, 2)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))

    def fwd():
        with torch.no_grad():
            return F.scaled_dot_product_attention(qh, kh, vh, is_causal=causal)

    def fwdbwd():
        out = F.scaled_dot_product_attention(qh, kh, vh, is_causal=causal)
        return torch.autograd.grad(out, (q, k, v), dout)

    with ctx_factory() if ctx_factory is not None else contextlib.nullcontext():
        return time_ms(fwd, warmup, iters), time_ms(fwdbwd, warmup, iters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--causal", action="store_true", help="causal masking (FLOPs counted as half)")
    parser.add_argument("--math", action="store_true", help="also time the math backend (S x S memory)")
    parser.add_argument("--tsv", default="", help="also write what<TAB>TFLOP/s lines (best backend) here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("attention_torch.py needs a CUDA device")

    rows = []  # (what, shape, backend, ms or None, tflops or None)
    best = {}
    for b, s, h, d in cases():
        flops = 4.0 * b * h * s * s * d * (0.5 if args.causal else 1.0)
        shape = f"{b}x{s}x{h}x{d}"
        for name, ctx in backends(args.math):
            try:
                fwd_ms, fwdbwd_ms = time_case(b, s, h, d, args.causal, ctx, args.warmup, args.iters)
            except RuntimeError as e:  # the backend refuses this shape or is unavailable
                reason = str(e).splitlines()[0][:60] if str(e) else type(e).__name__
                rows.append((f"fwd.S{s}.D{d}", shape, name, None, reason))
                continue
            for what, ms, f in ((f"fwd.S{s}.D{d}", fwd_ms, flops), (f"fwdbwd.S{s}.D{d}", fwdbwd_ms, 3.5 * flops)):
                tflops = f / (ms * 1e-3) * 1e-12
                rows.append((what, shape, name, ms, tflops))
                best[what] = max(best.get(what, 0.0), tflops)
            torch.cuda.empty_cache()

    print(f"\nbf16 torch SDPA{', causal' if args.causal else ''}, B*S = {TOKENS} tokens, H*D = {MODEL_DIM}, "
          f"mean of {args.iters} runs, torch {torch.__version__}, {torch.cuda.get_device_name()}")
    print(f"{'what':<18} {'shape BxSxHxD':<18} {'backend':<10} {'time ms':>10} {'TFLOP/s':>10}")
    for what, shape, name, ms, tflops in rows:
        if ms is None:
            print(f"{what:<18} {shape:<18} {name:<10} {'n/a':>10} {'':>10} ({tflops})")
        else:
            print(f"{what:<18} {shape:<18} {name:<10} {ms:>10.4f} {tflops:>10.1f}")
    if args.tsv:
        with open(args.tsv, "w", encoding="utf-8") as f:
            for what, tflops in best.items():
                f.write(f"{what}\t{tflops:.3f}\n")


if __name__ == "__main__":
    main()
