#!/usr/bin/python3
"""PyTorch peer training run of configs/vit_fashion_mnist.pbtxt on the same HDF5 files.

Same model as vit_torch.py (PyTorch default init), same data (classification/1 files read
with h5py), same normalisation, batch, AdamW settings and warmup + cosine schedule, so its
per-epoch test accuracy can be put beside attncamp's. Prints one line per epoch.
Usage: /usr/bin/python3 benchmarks/peers/vit_torch_train.py --train datasets/fashion-mnist/train.h5 \
           --test datasets/fashion-mnist/test.h5 --epochs 5 --threads 2
"""
import argparse
import math
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vit_torch import ViT  # noqa: E402


def load(path, mean, std):
    with h5py.File(path, "r") as f:
        images = torch.from_numpy(f["images"][...].astype(np.float32) / 255.0)  # [N,H,W,C]
        labels = torch.from_numpy(f["labels"][...].astype(np.int64))
    return ((images - mean) / std).permute(0, 3, 1, 2).contiguous(), labels


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=0.2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pool", choices=["cls", "attention"], default="cls")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load(args.train, 0.2860, 0.3530)
    xte, yte = load(args.test, 0.2860, 0.3530)
    model = ViT(args.pool)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = math.ceil(len(ytr) / args.batch)
    total = args.epochs * steps_per_epoch
    warmup = round(args.warmup_epochs * steps_per_epoch)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total - warmup))
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))

    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(ytr))
        start, loss_sum = time.perf_counter(), 0.0
        for i in range(steps_per_epoch):
            idx = order[i * args.batch:(i + 1) * args.batch]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            step += 1
        rate = len(ytr) / (time.perf_counter() - start)
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(yte), 500):
                correct += (model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item()
        print(f"peer epoch {epoch + 1}/{args.epochs}: train loss {loss_sum / steps_per_epoch:.4f}, "
              f"top-1 {100.0 * correct / len(yte):.2f}%, {rate:.0f} img/s", flush=True)


if __name__ == "__main__":
    main()
