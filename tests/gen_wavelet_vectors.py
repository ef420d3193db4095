#!/usr/bin/python3
"""gen_wavelet_vectors.py: PyWavelets reference vectors for tests/test_wavelet.c (wavelet/wpt.h).
`--write` writes testdata/wavelet/ (float32 little-endian files and cases.txt). Without arguments,
as `make check` runs it, it recomputes every stored output from the stored input and checks
the band order of wpt.h against pywt.WaveletPacket / WaveletPacket2D natural order."""
import os
import sys

import numpy as np
import pywt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "py"))
from harness import finish, report  # noqa: E402

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "wavelet")
WAVE, MODE = "bior4.4", "periodization"

# (dims, C, H, W, levels, seed); 1-D cases have H = 1 and W = T. The deepest bands are
# 1x1, 2x2, 3x5 (odd) and 6x10 in 2-D; lengths 1, 2, 3 (odd) and 4 in 1-D.
CASES = [
    (2, 3, 16, 16, (1, 2, 3, 4), 1),
    (2, 3, 24, 40, (1, 2, 3), 2),
    (2, 1, 48, 80, (1, 2, 3, 4), 3),
    (1, 1, 1, 64, (1, 2, 3, 4), 4),
    (1, 3, 1, 48, (1, 2, 3, 4), 5),
    (1, 2, 1, 512, (8,), 6),
    (1, 1, 1, 256, (8,), 7),
]


def split(band, dims):
    """Children of one band in wpt.h order: (cA, cD) or (cA, cH, cV, cD)."""
    if dims == 1:
        return list(pywt.dwt(band, WAVE, mode=MODE))
    a, (h, v, d) = pywt.dwt2(band, WAVE, mode=MODE)
    return [a, h, v, d]


def packet(x, dims, J):
    """x [C][H][W] (or [C][T]) float64 -> [C * (2^dims)^J][...] by pywt, node by node."""
    out = []
    for xc in x:
        bands = [xc]
        for _ in range(J):
            bands = [child for b in bands for child in split(b, dims)]
        out += bands
    return np.stack(out)


def natural_order_ok(x, dims, J):
    """True if pywt's WaveletPacket(2D) natural order equals packet() exactly."""
    ref = packet(x, dims, J)
    wp = [pywt.WaveletPacket, pywt.WaveletPacket2D][dims - 1]
    got = np.stack([n.data for xc in x
                    for n in wp(xc, WAVE, MODE, maxlevel=J).get_level(J, order="natural")])
    return got.shape == ref.shape and np.array_equal(got, ref)


def names(dims, C, H, W, J):
    stem = f"wpt{dims}_c{C}_{H}x{W}" if dims == 2 else f"wpt1_c{C}_{W}"
    return stem + ".in.f32", f"{stem}_j{J}.out.f32"


def shape(dims, C, H, W):
    return (C, H, W) if dims == 2 else (C, W)


def write():
    os.makedirs(DIR, exist_ok=True)
    lines = []
    for dims, C, H, W, levels, seed in CASES:
        rng = np.random.default_rng(seed)
        x = (100 + 50 * rng.standard_normal(shape(dims, C, H, W))).astype("<f4")
        x.tofile(os.path.join(DIR, names(dims, C, H, W, 0)[0]))
        for J in levels:
            fin, fout = names(dims, C, H, W, J)
            packet(x.astype(np.float64), dims, J).astype("<f4").tofile(os.path.join(DIR, fout))
            lines.append(f"{dims} {C} {H} {W} {J} {fin} {fout}\n")
    with open(os.path.join(DIR, "cases.txt"), "w") as f:
        f.writelines(lines)


def check():
    ok_vec, ok_order = True, True
    with open(os.path.join(DIR, "cases.txt")) as f:
        rows = [l.split() for l in f if l.strip()]
    for dims, C, H, W, J, fin, fout in rows:
        dims, C, H, W, J = map(int, (dims, C, H, W, J))
        x = np.fromfile(os.path.join(DIR, fin), "<f4").reshape(shape(dims, C, H, W))
        ref = packet(x.astype(np.float64), dims, J)
        got = np.fromfile(os.path.join(DIR, fout), "<f4")
        if got.size != ref.size or np.abs(got - ref.ravel()).max() > 1e-6 * np.abs(ref).max():
            print(f"  {fout}: does not match pywt")
            ok_vec = False
        if not natural_order_ok(x.astype(np.float64), dims, J):
            print(f"  {fout}: wpt.h band order is not pywt's natural order")
            ok_order = False
    ok_vec = ok_vec and len(rows) == sum(len(c[4]) for c in CASES)
    report("wavelet_vectors_match_pywt", ok_vec)
    report("wavelet_band_order_is_pywt_natural", ok_order)
    return finish()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    elif sys.argv[1:]:
        sys.exit("usage: gen_wavelet_vectors.py [--write]")
    else:
        sys.exit(check())
