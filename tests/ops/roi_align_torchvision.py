#!/usr/bin/python3
"""torchvision's roi_align (aligned=True) as an independent reference for tests/ops/roi_align_test.cpp.

Usage: roi_align_torchvision.py IN OUT [IN OUT ...] (one Python start for many cases). IN holds, little-endian: 9 int64 (B, H, W, C, K, ph, pw,
sampling_ratio, dtype: 0 = float32, 1 = float64), one float64 spatial_scale, then float64 arrays:
the feature map [B, H, W, C] (channels-last), rois [K, 5] and the pooled gradient [K, ph, pw, C].
OUT gets float64 arrays: the pooled map [K, ph, pw, C], then the input gradient [B, H, W, C], both
channels-last, computed by torchvision in the requested dtype on NCHW tensors (the channels-last
values transposed). Exits 77 when torch or torchvision cannot be imported.
"""
import struct
import sys

try:
    import torch
    from torchvision.ops import roi_align
except ImportError as e:  # the C++ test skips, saying why
    print(f"torch/torchvision not importable: {e}")
    sys.exit(77)


def run(src, dst):
    """One case: reads IN, writes OUT."""
    with open(src, "rb") as f:
        data = f.read()
    b, h, w, c, k, ph, pw, ratio, kind = struct.unpack_from("<9q", data, 0)
    (scale,) = struct.unpack_from("<d", data, 72)
    values = torch.frombuffer(bytearray(data[80:]), dtype=torch.float64)
    dtype = torch.float32 if kind == 0 else torch.float64
    n_map, n_rois, n_pooled = b * h * w * c, k * 5, k * ph * pw * c
    assert values.numel() == n_map + n_rois + n_pooled, "input file size does not match its header"
    feature = values[:n_map].reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous().to(dtype)
    rois = values[n_map : n_map + n_rois].reshape(k, 5).to(dtype)
    grad = values[n_map + n_rois :].reshape(k, ph, pw, c).permute(0, 3, 1, 2).contiguous().to(dtype)
    feature.requires_grad_(True)
    pooled = roi_align(feature, rois, output_size=(ph, pw), spatial_scale=scale, sampling_ratio=ratio, aligned=True)
    pooled.backward(grad)
    out = torch.cat(
        [
            pooled.detach().permute(0, 2, 3, 1).reshape(-1).to(torch.float64),
            feature.grad.permute(0, 2, 3, 1).reshape(-1).to(torch.float64),
        ]
    )
    with open(dst, "wb") as f:
        f.write(out.contiguous().numpy().tobytes())


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2 != 0:
        sys.exit("usage: roi_align_torchvision.py IN OUT [IN OUT ...]")
    for i in range(0, len(args), 2):
        run(args[i], args[i + 1])


if __name__ == "__main__":
    main()
