"""A small reference for building SCNN models in Python (numpy; PyTorch optional).

Symmetric convolutions as the paper trains them: a kernel stores only its free entries and
is expanded to a full kernel with W[o][pi(c)] = W[o][c] transposed, so the symmetry holds
exactly, whatever training does. `forward` runs a model the way the scnn runtime does (one
sequence on its own n x n map, "same" zero padding, dilation, conv -> + residual ->
activation, sigmoid of the last layer), and `export` writes the safetensors file
`scnn convert` reads, with scnn's tensor names or an nn.Sequential state_dict's, in f32 or
f16, with batch norm. Only numpy is needed; see tools/python/README.md.
"""

import json
import struct

import numpy as np

RNA = "ACGUN"


def partners(embedding_dim, pair_features):
    """The involution pi of layer 0's input channels: which channel mirrors which."""
    d, out = embedding_dim, []
    for feature in pair_features:
        start = len(out)
        if feature == "concat":
            out += [start + d + f for f in range(d)] + [start + f for f in range(d)]
        elif feature == "outer":
            out += [start + b * d + a for a in range(d) for b in range(d)]
        else:
            raise ValueError(f"unknown pair feature {feature!r}")
    return out


def free_mask(pi, k):
    """Entries [c, u, v] a kernel stores: channel c < pi(c), or c = pi(c) and u <= v."""
    mask = np.zeros((len(pi), k, k), dtype=bool)
    for c, p in enumerate(pi):
        if c < p:
            mask[c] = True
        elif c == p:
            mask[c] = np.triu(np.ones((k, k), dtype=bool))
    return mask


def expand(free, pi, k):
    """Full kernels [O, C, k, k] from the free entries [O, F] (F = free_mask(pi, k).sum())."""
    mask = free_mask(pi, k)
    out = free.shape[0]
    w = np.zeros((out, len(pi), k, k), dtype=free.dtype)
    w[:, mask] = free
    for c, p in enumerate(pi):
        if c > p:
            w[:, c] = np.swapaxes(w[:, p], 1, 2)
        elif c == p:
            lower = np.tril(np.ones((k, k), dtype=bool), -1)
            w[:, c][:, lower] = np.swapaxes(w[:, c], 1, 2)[:, lower]
    return w


def pair_tensor(config, embedding, tokens):
    """The pair features [C, n, n] of a sequence's tokens."""
    rows = embedding[np.asarray(tokens)]
    n, d = rows.shape
    parts = []
    for feature in config["pair_features"]:
        if feature == "concat":
            parts.append(np.broadcast_to(rows.T[:, :, None], (d, n, n)))
            parts.append(np.broadcast_to(rows.T[:, None, :], (d, n, n)))
        else:
            parts.append(np.einsum("ia,jb->abij", rows, rows).reshape(d * d, n, n))
    return np.concatenate(parts, axis=0)


def conv_same(x, w, b, dilation):
    """Stride 1, dilation, zeros outside the map: x [C, n, n] -> [O, n, n]."""
    out_c, _, k, _ = w.shape
    n = x.shape[1]
    r = (k // 2) * dilation
    padded = np.pad(x, ((0, 0), (r, r), (r, r)))
    y = np.broadcast_to(b[:, None, None], (out_c, n, n)).astype(np.float64)
    for u in range(k):
        for v in range(k):
            window = padded[:, u * dilation:u * dilation + n, v * dilation:v * dilation + n]
            y = y + np.einsum("oc,cij->oij", w[:, :, u, v], window)
    return y


def activate(name, x):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "relu6":
        return np.clip(x, 0, 6)
    if name == "none":
        return x
    raise ValueError(f"unknown activation {name!r} (none, relu or relu6)")


def forward(config, embedding, layers, tokens):
    """Pair probabilities [n, n] of `tokens`; `layers` is a list of (W [O, C, k, k], b [O])
    with batch norm already folded."""
    x = pair_tensor(config, np.asarray(embedding, dtype=np.float64), tokens)
    outputs = []
    for spec, (w, b) in zip(config["layers"], layers):
        y = conv_same(x, np.asarray(w, np.float64), np.asarray(b, np.float64), spec.get("dilation", 1))
        if spec.get("residual") is not None:
            y = y + outputs[spec["residual"]]
        y = activate(spec.get("activation", "none"), y)
        outputs.append(y)
        x = y
    return 1.0 / (1.0 + np.exp(-x[0]))


def tokens_of(sequence):
    """RNA letters as the example's tokens (T as U, anything else as N)."""
    return [RNA.index(c) if c in RNA else 4 for c in sequence.upper().replace("T", "U")]


_DTYPES = {"float32": ("F32", np.float32), "float16": ("F16", np.float16), "int64": ("I64", np.int64)}


def write_safetensors(path, tensors, metadata):
    """tensors: name -> numpy array (float32, float16 or int64); metadata: str -> str."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        tag, _ = _DTYPES[str(array.dtype)]
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": tag, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def export(path, config, layers, embedding=None, batch_norms=None, layout="scnn", dtype="float32"):
    """Writes the weights `scnn convert` reads. `layers`: (W, b) per conv (before batch
    norm); `batch_norms`: {t: (gamma, beta, running_mean, running_var)} for the layers whose
    description has "batch_norm": true; `layout`: "scnn" (layers.N.*) or "sequential" (the
    names an nn.Sequential of conv, batch norm and activation modules gives, with
    num_batches_tracked); `dtype`: "float32" or "float16"."""
    float_type = _DTYPES[dtype][1]
    batch_norms = batch_norms or {}
    tensors, module = {}, 0
    for t, (w, b) in enumerate(layers):
        conv = f"layers.{t}" if layout == "scnn" else f"net.{module}"
        tensors[f"{conv}.weight"] = np.asarray(w, float_type)
        tensors[f"{conv}.bias"] = np.asarray(b, float_type)
        module += 1
        if t in batch_norms:
            norm = f"layers.{t}.bn" if layout == "scnn" else f"net.{module}"
            for key, value in zip(["weight", "bias", "running_mean", "running_var"], batch_norms[t]):
                tensors[f"{norm}.{key}"] = np.asarray(value, float_type)
            tensors[f"{norm}.num_batches_tracked"] = np.array(100, dtype=np.int64).reshape(())
            module += 1
        module += 1  # the activation module
    if embedding is not None:
        tensors["embedding.weight" if layout == "scnn" else "embed.weight"] = np.asarray(embedding, float_type)
    write_safetensors(path, tensors, {"scnn": json.dumps(config)})
