"""Inverse kinematics by backpropagation: turn a planar three-joint arm to reach a target point.

The forward kinematics are ordinary tensor code: joint ``k`` sits at the sum of
``length_i * (cos phi_i, sin phi_i)`` over the links before it, with ``phi_i`` the sum of the first
``i + 1`` joint angles. Gradient descent on the angles through that function moves the hand to the
target; a picture of the arm before and after is saved.

Run: ``python examples/inverse_kinematics.py [--target 1.2 1.0] [--picture arm.png]``
"""

from __future__ import annotations

import argparse

import numpy as np

import tapegrad as tg

LENGTHS = (1.0, 0.8, 0.6)


def joint_positions(angles: tg.Tensor, lengths=LENGTHS) -> list[tg.Tensor]:
    """The base, each joint and the hand, as 2-vectors: differentiable in ``angles``."""
    points = [tg.zeros(2, dtype=np.float64)]
    heading = None
    for i, length in enumerate(lengths):
        heading = angles[i] if heading is None else heading + angles[i]
        step = tg.stack([heading.cos(), heading.sin()]) * length
        points.append(points[-1] + step)
    return points


def solve(target=(1.2, 1.0), start=(0.3, 0.3, 0.3), lr: float = 0.1, tolerance: float = 1e-3,
          max_steps: int = 5000) -> dict:
    """Gradient descent on the squared distance from the hand to ``target``.

    Returns:
        The final angles, the hand position, its distance to the target and the number of steps.
    """
    target = np.asarray(target, dtype=np.float64)
    if np.linalg.norm(target) > sum(LENGTHS):
        raise ValueError(f"target {tuple(target)} is out of reach (the arm is {sum(LENGTHS)} long)")
    angles = tg.tensor(np.asarray(start, dtype=np.float64), requires_grad=True, name="angles")
    for step in range(max_steps):  # noqa: B007 (the count is reported after the loop)
        hand = joint_positions(angles)[-1]
        distance_squared = ((hand - target) ** 2).sum()
        if distance_squared.item() ** 0.5 < tolerance:
            break
        distance_squared.backward()
        with tg.no_grad():
            angles -= lr * angles.grad
        angles.grad = None
    hand = joint_positions(angles)[-1].numpy()
    return {"angles": angles.numpy(), "hand": hand, "distance": float(np.linalg.norm(hand - target)),
            "steps": step, "start": np.asarray(start, dtype=np.float64), "target": target}


def draw(result: dict, path: str) -> None:
    """Save a picture of the arm at its start and at the solution, with the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 5))
    for angles, style, label in ((result["start"], "o--", "start"), (result["angles"], "o-", "solution")):
        points = np.array([p.numpy() for p in joint_positions(tg.tensor(angles))])
        axes.plot(points[:, 0], points[:, 1], style, label=label, linewidth=2)
    axes.plot(*result["target"], "r*", markersize=15, label="target")
    reach = sum(LENGTHS)
    axes.set(xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal",
             title=f"reached within {result['distance']:.1e} in {result['steps']} steps")
    axes.legend(loc="lower left")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, nargs=2, default=(1.2, 1.0))
    parser.add_argument("--picture", default="arm.png")
    args = parser.parse_args()
    result = solve(tuple(args.target))
    print(f"angles {np.round(result['angles'], 4)} put the hand at {np.round(result['hand'], 4)}, "
          f"{result['distance']:.2e} from the target, after {result['steps']} steps")
    draw(result, args.picture)
    print(f"picture saved to {args.picture}")


if __name__ == "__main__":
    main()
