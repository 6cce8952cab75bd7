"""A worked example: an SCNN trained in PyTorch, exported for `scnn convert`.

The symmetric layers keep only their free kernel entries as parameters (the paper's
parameterization, `scnn_ref.free_mask`) and gather the full kernel from them in every forward
pass, so every kernel is exactly symmetric after every optimizer step. The network runs as
the scnn runtime runs it: one sequence on its own n × n map, "same" zero padding, stride 1,
conv → + residual → ReLU, the pair logit last. After a few steps on RNA structures the
weights go out through `scnn_ref.export`:

    python3 -m pip install torch numpy
    python3 tools/python/train_torch.py tools/data/example.fa torch.safetensors --steps 60
    scnn convert torch.safetensors --calibrate tools/data/calibration.fa -o torch.scnn
    scnn verify torch.scnn --weights torch.safetensors --inputs tools/data/example.fa
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F

import scnn_ref

CONFIG = {
    "app": "rna",
    "pair_len": 128,
    "embedding_dim": 4,
    "pair_features": ["concat", "outer"],
    "layers": [
        {"out_channels": 8, "kernel": 1, "activation": "relu"},
        {"out_channels": 8, "kernel": 3, "dilation": 1, "activation": "relu"},
        {"out_channels": 8, "kernel": 3, "dilation": 2, "activation": "relu", "residual": 1},
        {"out_channels": 8, "kernel": 3, "dilation": 4, "activation": "relu", "residual": 2},
        {"out_channels": 1, "kernel": 1},
    ],
    "bn_eps": 1e-5,
}
ONE_HOT = np.vstack([np.eye(4), np.zeros((1, 4))])


class SymmetricConv(torch.nn.Module):
    """A conv whose kernel obeys W[o][pi(c)] = W[o][c]ᵀ: `free` holds the free entries, and
    `index` says which one each dense entry [c, u, v] is (from `scnn_ref.expand` on their
    numbers), so the dense kernel is a gather."""

    def __init__(self, pi, out_channels, kernel, dilation, generator):
        super().__init__()
        count = int(scnn_ref.free_mask(pi, kernel).sum())
        numbers = np.arange(count, dtype=np.float64)[None, :]
        index = scnn_ref.expand(numbers, pi, kernel)[0].round().astype(np.int64)
        self.register_buffer("index", torch.from_numpy(index))
        bound = (3.0 / (len(pi) * kernel * kernel)) ** 0.5
        self.free = torch.nn.Parameter((torch.rand(out_channels, count, generator=generator) * 2 - 1) * bound)
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))
        self.dilation = dilation
        self.padding = dilation * (kernel // 2)

    def weight(self):
        return self.free[:, self.index]  # [O, C, k, k]

    def forward(self, x):
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding, dilation=self.dilation)


class Scnn(torch.nn.Module):
    def __init__(self, config, seed=1):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        pi0 = scnn_ref.partners(config["embedding_dim"], config["pair_features"])
        self.specs = config["layers"]
        convs, channels = [], len(pi0)
        for t, spec in enumerate(self.specs):
            pi = pi0 if t == 0 else list(range(channels))
            convs.append(SymmetricConv(pi, spec["out_channels"], spec["kernel"], spec.get("dilation", 1), generator))
            channels = spec["out_channels"]
        self.convs = torch.nn.ModuleList(convs)
        with torch.no_grad():
            self.convs[-1].bias.fill_(-3.0)  # pairs are rare

    def forward(self, pairs):
        """Pair logits [n, n] of one sequence's pair features [C, n, n]."""
        x, outputs = pairs[None], []
        for spec, conv in zip(self.specs, self.convs):
            y = conv(x)
            if spec.get("residual") is not None:
                y = y + outputs[spec["residual"]]
            if spec.get("activation") == "relu":
                y = torch.relu(y)
            outputs.append(y)
            x = y
        return x[0, 0]


def read(path):
    """(sequence, pairs) of a 3-line FASTA with dot-bracket structures."""
    with open(path) as file:
        lines = [l.strip() for l in file if l.strip() and not l.startswith(";")]
    out = []
    for k in range(0, len(lines), 3):
        sequence, structure = lines[k + 1], lines[k + 2]
        stack, pairs = [], []
        for i, ch in enumerate(structure):
            if ch == "(":
                stack.append(i)
            elif ch == ")" and stack:
                pairs.append((stack.pop(), i))
        out.append((sequence, pairs))
    return out


def train(data, steps, seed=1, rate=0.01, pos_weight=4.0):
    """The model after `steps` Adam steps, one sequence a step, and the loss of each step."""
    model = Scnn(CONFIG, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=rate)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        sequence, pairs = data[rng.integers(len(data))]
        x = torch.from_numpy(scnn_ref.pair_tensor(CONFIG, ONE_HOT, scnn_ref.tokens_of(sequence))).float()
        target = torch.zeros(len(sequence), len(sequence))
        for i, j in pairs:
            target[i, j] = target[j, i] = 1.0
        weight = 1.0 + (pos_weight - 1.0) * target
        loss = F.binary_cross_entropy_with_logits(model(x), target, weight=weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def export(model, path):
    layers = [(conv.weight().detach().double().numpy(), conv.bias.detach().double().numpy()) for conv in model.convs]
    scnn_ref.export(path, CONFIG, layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="3-line FASTA with dot-bracket structures")
    parser.add_argument("output", help="safetensors file for scnn convert")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    model, losses = train(read(args.data), args.steps)
    head, tail = np.mean(losses[:10]), np.mean(losses[-10:])
    print(f"{args.steps} steps: mean loss {head:.4f} over the first 10, {tail:.4f} over the last 10")
    export(model, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
