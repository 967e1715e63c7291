"""Peer for benchmarks/loader_bench.sh: PyTorch's DataLoader over a classification/1 HDF5 file
(h5py, one handle per worker) with torchvision transforms, and the synthetic ImageNet-like files
both sides read. Usage:
  loader_torch.py make --out DIR [--n 2000]        # DIR/bench_jpeg.h5 (256x256 JPEG), DIR/bench_raw.h5 (224x224 raw)
  loader_torch.py run --data FILE --threads N --batch B --seconds S
"""
import argparse
import io
import sys
import time

import h5py
import numpy as np


def smooth_image(rng, size):
    """ImageNet-like content: a low-frequency colour field plus texture noise, uint8 HWC."""
    from PIL import Image
    small = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    field = np.asarray(Image.fromarray(small).resize((size, size), Image.BICUBIC), dtype=np.int16)
    noise = rng.integers(-20, 21, size=(size, size, 3), dtype=np.int16)
    return np.clip(field + noise, 0, 255).astype(np.uint8)


def write_header(f, labels):
    f.attrs["attncamp_schema"] = "classification/1"
    f.attrs["num_classes"] = np.int64(1000)
    f.create_dataset("labels", data=labels.astype(np.int32))


def make(out, n):
    from PIL import Image
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 1000, size=n)
    with h5py.File(f"{out}/bench_jpeg.h5", "w") as f:
        write_header(f, labels)
        ds = f.create_dataset("images", shape=(n,), dtype=h5py.vlen_dtype(np.uint8))
        ds.attrs["encoding"] = "jpeg"
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(smooth_image(rng, 256)).save(buf, format="JPEG", quality=90)
            ds[i] = np.frombuffer(buf.getvalue(), dtype=np.uint8)
    with h5py.File(f"{out}/bench_raw.h5", "w") as f:
        write_header(f, labels)
        ds = f.create_dataset("images", shape=(n, 224, 224, 3), dtype=np.uint8)
        ds.attrs["encoding"] = "raw"
        for i in range(n):
            ds[i] = smooth_image(rng, 224)


class H5Classification:
    """torch Dataset: opens the file lazily, so each DataLoader worker has its own handle."""

    def __init__(self, path):
        import torch
        import torchvision.transforms as T
        self.path = path
        self.f = None
        with h5py.File(path, "r") as f:
            self.n = len(f["labels"])
            self.jpeg = f["images"].attrs["encoding"] == "jpeg"
        norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        if self.jpeg:
            self.tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
        else:
            flip = T.RandomHorizontalFlip()
            self.tf = lambda a: norm(flip(torch.from_numpy(a).permute(2, 0, 1).float().div_(255)))

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        from PIL import Image
        if self.f is None:
            self.f = h5py.File(self.path, "r")
        row = self.f["images"][i]
        img = Image.open(io.BytesIO(row.tobytes())).convert("RGB") if self.jpeg else row
        return self.tf(img), int(self.f["labels"][i])


def run(path, threads, batch, seconds):
    import torch
    torch.set_num_threads(1)
    ds = H5Classification(path)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=threads,
                                         persistent_workers=True, prefetch_factor=2)
    # Warm-up: start the workers and take one batch before the clock starts.
    it = iter(loader)
    next(it)
    del it
    images, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for x, _ in loader:
            images += x.shape[0]
            if time.perf_counter() - t0 >= seconds:
                break
    dt = time.perf_counter() - t0
    print(f"peer loader {path}: encoding {'jpeg' if ds.jpeg else 'raw'}, threads {threads}, batch {batch}, "
          f"{images} images in {dt:.2f} s, {images / dt:.1f} img/s")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--n", type=int, default=2000)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--batch", type=int, default=64)
    r.add_argument("--seconds", type=float, default=10)
    a = p.parse_args()
    if a.cmd == "make":
        make(a.out, a.n)
    else:
        run(a.data, a.threads, a.batch, a.seconds)


if __name__ == "__main__":
    sys.exit(main())
