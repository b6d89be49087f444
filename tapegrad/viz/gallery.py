"""The lectures' worked examples, ready to explain: ``tapegrad explain --example NAME``.

Each :class:`Entry` builds its computation with the slide's values and names, runs ``backward()``, and
returns a :class:`Computation` (the output, the leaves by name, and what the explanation alone does not
say, such as a gradient accumulated over two backward passes). ``tests/viz/test_gallery.py`` checks every
entry's explained numbers against the slides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..optim import SGD
from ..tensor import Tensor
from .draw import VizError
from .explain import Explanation, explain


@dataclass(frozen=True)
class Computation:
    """What an entry builds.

    Attributes:
        output: the result, after ``backward()``.
        leaves: the inputs by name (their ``.grad`` filled).
        notes: lines to show after the explanation (what the steps alone do not show).
    """

    output: Tensor
    leaves: dict[str, Tensor]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One worked example of the lectures.

    Attributes:
        name: how ``tapegrad explain --example`` calls it.
        description: one line saying what it shows.
        lecture: the lecture it comes from (its file in the lectures' folder, and its language).
        build: computes it with the slide's values and runs backward.
    """

    name: str
    description: str
    lecture: str
    build: Callable[[], Computation] = field(repr=False)

    def explain(self) -> Explanation:
        """The explanation of the entry's computation, followed by its notes.

        Returns:
            The text, as :func:`tapegrad.viz.explain` writes it, with the notes after it.
        """
        computation = self.build()
        return Explanation("\n".join([explain(computation.output), *computation.notes]))


def _scalars(**values: float) -> dict[str, Tensor]:
    return {name: Tensor(np.asarray(value, dtype=np.float64), requires_grad=True, name=name)
            for name, value in values.items()}


def _named(tensor: Tensor, name: str) -> Tensor:
    tensor.name = name
    return tensor


def _square() -> Computation:
    v = _scalars(x1=1.0, x2=2.0)
    scaled = _named(3 * v["x2"], "x2'")
    y = _named(v["x1"] + scaled, "y")
    z = _named(y ** 2, "z")
    z.backward()
    return Computation(z, v)


def _linear(v: dict[str, Tensor]) -> Tensor:
    """The lecture's ``x_ = x * w``, ``l = sum(x_)``, ``s = l + b``."""
    products = _named(v["x"] * v["w"], "x_")
    total = _named(products.sum(), "l")
    return _named(total + v["b"], "s")


def _logistic_leaves() -> dict[str, Tensor]:
    return {"x": Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True, name="x"),
            "w": Tensor(np.array([0.5, 0.3, 1.0]), requires_grad=True, name="w"),
            **_scalars(b=-1.5)}


def _logistic() -> Computation:
    v = _logistic_leaves()
    s = _linear(v)
    i = _named(-1.0 * s, "i")
    g = _named(i.exp(), "g")
    u = _named(g + 1.0, "v")
    q = _named(1.0 / u, "q")
    q.backward()
    return Computation(q, v)


def _logistic_sigmoid() -> Computation:
    v = _logistic_leaves()
    q = _named(_linear(v).sigmoid(), "q")
    q.backward()
    return Computation(q, v)


def _circuit() -> Computation:
    v = _scalars(x=-2.0, y=5.0, z=-4.0)
    q = _named(v["x"] + v["y"], "q")
    f = _named(q * v["z"], "f")
    f.backward()
    return Computation(f, v)


def _weighted_sum(v: dict[str, Tensor]) -> Tensor:
    """The slide's code: ``s0 = w0 * x0``, ``s1 = w1 * x1``, ``s2 = s0 + s1``, ``s3 = s2 + w2``."""
    s0 = _named(v["w0"] * v["x0"], "s0")
    s1 = _named(v["w1"] * v["x1"], "s1")
    s2 = _named(s0 + s1, "s2")
    return _named(s2 + v["w2"], "s3")


def _neuron_values() -> dict[str, Tensor]:
    return _scalars(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)


def _neuron() -> Computation:
    v = _neuron_values()
    f = 1.0 / ((-1.0 * _weighted_sum(v)).exp() + 1.0)  # the slide's gates: *-1, exp, +1, 1/x
    f.backward()
    return Computation(f, v)


def _neuron_sigmoid() -> Computation:
    v = _neuron_values()
    loss = _named(_weighted_sum(v).sigmoid(), "L")
    loss.backward()
    return Computation(loss, v)


def _gates() -> Computation:
    v = _scalars(x=3.0, y=-4.0, z=2.0, w=-1.0)
    f = 2.0 * (v["x"] * v["y"] + v["z"].maximum(v["w"]))
    f.backward()
    return Computation(f, v)


def _accumulation() -> Computation:
    v = _scalars(a=2.0, b=3.0)
    a, b = v["a"], v["b"]

    def loss() -> Tensor:
        return _named(a * b + (a + b), "L")

    result = loss()
    result.backward()
    once = (a.grad.item(), b.grad.item())
    loss().backward()  # a second backward pass, without zero_grad: the gradients add up again
    twice = (a.grad.item(), b.grad.item())
    optimizer = SGD([a, b], lr=0.1)
    optimizer.zero_grad()
    loss().backward()
    again = (a.grad.item(), b.grad.item())
    notes = (
        f"after L.backward(): a.grad = {once[0]:g}, b.grad = {once[1]:g}",
        f"after a second L.backward() without zero_grad: a.grad = {twice[0]:g}, b.grad = {twice[1]:g} "
        "(backward adds to .grad: the gradients accumulate)",
        f"after optimizer.zero_grad() and L.backward(): a.grad = {again[0]:g}, b.grad = {again[1]:g}",
    )
    return Computation(result, v, notes)


def _routing() -> Computation:
    v = _scalars(a=2.0, b=3.0)
    loss = _named((v["a"] * v["b"]).maximum(v["a"] + v["b"]), "L")
    loss.backward()
    return Computation(loss, v)


def _two_layer() -> Computation:
    n, d_in, hidden, d_out = 64, 1000, 100, 10  # the slide's sizes
    rng = np.random.default_rng(0)
    v = {name: Tensor(rng.standard_normal(shape), requires_grad=True, name=name)
         for name, shape in (("x", (n, d_in)), ("y", (n, d_out)), ("w1", (d_in, hidden)), ("w2", (hidden, d_out)))}
    h = _named(1.0 / ((-(v["x"] @ v["w1"])).exp() + 1.0), "h")
    y_pred = _named(h @ v["w2"], "y_pred")
    loss = _named(((y_pred - v["y"]) ** 2).sum(), "loss")
    loss.backward()
    return Computation(loss, v)


ENTRIES: tuple[Entry, ...] = (
    Entry("square", "z = (x1 + 3*x2)**2 at x1 = 1, x2 = 2, numbered as the slide: dz/dx1 = 14, dz/dx2 = 42",
          "000 (Czech): the function as a graph, in detail", _square),
    Entry("logistic", "binary logistic regression, one gate per step (mul, sum, add, *-1, exp, +1, 1/v)",
          "000 (Czech): linear_sigmoid_with_backprop, x = [1, -2, 3], w = [0.5, 0.3, 1], b = -1.5",
          _logistic),
    Entry("logistic-sigmoid", "the same logistic regression with one sigmoid gate: ds = q(1 - q) = 0.16",
          "000 (Czech): linear_sigmoid_with_backprop with the sigmoid as one node", _logistic_sigmoid),
    Entry("circuit", "f = (x + y) z at x = -2, y = 5, z = -4: q = 3, f = -12, df/dx = df/dy = -4, df/dz = 3",
          "001 (Russian): backpropagation, an example", _circuit),
    Entry("neuron", "the sigmoid neuron 1/(1 + exp(-(w0 x0 + w1 x1 + w2))), one gate per step",
          "001 (Russian): another example, w0 = 2, x0 = -1, w1 = -3, x1 = -2, w2 = -3", _neuron),
    Entry("neuron-sigmoid", "the same neuron with one sigmoid gate: (1 - L) L = 0.2",
          "001 (Russian): the graph simplified; the slide's code s0 ... s3, L = sigmoid(s3)", _neuron_sigmoid),
    Entry("gates", "f = 2 (x y + max(z, w)): add distributes, mul swaps, max routes",
          "001 (Russian) and 004 (Romanian): patterns in backward flow (cs231n.github.io/optimization-2, "
          "which 004 cites: x = 3, y = -4, z = 2, w = -1)", _gates),
    Entry("accumulation", "L = (a*b) + (a + b): copy adds; backward accumulates into .grad until zero_grad",
          "004 (Romanian): gradient accumulation, zero_grad (a = 2, b = 3: the slide's values are not in the "
          "text)", _accumulation),
    Entry("routing", "L = max(a*b, a + b): max routes the gradient to the larger input",
          "004 (Romanian): gradient accumulation, max (a = 2, b = 3)", _routing),
    Entry("two-layer", "the 20-line two-layer net's forward and backward: N, D_in, H, D_out = 64, 1000, 100, 10",
          "001 (Russian): training a two-layer network in ~20 lines (random values: see the shapes)",
          _two_layer),
)


def entry(name: str) -> Entry:
    """The gallery's entry called ``name``.

    Returns:
        The :class:`Entry`.

    Raises:
        VizError: if there is none, naming the entries there are.
    """
    for candidate in ENTRIES:
        if candidate.name == name:
            return candidate
    raise VizError(f"explain --example: no example {name!r}; the examples are "
                   f"{', '.join(e.name for e in ENTRIES)} (see tapegrad explain --list-examples)")


def listing() -> str:
    """The entries, one per line: name, description and lecture.

    Returns:
        The text ``tapegrad explain --list-examples`` prints.
    """
    width = max(len(e.name) for e in ENTRIES)
    return "\n".join(f"{e.name:<{width}}  {e.description}\n{'':<{width}}  lecture {e.lecture}" for e in ENTRIES)
