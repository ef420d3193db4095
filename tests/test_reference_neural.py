#!/usr/bin/python3
"""The C decoder network (tests/tools/decoder_dump) against the numpy reference forward of
test_reference_decoder.py, max |X_numpy - X_c| <= 1e-4 max(1, max |X|), on random latents for
every built-in model and for random kind "neural" models that this script writes with its own
safetensors writer (a 2-D one with 3x3 convolutions, one with a fine stage as well, and a 1-D
audio one, metadata dims 1, with 1x3 convolutions along time); the 2-D models also go through
`walloc encode`/`decode` against the numpy pipeline. VERBOSE=1 prints the errors of passing cases too."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
from harness import TOOLS, finish, report  # noqa: E402
from test_reference_decoder import IMAGES, MODELS, check, decoder_forward, decoder_input, load_model  # noqa: E402

DUMP = os.path.join(TOOLS, "decoder_dump")
TMPDIR = tempfile.TemporaryDirectory()  # removed at exit
TMP = TMPDIR.name
rng = np.random.default_rng(20240611)


def write_wlm(path, meta, tensors):
    """safetensors: u64 LE header length, JSON header (metadata first, tensors by name, padded
    with spaces to 8 bytes), then the tensors' little-endian bytes in that order."""
    header, blobs, off = {"__metadata__": {k: str(v) for k, v in meta.items()}}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        dtype, raw = ("U16", a.astype("<u2").tobytes()) if a.dtype == np.uint16 else ("F32", a.astype("<f4").tobytes())
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def random_neural_model(path, C=3, J=2, K=6, N=8, R=2, bits=8, gain=8.0, dims=2, fine=(0, 0)):
    """An orthonormal random projection as encoder/decoder (so decoded images stay mostly within
    range), plus noise, and a residual path of N(0, 0.1^2) weights whose output is kept small;
    fine = (width, blocks): a fine stage of such weights too (width 0: none)."""
    D, kh = C << (dims * J), 3 if dims == 2 else 1
    Q = np.linalg.qr(rng.normal(size=(D, K)))[0]  # (D, K), orthonormal columns
    n = lambda *shape: rng.normal(scale=0.1, size=shape)  # noqa: E731
    t = {"encoder.weight": gain * Q.T + n(K, D), "encoder.bias": n(K), "decoder.weight": Q / gain + n(D, K) / gain,
         "decoder.bias": n(D) / gain, "fill": n(K), "residual.in.weight": n(N, K), "residual.in.bias": n(N),
         "residual.out.weight": n(D, N) / gain, "rate.log_scale": n(K)}
    for r in range(R):
        for i in (1, 2):
            t["residual.%d.conv%d.weight" % (r, i)], t["residual.%d.conv%d.bias" % (r, i)] = n(N, N, kh, 3), n(N)
    Nf, Rf = fine
    if Nf:
        Cf = D // 4
        t.update({"fine.in.weight": n(Nf, Cf), "fine.in.bias": n(Nf), "fine.out.weight": n(Cf, Nf) / gain})
        for r in range(Rf):
            for i in (1, 2):
                t["fine.%d.conv%d.weight" % (r, i)], t["fine.%d.conv%d.bias" % (r, i)] = n(Nf, Nf, 3, 3), n(Nf)
    t = {k: v.astype(np.float32) for k, v in t.items()}
    S = 1 << bits  # entropy tables: every symbol >= 1, each row summing to 1 << 15
    t["entropy.freq"] = np.array([1 + rng.multinomial((1 << 15) - S, rng.dirichlet(np.ones(S))) for _ in range(K)],
                                 np.uint16)
    meta = {"format": "walloc-model", "kind": "neural", "name": "random-neural", "channels": C, "J": J, "K": K,
            "bits": bits, "N": N, "R": R}
    if dims == 1:
        meta["dims"] = 1
    if Nf:
        meta.update({"fine_N": Nf, "fine_R": Rf})
    write_wlm(path, meta, t)


def compare(name, model_arg, model_path, k, h, w):
    """decoder_dump on random latents q (k, h, w) against decoder_forward."""
    meta, t = load_model(model_path)
    half = 1 << (int(meta["bits"]) - 1)
    q = np.clip(np.rint(rng.normal(scale=half / 4, size=(k, h, w))), 1 - half, half - 1).astype("<i2")
    qpath, xpath = os.path.join(TMP, "q.npy"), os.path.join(TMP, "x.npy")
    np.save(qpath, q)
    run = subprocess.run([DUMP, model_arg, qpath, xpath], capture_output=True, text=True)
    if run.returncode:
        return report("decoder forward: " + name, False, "decoder_dump: " + run.stderr.strip())
    got, ref = np.load(xpath), decoder_forward(meta, t, decoder_input(meta, t, q))
    err = np.abs(got - ref).max() if got.shape == ref.shape else np.inf
    scale = max(1.0, np.abs(ref).max())
    why = "shape %s vs %s, max |X_c - X_numpy| %.3g, max |X| %.3g" % (got.shape, ref.shape, err, scale)
    if os.environ.get("VERBOSE"):
        print("  " + why)
    report("decoder forward: " + name, err <= 1e-4 * scale, why)


for path in sorted(f for f in os.listdir(MODELS) if f.endswith(".wlm")):
    builtin = path[:-4]
    K = int(load_model(os.path.join(MODELS, path))[0]["K"])
    for k in (K, K // 2):
        compare("built-in %s, k=%d of %d, 7x11" % (builtin, k, K), builtin, os.path.join(MODELS, path), k, 7, 11)

neural = os.path.join(TMP, "neural.wlm")
random_neural_model(neural)
for k, h, w in ((6, 7, 11), (3, 7, 11), (6, 1, 5)):
    compare("random neural, k=%d of 6, %dx%d" % (k, h, w), neural, neural, k, h, w)
neural1 = os.path.join(TMP, "neural1.wlm")
random_neural_model(neural1, C=2, J=3, K=8, dims=1)
for k, w in ((8, 37), (5, 37), (8, 1)):
    compare("random 1-D neural (1x3 convolutions), k=%d of 8, 1x%d" % (k, w), neural1, neural1, k, 1, w)
fine = os.path.join(TMP, "fine.wlm")
random_neural_model(fine, fine=(5, 2))
for k, h, w in ((6, 7, 11), (2, 1, 5)):
    compare("random neural with a fine stage, k=%d of 6, %dx%d" % (k, h, w), fine, fine, k, h, w)
png = os.path.join(IMAGES, "garden-rgb8.png")
check("random neural model, 8-bit RGB", png, neural)
check("random neural model, --keep 3 (fill values)", png, neural, "--keep", "3")
check("random neural model with a fine stage, 8-bit RGB", png, fine)
sys.exit(finish())
