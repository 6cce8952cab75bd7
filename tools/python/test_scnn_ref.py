"""Tests of the Python reference against the scnn CLI (numpy only):
    python3 -m unittest discover -s tools/python
with the scnn binary at $SCNN (default: target/release/scnn of this repository)."""

import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

import scnn_ref

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCNN = os.environ.get("SCNN", os.path.join(ROOT, "target", "release", "scnn"))


def model(rng, width=6, kernel=3):
    """A random SCNN: one-hot RNA, [e_i ; e_j] and the outer product, a 1x1 generating
    layer, two dilated symmetric 3x3 layers with a skip, a 1x1 head."""
    config = {
        "app": "rna",
        "pair_len": 32,
        "embedding_dim": 4,
        "pair_features": ["concat", "outer"],
        "layers": [
            {"out_channels": width, "kernel": 1, "activation": "relu"},
            {"out_channels": width, "kernel": kernel, "dilation": 1, "activation": "relu"},
            {"out_channels": width, "kernel": kernel, "dilation": 2, "activation": "relu", "residual": 0},
            {"out_channels": 1, "kernel": 1},
        ],
        "bn_eps": 1e-5,
    }
    pi0 = scnn_ref.partners(4, config["pair_features"])
    layers, channels = [], len(pi0)
    for t, spec in enumerate(config["layers"]):
        pi = pi0 if t == 0 else list(range(channels))
        k = spec["kernel"]
        free = rng.normal(0, 0.4, (spec["out_channels"], int(scnn_ref.free_mask(pi, k).sum())))
        layers.append((scnn_ref.expand(free, pi, k), rng.normal(0, 0.1, spec["out_channels"])))
        channels = spec["out_channels"]
    embedding = np.vstack([np.eye(4), np.zeros((1, 4))])
    return config, embedding, layers


def sequences(rng, count, low=8, high=30):
    return ["".join(rng.choice(list("ACGU"), rng.integers(low, high))) for _ in range(count)]


def scnn(*args):
    done = subprocess.run([SCNN, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"scnn {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


class Symmetry(unittest.TestCase):
    def test_expanded_kernels_obey_the_rule_exactly(self):
        rng = np.random.default_rng(1)
        for features in (["concat"], ["outer"], ["concat", "outer"]):
            pi = scnn_ref.partners(3, features)
            for k in (1, 3, 5):
                free = rng.normal(size=(4, int(scnn_ref.free_mask(pi, k).sum())))
                w = scnn_ref.expand(free, pi, k)
                for c, p in enumerate(pi):
                    np.testing.assert_array_equal(w[:, p], np.swapaxes(w[:, c], 1, 2))

    def test_free_entries_are_about_half(self):
        pi = list(range(8))
        self.assertEqual(int(scnn_ref.free_mask(pi, 3).sum()), 8 * 6)


@unittest.skipUnless(os.path.exists(SCNN), f"no scnn binary at {SCNN}")
class AgainstTheCli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.rng = np.random.default_rng(7)

    def tearDown(self):
        self.dir.cleanup()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def write_fasta(self, name, seqs):
        with open(self.path(name), "w") as f:
            for i, s in enumerate(seqs):
                f.write(f">s{i}\n{s}\n")
        return self.path(name)

    def test_the_runtime_computes_what_forward_computes(self):
        config, embedding, layers = model(self.rng)
        scnn_ref.export(self.path("w.safetensors"), config, layers)
        scnn("convert", self.path("w.safetensors"), "--precision", "f32", "-o", self.path("m.scnn"))
        seqs = sequences(self.rng, 6)
        fasta = self.write_fasta("s.fa", seqs)
        out = scnn("predict", self.path("m.scnn"), "--fasta", fasta, "--json", "--min-prob", "0")
        for seq, line in zip(seqs, out.splitlines()):
            want = scnn_ref.forward(config, embedding, layers, scnn_ref.tokens_of(seq))
            got = np.zeros_like(want)
            for i, j, p in json.loads(line)["probabilities"]:
                got[i, j] = p
            upper = np.triu(np.ones_like(want, dtype=bool), 1)
            # The CLI prints probabilities to 4 decimals.
            np.testing.assert_allclose(got[upper], want[upper], atol=6e-5)

    def test_a_pytorch_style_file_converts_and_verifies(self):
        # nn.Sequential names, f16 weights, a batch norm with its num_batches_tracked.
        config, embedding, layers = model(self.rng)
        config["layers"][1]["batch_norm"] = True
        width = config["layers"][1]["out_channels"]
        bn = (
            self.rng.uniform(0.8, 1.2, width),
            self.rng.normal(0, 0.05, width),
            self.rng.normal(0, 0.05, width),
            self.rng.uniform(0.5, 1.5, width),
        )
        weights = self.path("torch.safetensors")
        scnn_ref.export(weights, config, layers, embedding=embedding, batch_norms={1: bn},
                        layout="sequential", dtype="float16")
        calibration = self.write_fasta("c.fa", sequences(self.rng, 40))
        converted = subprocess.run(
            [SCNN, "convert", weights, "--calibrate", calibration, "-o", self.path("m.scnn")],
            capture_output=True, text=True)
        self.assertEqual(converted.returncode, 0, converted.stderr)
        self.assertIn("read as f32 from another float type", converted.stderr)
        inputs = self.write_fasta("v.fa", sequences(self.rng, 8))
        # A random model's pairs sit near the threshold, where a few int8 steps flip them:
        # judge the probabilities (|dp| quantiles), not the structures.
        report = json.loads(scnn("verify", self.path("m.scnn"), "--weights", weights,
                                 "--inputs", inputs, "--json", "--min-f1", "0"))
        self.assertTrue(report["passed"], report)


if __name__ == "__main__":
    unittest.main()
