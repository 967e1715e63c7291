#!/usr/bin/env python3
"""Alpha-beta model of data-parallel scaling (docs/scaling.md explains it).

Ring all-reduce of B bytes over p ranks: T(p) = 2(p-1)*alpha + 2(p-1)/p * B / bw, with alpha the
per-message latency and bw each rank's link bandwidth (the slowest hop of the ring: NVLink inside
a node, the network between nodes). Gradient buckets are all-reduced while backward still runs:
everything but the last bucket (the first layers' gradients, ready only when backward ends) can
hide behind the remaining backward time. The exposed communication per step is

    exposed = max(T(p, all) - overlap * t_backward, T(p, last bucket))

and the efficiency is t_step / (t_step + exposed), t_step being the single-GPU compute time.

Two algorithms are modelled and the faster one is taken per message (NCCL's tuner does the same):
  ring:          the formula above over all p ranks (every step waits for the slowest hop, so
                 across nodes every one of the 2(p-1) steps costs the network latency);
  hierarchical:  reduce-scatter inside each node over NVLink, then each GPU all-reduces its
                 1/g shard with the same GPU of the other n = p/g nodes over its own NIC (a ring
                 of n), then all-gather inside the node:
                 T = 2[(g-1)a_nvl + (g-1)/g B/bw_nvl] + 2(n-1)a_net + 2(n-1)/n (B/g)/bw_net.

Usage: scaling_model.py [--params 22.05e6] [--bytes-per-grad 4] [--step-ms 26] [--backward-share 0.66]
                        [--bucket-mb 25] [--gpus-per-node 8] [--nvlink-GBps 450] [--net-GBps 50]
                        [--alpha-us-intra 3] [--alpha-us-inter 6] [--overlap 0.9] [--check-512 0.9]
Prints a table over 8..1024 GPUs. Needs only the Python standard library.
"""
import argparse
import sys


def ring_time(p, nbytes, alpha_s, bw_bytes_per_s):
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha_s + 2 * (p - 1) / p * nbytes / bw_bytes_per_s


def allreduce_time(p, nbytes, a):
    """(ring, hierarchical) all-reduce times in seconds for nbytes over p GPUs."""
    g = min(p, a.gpus_per_node)
    nodes = max(1, p // g)
    a_nvl, a_net = a.alpha_us_intra * 1e-6, a.alpha_us_inter * 1e-6
    bw_nvl, bw_net = a.nvlink_GBps * 1e9, a.net_GBps * 1e9
    if nodes == 1:
        t = ring_time(p, nbytes, a_nvl, bw_nvl)
        return t, t
    ring = ring_time(p, nbytes, a_net, bw_net)
    intra = (g - 1) * a_nvl + (g - 1) / g * nbytes / bw_nvl  # reduce-scatter (and all-gather)
    hier = 2 * intra + ring_time(nodes, nbytes / g, a_net, bw_net)
    return ring, hier


def predict(p, a):
    grad_bytes = a.params * a.bytes_per_grad
    bucket = min(grad_bytes, a.bucket_mb * 2**20)
    ring_all, hier_all = allreduce_time(p, grad_bytes, a)
    t_all = min(ring_all, hier_all)
    t_last = min(allreduce_time(p, bucket, a))
    t_step = a.step_ms * 1e-3
    t_bwd = a.backward_share * t_step
    exposed = max(t_all - a.overlap * t_bwd, t_last) if p > 1 else 0.0
    return ring_all, hier_all, t_last, exposed, t_step / (t_step + exposed)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=float, default=22.05e6, help="parameters (ViT-S/16: 22.05M)")
    ap.add_argument("--bytes-per-grad", type=float, default=4, help="4 = f32 gradients (attncamp's), 2 = bf16")
    ap.add_argument("--step-ms", type=float, default=26.0, help="compute time of one step on one GPU")
    ap.add_argument("--backward-share", type=float, default=0.66, help="backward's share of the step")
    ap.add_argument("--overlap", type=float, default=0.9, help="share of backward that communication can use")
    ap.add_argument("--bucket-mb", type=float, default=25)
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--nvlink-GBps", type=float, default=450, help="per-GPU NVLink bandwidth (H100 SXM: 450 GB/s)")
    ap.add_argument("--net-GBps", type=float, default=50, help="per-GPU network bandwidth (400 Gb/s IB = 50 GB/s)")
    ap.add_argument("--alpha-us-intra", type=float, default=3.0)
    ap.add_argument("--alpha-us-inter", type=float, default=6.0)
    ap.add_argument("--check-512", type=float, default=None, help="exit 1 unless efficiency at 512 GPUs >= this")
    a = ap.parse_args()

    print(f"# {a.params / 1e6:.2f}M parameters x {a.bytes_per_grad:g} B, step {a.step_ms:g} ms "
          f"(backward {a.backward_share:.0%}), buckets {a.bucket_mb:g} MiB, {a.gpus_per_node} GPUs/node, "
          f"NVLink {a.nvlink_GBps:g} GB/s, network {a.net_GBps:g} GB/s per GPU")
    print(f"{'gpus':>6} {'ring ms':>9} {'hier ms':>9} {'last bucket ms':>15} {'exposed ms':>11} {'step ms':>8} "
          f"{'efficiency':>11}")
    eff512 = None
    for p in (8, 16, 32, 64, 128, 256, 512, 1024):
        ring_all, hier_all, t_last, exposed, eff = predict(p, a)
        if p == 512:
            eff512 = eff
        print(f"{p:>6} {ring_all * 1e3:>9.2f} {hier_all * 1e3:>9.2f} {t_last * 1e3:>15.2f} {exposed * 1e3:>11.2f} "
              f"{a.step_ms + exposed * 1e3:>8.2f} {eff:>10.1%}")
    if a.check_512 is not None and eff512 < a.check_512:
        print(f"predicted efficiency at 512 GPUs {eff512:.1%} < {a.check_512:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
