#!/usr/bin/python3
"""walloc show (cli/show.c): the picture's size and its pixels, computed here from the integers
that `walloc latents` (and --detail) give: each channel a tile coloured by q / max |q| (white 0,
red +, blue -), the detail panel by the sum of |v| over the planes (white 0 to black at the
largest), audio channels as rows over time; --diff's error map from the decoded samples."""
import os
import sys
import tempfile

import numpy as np
import soundfile as sf
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import pngref  # noqa: E402
from harness import IMAGES, finish, run, test  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-show-")
T = lambda name: os.path.join(TMPDIR.name, name)  # noqa: E731
GARDEN = os.path.join(IMAGES, "garden-rgb8.png")


def rounded(x):
    """Rounded half away from zero, as walloc show rounds (C lround; numpy's rint rounds half to even)."""
    return np.floor(np.asarray(x) + 0.5)


def colour(t):
    a = rounded(255 * (1 - abs(t)))
    return np.array([a if t < 0 else 255, a, a if t > 0 else 255])


def show(*encode):
    for args in (("encode", "-q", "-f", *encode, "-o", T("s.wlc")), ("show", "-q", "-f", T("s.wlc"), "-o", T("s.png")),
                 ("latents", "-q", "-f", T("s.wlc"), "-o", T("q.npy"))):
        rc, _, err = run(*args)
        assert rc == 0, err
    return np.asarray(Image.open(T("s.png")).convert("RGB")).astype(int), np.load(T("q.npy")).astype(int)


def main():
    @test("show: one channel is one tile, 8x zoomed, each latent's colour from q / max |q|")
    def _():
        pic, q = show("-m", "rgb-linear", "--keep", "1", GARDEN)
        k, h, w = q.shape
        assert pic.shape == (8 * h, 8 * w, 3), pic.shape
        most = np.abs(q[0]).max()
        for y, x in ((0, 0), (5, 7), (h - 1, w - 1), (h // 2, w // 3)):
            assert (pic[8 * y + 3, 8 * x + 5] == colour(q[0, y, x] / most)).all(), (y, x, pic[8 * y, 8 * x], q[0, y, x])

    @test("show: channels in a grid with grey gaps, and the detail layer's panel below it")
    def _():
        pic, q = show("--keep", "2", "--step", "300", GARDEN)
        assert run("latents", "-q", "-f", T("s.wlc"), "-o", T("q.npy"), "--detail", T("v.npy"))[0] == 0
        v = np.load(T("v.npy")).astype(int)
        _, h, w = q.shape
        z = 512 // (2 * w + 1)
        assert pic.shape == ((2 * h + 1) * z, (2 * w + 1) * z, 3), (pic.shape, z)
        assert (pic[z * h // 2, z * w] == 96).all(), "no gap between the tiles"
        y, x = h // 3, w // 4
        assert (pic[z * y, z * (w + 1 + x)] == colour(q[1, y, x] / np.abs(q[1]).max())).all()
        e = np.abs(v).sum(0)
        for y, x in ((0, 0), (h // 2, w // 2), np.unravel_index(e.argmax(), e.shape)):
            want = rounded(255 * (1 - e[y, x] / e.max()))
            assert (pic[z * (h + 1 + y), z * x] == want).all(), (y, x, pic[z * (h + 1 + y), z * x], want)

    @test("show: audio channels are rows over time, a tone's latents where walloc latents has them")
    def _():
        t = np.arange(16384) / 8000.0
        sf.write(T("a.wav"), (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16), 8000, subtype="PCM_16")
        pic, q = show("-m", "mono", "--keep", "4", T("a.wav"))
        k, _, n = q.shape
        z = min(8, 512 // n) if n < 512 else 1
        assert pic.shape == (k * z, n * z, 3), (pic.shape, q.shape)
        for c in range(k):
            assert (pic[c * z, 5 * z] == colour(q[c, 0, 5] / max(1, np.abs(q[c]).max()))).all(), c

    @test("show --diff: the error map of the decode, 255 (1 - mean |error| / 16) per pixel; another shape refused")
    def _():
        for png, scale in ((GARDEN, 1), (os.path.join(IMAGES, "storm-rgb16.png"), 257)):
            for args in (("encode", "-q", "-f", "--keep", "4", png, "-o", T("d.wlc")),
                         ("decode", "-q", "-f", T("d.wlc"), "-o", T("d.npy")), ("show", "-q", "-f", "--diff", png, T("d.wlc"))):
                rc, _, err = run(*args)
                assert rc == 0, err
            pic = np.asarray(Image.open(T("d.diff.png")).convert("RGB")).astype(float)
            dec = np.load(T("d.npy")).astype(float)
            orig = np.moveaxis(pngref.read(png)[0].astype(float), 2, 0)[:3]
            want = rounded(np.maximum(0, 255 * (1 - np.abs(dec[:3] - orig).mean(0) / scale / 16)))
            assert pic.shape[:2] == dec.shape[1:] and np.abs(pic[..., 0] - want).max() <= 1 and \
                (pic[..., 0] == pic[..., 2]).all(), (png, np.abs(pic[..., 0] - want).max())
        rc, _, err = run("show", "-f", "--diff", os.path.join(IMAGES, "storm-gray8-odd.png"), T("d.wlc"), "-o", T("x.png"))
        assert rc == 1 and "not the shape" in err and not os.path.exists(T("x.png")), (rc, err)

    @test("show --spectrogram: three panels of 256 bins over time, a tone's row brightest, kHz ticks; "
          "an image or another length refused")
    def _():
        rate, n = 16000, 16000 * 3
        t = np.arange(n) / rate
        sf.write(T("tone.wav"), (0.3 * np.sin(2 * np.pi * 1500 * t) * 32767).astype(np.int16), rate, subtype="PCM_16")
        for args in (("encode", "-q", "-f", T("tone.wav"), "-o", T("tone.wlc")),
                     ("show", "-q", "-f", "--spectrogram", T("tone.wav"), T("tone.wlc"))):
            rc, _, err = run(*args)
            assert rc == 0, err
        pic = np.asarray(Image.open(T("tone.spectrogram.png")).convert("RGB")).astype(int)
        frames = 1 + (n - 512 + 255) // 256
        assert pic.shape == (3 * 256 + 4, 8 + frames, 3), pic.shape
        bin_ = round(1500 * 512 / rate)  # 48
        assert pic[:256, 8:, 0].mean(1).argmax() == 255 - bin_, pic[:256, 8:, 0].mean(1).argmax()
        assert (pic[255 - 32, :8, 0] == [255, 255, 255, 255, 0, 0, 0, 0]).all()  # 1 kHz: a short tick
        assert (pic[255 - 160, :8, 0] == 0).all()  # 5 kHz: a long one
        sf.write(T("short.wav"), (0.3 * np.sin(2 * np.pi * 1500 * t[:n // 2]) * 32767).astype(np.int16), rate,
                 subtype="PCM_16")
        assert run("encode", "-q", "-f", GARDEN, "-o", T("img.wlc"))[0] == 0
        for orig, wlc, why in ((T("short.wav"), T("tone.wlc"), "not the shape"), (GARDEN, T("tone.wlc"), "image"),
                               (T("tone.wav"), T("img.wlc"), "audio .wlc")):
            rc, _, err = run("show", "-f", "--spectrogram", orig, wlc, "-o", T("bad.png"))
            assert rc == 1 and why in err and not os.path.exists(T("bad.png")), (orig, wlc, rc, err)

    @test("show: an input that is not a .wlc fails with one line and exit 1, and no output")
    def _():
        rc, _, err = run("show", "-f", GARDEN, "-o", T("bad.png"))
        assert rc == 1 and err.count("\n") == 1 and not os.path.exists(T("bad.png")), (rc, err)

    return finish()


if __name__ == "__main__":
    sys.exit(main())
