#!/usr/bin/env python3
"""PyTorch peer of configs/vit_s16_synthetic.pbtxt: ViT-S/16 training steps on the GPU.

Same model as attncamp's (224x224x3, patch 16 as a Linear on flattened patches, class token,
197 learned positions, 12 pre-norm blocks of dim 384 / 6 heads / MLP 1536 with exact GELU,
final LayerNorm, 1000-class head; 22.05M parameters), PyTorch eager with bf16 autocast
(fp32 master weights), scaled_dot_product_attention, AdamW (fused when available), global-norm
clipping at 1.0, label smoothing 0.1, random data resident on the GPU. Prints the backend
SDPA picked and `peer images/s: <float>`.
Run on the GPU machine: python3 benchmarks/peers/vit_s16_torch.py --batch 128 --steps 50
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE, PATCH, CH, DIM, DEPTH, HEADS, MLP, CLASSES = 224, 16, 3, 384, 12, 6, 1536, 1000


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.ln2 = nn.LayerNorm(DIM)
        self.fc1 = nn.Linear(DIM, MLP)
        self.fc2 = nn.Linear(MLP, DIM)

    def forward(self, x):
        b, t, _ = x.shape
        qkv = self.qkv(self.ln1(x)).reshape(b, t, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, t, DIM)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.grid = IMAGE // PATCH
        self.patch_embed = nn.Linear(CH * PATCH * PATCH, DIM)
        self.cls_token = nn.Parameter(torch.randn(1, 1, DIM) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid * self.grid + 1, DIM) * 0.02)
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, images):
        b, g = images.shape[0], self.grid
        # images [B,H,W,C] like attncamp's: patches [B, g*g, P*P*C] in (row, col, channel) order.
        patches = images.reshape(b, g, PATCH, g, PATCH, CH).permute(0, 1, 3, 2, 4, 5)
        x = self.patch_embed(patches.reshape(b, g * g, PATCH * PATCH * CH))
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def sdpa_backend():
    """Which SDPA kernel runs for this model's shapes (flash, efficient, cudnn or math)."""
    q = torch.randn(2, HEADS, 197, DIM // HEADS, device="cuda", dtype=torch.bfloat16)
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        return "unknown (torch.nn.attention missing)"
    for name in ("CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"):
        backend = getattr(SDPBackend, name, None)
        if backend is None:
            continue
        try:
            with sdpa_kernel([backend]):
                F.scaled_dot_product_attention(q, q, q)
            return name.lower() + " (first in PyTorch's priority order that accepts these shapes)"
        except RuntimeError:
            continue
    return "none"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    torch.manual_seed(1)
    dev = "cuda"
    model = ViT().to(dev)
    params = sum(p.numel() for p in model.parameters())
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05, fused=True)
    except (TypeError, RuntimeError):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    images = torch.rand(args.batch, IMAGE, IMAGE, CH, device=dev)
    labels = torch.randint(0, CLASSES, (args.batch,), device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(images), labels, label_smoothing=0.1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    print(f"peer torch {torch.__version__} on {torch.cuda.get_device_name()}: ViT-S/16 {params} parameters, "
          f"batch {args.batch}, bf16 autocast, SDPA backend {sdpa_backend()}, "
          f"{1000 * secs / args.steps:.2f} ms/step")
    print(f"peer images/s: {args.batch * args.steps / secs:.2f}")


if __name__ == "__main__":
    main()
