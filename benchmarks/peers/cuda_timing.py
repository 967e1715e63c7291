"""CUDA-event timing shared by the GPU peers (gemm_torch.py, norm_loss_torch.py, attention_torch.py)."""
import torch


def time_ms(fn, warmup, iters):
    """Mean milliseconds of fn() over iters runs after warmup runs, from CUDA events."""
    for _ in range(warmup):
        fn()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / iters
