#!/usr/bin/python3
"""Masks per tile for images (codec/masks.c, --tile-masks, wl_tile_masks), from outside:
- on a synthetic image, half flat with sensor noise and half a photo, masks chosen by
  rate-distortion put files between two channel counts above the line (in log bytes) that joins
  the counts' own files, and leave the flat half fewer channels than the photo;
- `walloc latents --mask` and `walloc info --json` report the masks as a numpy reading of the
  latents finds them (a tile sends channel c unless c and all after it hold their channel's
  commonest value there), and masked latents hold that value;
- a --psnr that channels alone pass by far lands between the counts, smaller than the count
  that passes it (tests/test_detail.py checks that its reported settings give its bytes);
- bad uses fail with one line."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import pngref  # noqa: E402
from harness import IMAGES, encode_eval, fails_cleanly, finish, run, scratch, test  # noqa: E402

TMP = scratch("walloc-masks-")
T = lambda name: os.path.join(TMP, name)  # noqa: E731
TILE = 8


def synthetic():
    """256x256 RGB: the left half a flat colour with Gaussian noise (sigma 4), the right half the
    garden photo's left half."""
    g, _ = pngref.read(os.path.join(IMAGES, "garden-rgb8.png"))
    rng = np.random.default_rng(7)
    img = np.zeros((256, 256, 3))
    img[:] = (90, 120, 160)
    img[:, :128] += rng.normal(0, 4, (256, 128, 1))
    img[:, 128:] = g[:256, :128, :3]
    path = T("half.png")
    pngref.write(path, np.clip(np.rint(img), 0, 255).astype(np.uint8), 8)
    return path


def evaluate(png, *opts):
    """(bytes, PSNR) of an encode with opts, as walloc eval reports them."""
    n, _, p = encode_eval(png, T("e.wlc"), *opts)
    return n, p


def tile_counts(q):
    """The channels each tile of latents q (k, h, w) sends, read as the docs define it."""
    k, h, w = q.shape
    fill = [np.unique(q[c], return_counts=True) for c in range(k)]
    fill = [v[n == n.max()].min() for v, n in fill]  # the commonest, the smallest of ties
    counts = np.zeros(((h + TILE - 1) // TILE, (w + TILE - 1) // TILE), int)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            t = q[:, i * TILE:(i + 1) * TILE, j * TILE:(j + 1) * TILE]
            sent = [c for c in range(k) if (t[c] != fill[c]).any()]
            counts[i, j] = max(sent) + 1 if sent else 0
    return counts, fill


def main():
    half = synthetic()

    @test("masks: on a half-flat (noisy), half-photo image, masks chosen per tile (--keep 3 --tile-masks) give a "
          "file between 2 and 3 channels' sizes at least 0.5 dB above the line joining their files (log bytes)")
    def _():
        (b2, p2), (b3, p3) = evaluate(half, "--keep", "2"), evaluate(half, "--keep", "3")
        gains = []
        for level in range(8, 34, 2):
            b, p = evaluate(half, "--keep", "3", "--tile-masks", str(level))
            if b2 < b < b3:
                gains.append(p - (p2 + (p3 - p2) * np.log(b / b2) / np.log(b3 / b2)))
        assert gains and max(gains) >= 0.5, "2: %d B %.2f dB, 3: %d B %.2f dB, gains %s" % (b2, p2, b3, p3, gains)

    @test("masks: latents --mask and info --json report the masks per tile as numpy reads them from the latents; "
          "masked latents hold their channel's fill; the flat half's tiles send fewer channels than the photo's")
    def _():
        rc, _, err = run("encode", "-q", "-f", "--keep", "3", "--tile-masks", "24", half, "-o", T("m.wlc"))
        assert rc == 0, err
        rc, _, err = run("latents", "-q", "-f", T("m.wlc"), "-o", T("m.npy"), "--mask", T("mm.npy"))
        assert rc == 0, err
        q, sent = np.load(T("m.npy")), np.load(T("mm.npy"))
        assert sent.dtype == bool and sent.shape == q.shape, (sent.dtype, sent.shape, q.shape)
        counts, fill = tile_counts(q)
        for c in range(q.shape[0]):
            want = np.kron(counts > c, np.ones((TILE, TILE), bool))[:q.shape[1], :q.shape[2]]
            assert (sent[c] == want).all(), "channel %d: --mask differs from the tiles' counts" % c
            assert (q[c][~sent[c]] == fill[c]).all(), "channel %d: a masked latent is not the fill" % c
        rc, out, err = run("info", "--json", T("m.wlc"))
        assert rc == 0, err
        m = json.loads(out)["masks"]
        assert m["tile"] == TILE and (np.array(m["map"]) == counts).all(), m
        assert (m["min"], m["max"]) == (counts.min(), counts.max()) and abs(m["mean"] - counts.mean()) < 1e-6, m
        assert abs(m["empty"] - np.mean(counts == 0)) < 1e-6, m
        left, right = counts[:, :counts.shape[1] // 2].mean(), counts[:, counts.shape[1] // 2:].mean()
        assert left < right and counts.min() < 3, "flat half %.2f channels a tile, photo half %.2f" % (left, right)
        rc, out, err = run("info", T("m.wlc"))
        assert rc == 0 and "masks:" in out.decode() and "%d tiles" % counts.size in out.decode(), out

    @test("masks: a --psnr that channels alone pass by far lands between the counts with masks per tile, reaches "
          "its dB and is smaller than the count that reaches it (the gray image at 42 dB: 1 channel 40.65, 2 43.02)")
    def _():
        gray = os.path.join(IMAGES, "storm-gray8-odd.png")
        (b1, p1), (b2, p2) = evaluate(gray, "--keep", "1"), evaluate(gray, "--keep", "2")
        assert p1 < 42 < p2 - 0.25, (p1, p2)
        b, p = evaluate(gray, "--psnr", "42")
        assert 42 <= p < p2 and b < b2, "--psnr 42: %d B at %.2f dB; 2 channels %d B at %.2f" % (b, p, b2, p2)
        rc, _, err = run("encode", "-f", "-v", "-v", "--psnr", "42", gray, "-o", T("t.wlc"))
        assert rc == 0 and "detail step 0, dead zone 0, tile masks 0" not in err and "tile masks" in err, err

    @test("masks: --tile-masks on audio, latents --mask of an audio file and --mask with --detail fail with one line")
    def _():
        wav = T("a.wav")
        rate, n = 16000, 16000
        x = (3000 * np.sin(np.arange(n) * 0.05)).astype("<i2").tobytes()
        with open(wav, "wb") as f:
            f.write(b"RIFF" + (36 + len(x)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little") +
                    (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little") +
                    (2 * rate).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little") +
                    b"data" + len(x).to_bytes(4, "little") + x)
        fails_cleanly(["encode", "-f", "--tile-masks", "9", wav], T("a.wlc"), has=("--tile-masks",))
        rc, _, err = run("encode", "-q", "-f", wav, "-o", T("a.wlc"))
        assert rc == 0, err
        fails_cleanly(["latents", "-f", T("a.wlc"), "--mask", T("am.npy")], T("a.npy"), has=("--mask",))
        assert not os.path.exists(T("am.npy"))
        rc, _, err = run("latents", "-f", T("m.wlc"), "-o", T("x.npy"), "--mask", T("xm.npy"), "--detail", T("xd.npy"))
        assert rc == 2 and "one at a time" in err.splitlines()[0] and not os.path.exists(T("x.npy")), (rc, err)

    return finish()


if __name__ == "__main__":
    sys.exit(main())
