"""Every example runs as a script and does what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(name: str, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_layer_net_loss_falls_as_in_the_lecture():
    out = run("two_layer_net", "--steps", "200")
    losses = [float(x) for x in re.findall(r"loss\s+([\d.]+)", out)]
    assert len(losses) >= 10 and losses[-1] < 0.05 * losses[0]
    assert all(b < a for a, b in zip(losses, losses[1:]))


def test_logistic_regression_separates_the_classes():
    out = run("logistic_regression")
    assert float(re.search(r"training accuracy ([\d.]+)", out).group(1)) >= 0.95
    losses = [float(x) for x in re.findall(r"loss ([\d.]+)", out)]
    assert losses[-1] < losses[0] / 4


def test_inverse_kinematics_reaches_the_target_and_draws_the_arm(tmp_path):
    out = run("inverse_kinematics", "--target", "-0.5", "1.4", "--picture", "arm.png", cwd=tmp_path)
    hand = [float(v) for v in re.search(r"hand at \[\s*(\S+)\s+(\S+)\]", out).groups()]
    assert np.hypot(hand[0] + 0.5, hand[1] - 1.4) < 1e-3 + 1e-4  # printed to 4 decimals
    assert float(re.search(r"([\d.e+-]+) from the target", out).group(1)) < 1e-3
    assert (tmp_path / "arm.png").read_bytes()[:4] == b"\x89PNG"


def test_sequence_lstm_learns_to_recall_the_first_token():
    out = run("sequence_lstm")
    accuracy, chance = (float(v) for v in re.search(r"held-out accuracy ([\d.]+) \(chance ([\d.]+)\)", out).groups())
    assert chance == 0.25 and accuracy >= 0.9
    losses = [float(x) for x in re.findall(r"loss ([\d.]+)", out)]
    assert len(losses) >= 10 and losses[-1] < 0.2 * losses[0]


def test_char_transformer_learns_a_text_and_samples_from_its_vocabulary(tmp_path):
    import json

    lines = ["the quick brown fox jumps over the lazy dog.", "a stitch in time saves nine.",
             "all that glitters is not gold.", "where there is smoke there is fire."]
    text = "\n".join(lines[i % 4] for i in range(40)) + "\n"
    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    # A step count, not a time limit: the result does not depend on how busy the machine is (about 10 s).
    out = run("char_transformer", str(tmp_path / "text.txt"), "--steps", "100", "--layers", "1",
              "--sample-length", "120")
    loss, _, baseline = re.search(r"final loss ([\d.]+) after (\d+) steps \(uniform baseline ([\d.]+)\)",
                                out).groups()
    vocabulary = set(text)
    assert float(baseline) == round(np.log(len(vocabulary)), 4)
    assert float(loss) < 0.4 * float(baseline)
    losses = [float(x) for x in re.findall(r"step\s+\d+\s+loss ([\d.]+)", out)]
    assert losses[0] > 0.8 * float(baseline) and losses[-1] < losses[0] / 2
    written = json.loads(re.search(r"sample: (.*)", out).group(1))
    assert len(written) == 120 and set(written) <= vocabulary


def test_max_likelihood_recovers_the_parameters_with_scipy_optimize():
    out = run("max_likelihood")
    rows = re.findall(r"^\s+(\w+)\s+([\d.]+) \+- ([\d.]+)\s+\(true ([\d.]+), scipy\.stats\.\w+\.fit ([\d.]+)\)", out,
                      re.MULTILINE)
    assert [r[0] for r in rows] == ["df", "loc", "scale", "a", "scale"]
    for _, value, error, true, theirs in rows:
        value, error, true, theirs = float(value), float(error), float(true), float(theirs)
        assert abs(value - true) < 3 * error and error < 0.15 * true  # within its standard error of the truth
        assert abs(value - theirs) <= 2e-4 * max(1.0, abs(theirs))  # the maximum scipy.stats' fit finds
    ours, theirs = (float(v) for v in re.search(r"negative log-likelihood ([\d.]+) \(scipy.stats.t.fit's ([\d.]+)\)",
                                                 out).groups())
    assert ours <= theirs + 1e-6
    assert "by trust-ncg" in out and "by L-BFGS-B" in out


def test_dp_sgd_trains_a_private_classifier_of_the_digits():
    out = run("dp_sgd")
    accuracy, steps, epsilon, delta = re.search(
        r"test accuracy ([\d.]+) after (\d+) steps, \(([\d.]+), ([\de.-]+)\)-differentially private", out).groups()
    assert float(accuracy) >= 0.9 and int(steps) == 345
    assert float(delta) == 1e-5 and 5.0 < float(epsilon) < 8.0
    accuracies = [float(a) for a in re.findall(r"epoch\s+\d+\s+test accuracy ([\d.]+)", out)]
    assert len(accuracies) == 15 and accuracies[-1] > accuracies[0]


def test_dp_sgd_privacy_accountant_gives_the_published_epsilon():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dp_sgd", EXAMPLES / "dp_sgd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # TensorFlow Privacy's MNIST tutorial: 60,000 examples, batches of 256, noise 1.1, 60 epochs, delta 1e-5.
    epsilon, _ = module.rdp_epsilon(256 / 60000, 1.1, 60 * 60000 // 256, 1e-5)
    assert abs(epsilon - 3.01) < 0.01


def test_pendulum_fit_recovers_the_damping_frequency_and_initial_angle():  # issue 15
    out = run("pendulum_fit")
    fitted = {name: (float(true), float(value)) for name, true, value in
              re.findall(r"(\w+)\s+true ([\d.]+)\s+guess [\d.]+\s+fitted ([\d.]+)", out)}
    assert set(fitted) == {"damping", "frequency", "theta0"}
    for name, tolerance in (("damping", 0.02), ("frequency", 0.01), ("theta0", 0.02)):
        true, value = fitted[name]
        assert abs(value - true) < tolerance, (name, value, true)


def test_gaussian_process_recovers_its_hyperparameters(monkeypatch):
    # One BLAS thread: LAPACK's small factorizations stall for whole seconds when other jobs hold the cores.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    out = run("gaussian_process")
    s, ell, noise = (float(v) for v in re.search(r"fitted s ([\d.]+), l ([\d.]+), noise ([\d.]+)", out).groups())
    assert abs(s - 1.5) < 0.5 and abs(ell - 0.7) < 0.1 and abs(noise - 0.04) < 0.01
    final, at_truth, norm = (float(v) for v in re.search(
        r"final NLML ([-\d.]+) \(at the true hyperparameters ([-\d.]+)\), gradient norm ([\d.e+-]+)", out).groups())
    assert final <= at_truth and norm < 0.5  # the maximum-likelihood fit beats the truth on its own data
    losses = [float(v) for v in re.findall(r"NLML ([-\d.]+)\n", out)]
    assert len(losses) >= 10 and losses[-1] < losses[0] / 10


def test_phase_retrieval_recovers_the_complex_object_from_fourier_magnitudes():  # issue 18
    out = run("phase_retrieval", "--seed", "3")
    assert float(re.search(r"relative error ([\d.e+-]+) after", out).group(1)) < 1e-8
    start = float(re.search(r"spectral start: error ([\d.]+)", out).group(1))
    assert start > 0.1  # the start is far from the object: the gradient descent does the work
    losses = [float(x) for x in re.findall(r"loss ([\d.e+-]+)", out)]
    assert len(losses) >= 5 and losses[-1] < 1e-20 * losses[0]
