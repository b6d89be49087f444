"""Phase retrieval: recover a complex image from the magnitudes of Fourier transforms, by gradient descent.

A detector records only the intensity of light: the far field of an object ``x`` is its Fourier transform,
and its phase is lost. Coherent diffraction imaging gets the object back from several diffraction patterns
of it seen through known random phase masks ``D_l`` (coded diffraction patterns): the magnitudes
``b_l = |fft2(D_l * x)|``. This script simulates them for a complex object (an amplitude of a few soft
discs, a smooth phase) and recovers ``x``, up to the global phase that no intensity can see, by gradient
descent on the complex image ``z`` for the amplitude loss

    f(z) = mean over l and pixels of (|fft2(D_l * z)| - b_l)**2 / 2

from a spectral estimate (the leading eigenvector of ``sum_r b_r**2 a_r a_r^H``, by power iterations). The
gradient of this real loss in the complex ``z`` is tapegrad's (PyTorch's) convention,
``df/dRe(z) + i df/dIm(z)``, so the update is the plain ``z -= step * z.grad``: complex parameters descend
as real ones do. (With the step ``n`` for ``n`` pixels, one step is the classic error-reduction iteration:
each pattern's measured magnitudes given the current phases, transformed back, averaged over the masks.)
The script prints the relative error ``min over phi |z e^(i phi) - x| / |x|`` and exits with an error if it
is not below ``--tolerance``.

Run: ``python examples/phase_retrieval.py [--size 32] [--masks 6] [--iterations 300] [--seed 0]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tapegrad as tg


def make_object(size: int, rng: np.random.Generator) -> np.ndarray:
    """A complex image: soft discs of random brightness times a smooth random phase (in [-pi/2, pi/2])."""
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij"))
    amplitude = np.full((size, size), 0.1)
    for _ in range(5):
        centre, radius = rng.uniform(-0.6, 0.6, 2), rng.uniform(0.15, 0.35)
        distance = np.sqrt(((grid - centre[:, None, None]) ** 2).sum(0))
        amplitude += rng.uniform(0.5, 1.0) / (1 + np.exp((distance - radius) / 0.05))
    phase = np.pi / 2 * np.sin(2 * grid[0] + rng.uniform(0, 2 * np.pi)) * np.cos(3 * grid[1])
    return amplitude * np.exp(1j * phase)


def measure(x: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The magnitudes of the coded diffraction patterns, ``|fft2(D_l x)|`` (an orthonormal transform)."""
    return np.abs(np.fft.fft2(masks * x, norm="ortho"))


def spectral_start(b: np.ndarray, masks: np.ndarray, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """The leading eigenvector of ``sum_r b_r**2 a_r a_r^H`` (by power iterations, two FFTs per mask each),
    scaled to the norm the measurements give."""
    z = rng.standard_normal(masks.shape[1:]) + 1j * rng.standard_normal(masks.shape[1:])
    for _ in range(iterations):
        z = (np.conj(masks) * np.fft.ifft2(b ** 2 * np.fft.fft2(masks * z, norm="ortho"), norm="ortho")).sum(0)
        z /= np.linalg.norm(z)
    return z * np.sqrt((b ** 2).sum() / len(masks))  # the patterns' energy = masks * |x|^2 (|D_l| = 1, ortho)


def relative_error(z: np.ndarray, x: np.ndarray) -> float:
    """``min over phi of |z e^(i phi) - x| / |x|``: the error up to the global phase."""
    overlap = np.vdot(z, x)
    return float(np.linalg.norm(z * np.exp(1j * np.angle(overlap)) - x) / np.linalg.norm(x))


def loss_of(z: tg.Tensor, masks: np.ndarray, b: np.ndarray) -> tg.Tensor:
    """The amplitude loss of the image ``z`` (a complex Tensor): a real number."""
    return ((abs(tg.fft.fft2(masks * z, norm="ortho")) - b) ** 2).mean() / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="the image's side, in pixels")
    parser.add_argument("--masks", type=int, default=6, help="the number of coded diffraction patterns")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-6, help="the largest relative error accepted")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    x = make_object(args.size, rng)
    masks = rng.choice(np.array([1, -1, 1j, -1j]), size=(args.masks, args.size, args.size))  # random phases
    b = measure(x, masks)
    start = time.perf_counter()
    z = tg.tensor(spectral_start(b, masks, 50, rng), requires_grad=True)
    print(f"object {args.size}x{args.size} (complex128), {args.masks} coded diffraction patterns; "
          f"spectral start: error {relative_error(z.numpy(), x):.3f}")
    step = args.size ** 2  # n pixels: the gradient's Lipschitz constant is 2/n (each masked transform is unitary)
    for iteration in range(1, args.iterations + 1):
        loss = loss_of(z, masks, b)
        loss.backward()
        with tg.no_grad():
            z -= step * z.grad
        z.grad = None
        if iteration % 50 == 0 or iteration == 1:
            print(f"step {iteration:4d}  loss {loss.item():.3e}  error {relative_error(z.numpy(), x):.3e}")
    error = relative_error(z.numpy(), x)
    print(f"relative error {error:.3e} after {args.iterations} steps ({time.perf_counter() - start:.1f} s)")
    if not error < args.tolerance:
        raise SystemExit(f"phase retrieval failed: relative error {error:.3e} >= {args.tolerance:g}")


if __name__ == "__main__":
    main()
