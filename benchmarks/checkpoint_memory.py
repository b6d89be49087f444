"""Gradient checkpointing on a deep MLP: peak memory of one forward and backward pass with and
without ``tg.checkpoint`` around each block of layers, and the time it costs (float32, batch 4096,
32 layers of width 256, ReLU, checkpointed in blocks of 4 layers: activations outweigh parameters).

Run: ``python benchmarks/checkpoint_memory.py``
"""

from __future__ import annotations

import single_thread  # noqa: F401  (first: pins every library to one thread before it loads)

import time
import tracemalloc

import numpy as np

import tapegrad as tg

WIDTH, DEPTH, BLOCK, BATCH = 256, 32, 4, 4096


def make_model() -> list[tg.nn.Sequential]:
    tg.manual_seed(0)
    layers = [m for _ in range(DEPTH) for m in (tg.nn.Linear(WIDTH, WIDTH), tg.nn.ReLU())]
    return [tg.nn.Sequential(*layers[i:i + 2 * BLOCK]) for i in range(0, len(layers), 2 * BLOCK)]


def step(blocks, x, checkpointed: bool) -> None:
    h = x
    for block in blocks:
        h = tg.checkpoint(block, h) if checkpointed else block(h)
    (h * h).mean().backward()


def measure(blocks, x, checkpointed: bool) -> tuple[int, float, list[np.ndarray]]:
    step(blocks, x, checkpointed)  # warm up
    for block in blocks:
        block.zero_grad()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    step(blocks, x, checkpointed)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    grads = [p.grad.numpy().copy() for b in blocks for p in b.parameters()]
    for block in blocks:
        block.zero_grad()
    return peak, seconds, grads


def main() -> None:
    blocks = make_model()
    x = tg.tensor(np.random.default_rng(0).standard_normal((BATCH, WIDTH), dtype=np.float32))
    plain_peak, plain_time, plain_grads = measure(blocks, x, False)
    ckpt_peak, ckpt_time, ckpt_grads = measure(blocks, x, True)
    same = all(np.array_equal(a, b) for a, b in zip(plain_grads, ckpt_grads))
    print(f"MLP {DEPTH} x {WIDTH}, float32, batch {BATCH}, checkpoint every {BLOCK} layers "
          f"(peak memory a forward and backward pass allocate, by tracemalloc; gradients identical: {same})")
    print(f"  without checkpointing  peak {plain_peak / 2**20:7.1f} MiB   {plain_time * 1e3:7.1f} ms")
    print(f"  with checkpointing     peak {ckpt_peak / 2**20:7.1f} MiB   {ckpt_time * 1e3:7.1f} ms   "
          f"({ckpt_peak / plain_peak:.2f}x the memory, {ckpt_time / plain_time:.2f}x the time)")


if __name__ == "__main__":
    main()
