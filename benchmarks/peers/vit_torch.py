#!/usr/bin/python3
"""PyTorch peer of configs/vit_fashion_mnist.pbtxt for training-throughput comparisons.

Builds the same ViT as attncamp (patch 4 as a Linear on flattened patches, class token,
49 learned positions, 4 pre-norm blocks of dim 64 / 4 heads / MLP 256, attention-pooling head
(--pool cls: class token and 50 positions)),
times full AdamW training steps on random data and prints `peer images/s: <float>`.
Run with Debian's interpreter: /usr/bin/python3 benchmarks/peers/vit_torch.py --threads 2
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

IMAGE_SIZE, IN_CHANNELS, PATCH = 28, 1, 4
DIM, DEPTH, HEADS, MLP_DIM, NUM_CLASSES = 64, 4, 4, 256, 10


def attention(q, k, v):
    """q, k, v: [B, heads, tokens, head_dim] -> softmax(q k^T / sqrt(head_dim)) v."""
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    if sdpa is not None:
        return sdpa(q, k, v)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return torch.matmul(scores.softmax(dim=-1), v)


class Block(nn.Module):
    """Pre-norm transformer block: x + proj(attn(ln1 x)); x + fc2(gelu(fc1(ln2 x)))."""

    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM, eps=1e-5)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.ln2 = nn.LayerNorm(DIM, eps=1e-5)
        self.fc1 = nn.Linear(DIM, MLP_DIM)
        self.fc2 = nn.Linear(MLP_DIM, DIM)

    def forward(self, x):
        b, t, _ = x.shape
        qkv = self.qkv(self.ln1(x)).reshape(b, t, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        y = attention(qkv[0], qkv[1], qkv[2]).transpose(1, 2).reshape(b, t, DIM)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class AttentionPool(nn.Module):
    """Soft attention pooling: a_i = softmax_i(w^T tanh(V h_i)), out = sum_i a_i h_i."""

    def __init__(self):
        super().__init__()
        self.V = nn.Linear(DIM, DIM, bias=False)
        self.w = nn.Parameter(torch.randn(DIM) * 0.02)

    def forward(self, h):
        a = torch.softmax(torch.tanh(self.V(h)) @ self.w, dim=1)  # [B, tokens]
        return torch.bmm(a.unsqueeze(1), h).squeeze(1)


class ViT(nn.Module):
    def __init__(self, pool="cls"):
        super().__init__()
        self.grid = IMAGE_SIZE // PATCH
        self.pool = AttentionPool() if pool == "attention" else None
        tokens = self.grid * self.grid + (0 if self.pool else 1)
        self.patch_embed = nn.Linear(IN_CHANNELS * PATCH * PATCH, DIM)
        self.cls_token = None if self.pool else nn.Parameter(torch.randn(1, 1, DIM) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, tokens, DIM) * 0.02)
        self.blocks = nn.ModuleList(Block() for _ in range(DEPTH))
        self.norm = nn.LayerNorm(DIM, eps=1e-5)
        self.head = nn.Linear(DIM, NUM_CLASSES)

    def forward(self, images):
        """images: [B, C, H, W] float -> logits [B, NUM_CLASSES]."""
        b, c, g = images.shape[0], images.shape[1], self.grid
        # [B,C,g,P,g,P] -> [B,g,g,C,P,P] -> [B, g*g, C*P*P]: same math as a stride-P conv.
        patches = images.reshape(b, c, g, PATCH, g, PATCH).permute(0, 2, 4, 1, 3, 5)
        x = self.patch_embed(patches.reshape(b, g * g, c * PATCH * PATCH))
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1)
        x = x + self.pos_embed
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return self.head(self.pool(x) if self.pool else x[:, 0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=50, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pool", choices=["cls", "attention"], default="attention",
                        help="classification head (the reference config uses attention pooling)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = ViT(args.pool)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=0.05)
    images = torch.randn(args.batch, IN_CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    labels = torch.randint(0, NUM_CLASSES, (args.batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start

    print(f"peer torch {torch.__version__}, pool {args.pool}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, steps {args.steps}, warmup {args.warmup}, "
          f"{1000.0 * elapsed / max(args.steps, 1):.2f} ms/step")
    print(f"peer images/s: {args.batch * args.steps / elapsed:.2f}")


if __name__ == "__main__":
    main()
