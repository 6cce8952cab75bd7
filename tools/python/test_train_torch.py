"""The PyTorch worked example (train_torch.py): the loss falls, kernels stay exactly symmetric,
the torch forward pass is the reference's (so the runtime's), and the export converts and
verifies with the scnn CLI. Skipped where PyTorch is not installed (CI runs numpy only)."""

import os
import tempfile
import unittest

import numpy as np

import scnn_ref
from test_scnn_ref import ROOT, scnn

try:
    import torch

    import train_torch
except Exception as error:  # a missing or broken (e.g. CUDA-less) install alike
    torch = None
    REASON = f"PyTorch is not usable here: {error}"
else:
    REASON = ""


@unittest.skipUnless(torch is not None, REASON)
class TorchExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = train_torch.read(os.path.join(ROOT, "tools", "data", "example.fa"))
        cls.model, cls.losses = train_torch.train(cls.data, steps=40)

    def test_the_loss_falls(self):
        self.assertLess(np.mean(self.losses[-10:]), 0.8 * np.mean(self.losses[:10]))

    def test_kernels_are_exactly_symmetric_after_training(self):
        pi0 = scnn_ref.partners(4, train_torch.CONFIG["pair_features"])
        for t, conv in enumerate(self.model.convs):
            w = conv.weight().detach().numpy()
            pi = pi0 if t == 0 else list(range(w.shape[1]))
            for c, p in enumerate(pi):
                np.testing.assert_array_equal(w[:, p], np.swapaxes(w[:, c], 1, 2))

    def test_the_forward_pass_is_the_reference(self):
        layers = [(c.weight().detach().double().numpy(), c.bias.detach().double().numpy()) for c in self.model.convs]
        sequence = self.data[0][0]
        tokens = scnn_ref.tokens_of(sequence)
        x = torch.from_numpy(scnn_ref.pair_tensor(train_torch.CONFIG, train_torch.ONE_HOT, tokens)).float()
        with torch.no_grad():
            got = torch.sigmoid(self.model(x)).double().numpy()
        want = scnn_ref.forward(train_torch.CONFIG, train_torch.ONE_HOT, layers, tokens)
        np.testing.assert_allclose(got, want, atol=1e-5)

    def test_the_export_converts_and_verifies(self):
        with tempfile.TemporaryDirectory() as dir:
            weights, blob = os.path.join(dir, "t.safetensors"), os.path.join(dir, "t.scnn")
            train_torch.export(self.model, weights)
            calibration = os.path.join(ROOT, "tools", "data", "calibration.fa")
            scnn("convert", weights, "--calibrate", calibration, "-o", blob)
            scnn("verify", blob, "--weights", weights, "--inputs", os.path.join(ROOT, "tools", "data", "example.fa"))


if __name__ == "__main__":
    unittest.main()
