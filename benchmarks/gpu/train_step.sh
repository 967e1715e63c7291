#!/usr/bin/env bash
# ViT-S/16 training-step throughput on the GPU: attncamp (`bench train` with
# configs/vit_s16_synthetic.pbtxt: bf16, batch 128) against PyTorch eager with bf16 autocast
# (benchmarks/peers/vit_s16_torch.py) on the same GPU, then one table row with the ratio.
# Usage: benchmarks/gpu/train_step.sh [--steps N] [--warmup N] [--bin PATH]   (goal: ratio >= 1.0)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
steps=50 warmup=10 bin=${ATTNCAMP_BIN:-build/bin/attncamp}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "train_step.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
ours=$("$bin" bench train --config configs/vit_s16_synthetic.pbtxt --steps "$steps" --warmup "$warmup" 2>&1)
echo "$ours"
peer=$(python3 benchmarks/peers/vit_s16_torch.py --batch 128 --steps "$steps" --warmup "$warmup" 2>&1)
echo "$peer"
a=$(sed -n 's/^attncamp images\/s: //p' <<<"$ours")
p=$(sed -n 's/^peer images\/s: //p' <<<"$peer")
printf "%-28s %6s %14s %14s %7s\n" "what" "batch" "attncamp img/s" "torch img/s" "ratio"
printf "%-28s %6d %14.1f %14.1f %7.2f\n" "ViT-S/16 train step, bf16" 128 "$a" "$p" "$(awk -v a="$a" -v p="$p" 'BEGIN{print a/p}')"
