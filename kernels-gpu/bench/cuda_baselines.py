"""PyTorch baselines for lowbit's CUDA benchmark, measured on the same device in the same call.

Writes key=value lines (read by dev.lowbit.kernels.gpu.cuda.CudaBench): copy bandwidth, torch._int_mm at 4096^3
and 8192^3, and bf16 matmul with K=N=8192 at M=1 and M=16. Operands rotate over copies larger than the 50 MB L2.
Usage: python3 cuda_baselines.py OUT_FILE
"""
import sys

import torch

ROTATE_BYTES = 256 << 20
BATCHES = 7
PER_BATCH = 20


def median_ms(fn):
    """Milliseconds per call: batches of calls queued back to back between two events, median of the batches."""
    for i in range(5):
        fn(i)
    torch.cuda.synchronize()
    times = []
    call = 0
    for _ in range(BATCHES):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(PER_BATCH):
            fn(call)
            call += 1
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / PER_BATCH)
    times.sort()
    return times[BATCHES // 2]


def rotation(make, nbytes):
    copies = max(2, -(-ROTATE_BYTES // nbytes))
    return [make() for _ in range(copies)]


def main(out):
    dev = torch.device("cuda")
    lines = ["# " + torch.cuda.get_device_name(0) + ", torch " + torch.__version__]

    n = 1 << 30
    a = torch.ones(n, dtype=torch.uint8, device=dev)
    b = torch.empty_like(a)
    ms = median_ms(lambda i: b.copy_(a))
    lines.append("copy_gbps=%.1f" % (2.0 * n / (ms * 1e6)))
    del a, b

    for size in (4096, 8192):
        xs = rotation(lambda: torch.randint(-128, 127, (size, size), dtype=torch.int8, device=dev), size * size)
        ws = rotation(lambda: torch.randint(-128, 127, (size, size), dtype=torch.int8, device=dev).t(), size * size)
        ms = median_ms(lambda i: torch._int_mm(xs[i % len(xs)], ws[i % len(ws)]))
        lines.append("int_mm_%d_tops=%.1f" % (size, 2.0 * size ** 3 / (ms * 1e9)))
        del xs, ws

    k = nout = 8192
    ws = rotation(lambda: torch.randn(nout, k, dtype=torch.bfloat16, device=dev), 2 * k * nout)
    for m in (1, 16):
        x = torch.randn(m, k, dtype=torch.bfloat16, device=dev)
        ms = median_ms(lambda i: torch.matmul(x, ws[i % len(ws)].t()))
        lines.append("bf16_m%d_us=%.2f" % (m, ms * 1e3))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
