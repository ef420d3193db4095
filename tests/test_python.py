#!/usr/bin/python3
"""The Python package (python/walloc) over libwalloc.so, against the walloc program and an
independent reference: decode and encode give the program's samples and bytes, read_latents its
latents, dequantise the documented inverse companding (computed here with the standard
library's normal quantile), and errors raise walloc.Error with the library's message."""
import os
import pathlib
import pickle
import statistics
import sys
import tempfile
import wave

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "py"))
import libenv  # noqa: E402,F401  (before numpy: the library under test and what its build needs)

import numpy as np  # noqa: E402

from harness import finish, test, run, IMAGES  # noqa: E402
import pngref  # noqa: E402

sys.path.insert(0, os.path.join(TOP, "python"))
import walloc  # noqa: E402

TMPDIR = tempfile.TemporaryDirectory(prefix="walloc-python-")
T = lambda name: os.path.join(TMPDIR.name, name)  # noqa: E731
CASES = [("garden-rgb8.png", "rgb", 0), ("garden-rgb8.png", "rgb-linear", 5), ("storm-gray8-odd.png", "gray", 3),
         ("storm-rgb16.png", "rgb", 0)]


def cli_encode(src, model, keep):
    wlc = T("%s-%s-%d.wlc" % (os.path.basename(src), model, keep))
    rc, _, err = run("encode", "-q", "-f", "-m", model, *(["--keep", str(keep)] if keep else []),
                     os.path.join(IMAGES, src), "-o", wlc)
    assert rc == 0, err
    return wlc


@test("python: decode gives the program's samples; encode of the same pixels its bytes")
def _():
    for png, model, keep in CASES:
        wlc = cli_encode(png, model, keep)
        assert run("decode", "-q", "-f", wlc, "-o", T("out.npy"))[0] == 0
        img = walloc.decode(wlc)
        assert np.array_equal(img, np.load(T("out.npy"))), (png, model)
        pixels, depth = pngref.read(os.path.join(IMAGES, png))
        pixels = np.moveaxis(pixels, 2, 0).astype(np.uint16 if depth == 16 else np.uint8)
        assert walloc.encode(pixels, model, keep=keep) == open(wlc, "rb").read(), (png, model, keep)


@test("python: read_tile_masks gives walloc latents --mask's array, padded to K with the channels not sent")
def _():
    png = os.path.join(IMAGES, "garden-rgb8.png")
    assert run("encode", "-q", "-f", "--keep", "3", "--tile-masks", "28", png, "-o", T("tm.wlc"))[0] == 0
    assert run("latents", "-q", "-f", T("tm.wlc"), "-o", T("tm.npy"), "--mask", T("tmm.npy"))[0] == 0
    sent, want = walloc.read_tile_masks(T("tm.wlc")), np.load(T("tmm.npy"))
    assert sent.shape == (12,) + want.shape[1:] and (sent[:3] == want).all() and not sent[3:].any(), sent.shape
    assert 0 < want.mean() < 1, want.mean()  # the level masks something, not everything


@test("python: quality, a target, step and tile masks give the program's bytes (-Q, --bpp, --step, --tile-masks); "
      "read_detail its detail planes (latents --detail)")
def _():
    png = os.path.join(IMAGES, "garden-rgb8.png")
    pixels = np.moveaxis(pngref.read(png)[0], 2, 0).astype(np.uint8)
    for flags, kw in ((["-Q", "60"], {"quality": 60}), (["--bpp", "0.7"], {"bpp": 0.7}),
                      (["--keep", "4", "--step", "300"], {"keep": 4, "step": 300}),
                      (["--keep", "3", "--tile-masks", "20"], {"keep": 3, "tile_masks": 20}),
                      (["--step", "300", "--dead-zone", "0.1"], {"step": 300, "dead_zone": 0.1})):  # last: read_detail
        assert run("encode", "-q", "-f", *flags, png, "-o", T("d.wlc"))[0] == 0
        data = open(T("d.wlc"), "rb").read()
        assert walloc.encode(pixels, "rgb", **kw) == data, flags
    assert run("latents", "-q", "-f", T("d.wlc"), "-o", T("d.npy"), "--detail", T("dd.npy"))[0] == 0
    v, step = walloc.read_detail(T("d.wlc"))
    assert step == 300 and np.array_equal(v, np.load(T("dd.npy"))), (step, v.shape)
    assert walloc.read_detail(cli_encode("garden-rgb8.png", "rgb", 0)) == (None, 0)
    try:
        walloc.encode(pixels, "rgb", quality=50, bpp=1)
        assert False, "two rate controls were taken"
    except ValueError:
        pass
    wide = (pixels.astype(np.uint16) * 257)
    assert walloc.encode(wide.astype(">u2"), "rgb") == walloc.encode(wide, "rgb"), "big-endian uint16 differs"
    try:
        walloc.compress_file(png, T("png.wlc"))
        assert False, "compress_file took a PNG"
    except ValueError as e:
        assert "not a .npy array" in str(e), e


@test("python: LatentDataset of a directory gives each file's dequantised latents and mask, in sorted order; "
      "items of one size stack into a batch")
def _():
    os.makedirs(T("ds/sub"))
    names = ["ds/b.wlc", "ds/a.wlc", "ds/sub/c.wlc"]
    for name, keep in zip(names, (3, 12, 6)):
        assert run("encode", "-q", "-f", "--keep", str(keep), os.path.join(IMAGES, "garden-rgb8.png"), "-o", T(name))[0] == 0
    open(T("ds/notes.txt"), "w").write("not a .wlc")
    ds = walloc.LatentDataset(T("ds"))
    assert len(ds) == 3 and ds.paths == [T("ds/a.wlc"), T("ds/b.wlc"), T("ds/sub/c.wlc")], ds.paths
    m = walloc.Model("rgb")
    for i, path in enumerate(ds.paths):
        y, mask = ds[i]
        q, want = walloc.read_latents(path)
        assert y.dtype == np.float32 and np.array_equal(mask, want) and np.array_equal(y, walloc.dequantise(q[want], m))
    batch = np.stack([ds[i][0] for i in range(len(ds))])
    assert batch.shape == (3, 12, 32, 32), batch.shape
    q, mask = walloc.LatentDataset([T("ds/b.wlc")], model="rgb", dequantised=False)[0]
    assert q.dtype == np.int16 and mask.sum() == 3 and not q[3:].any()


@test("python: read_latents gives the program's latents (walloc latents) and the mask of channels sent, for "
      "every built-in model; read_detail refuses an audio file")
def _():
    import soundfile as sf
    t = np.arange(20000) / 8000.0
    tone = 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 700 * t)], 1)
    sf.write(T("s.wav"), (tone * 32767).astype(np.int16), 8000, subtype="PCM_16")
    sf.write(T("m.wav"), (tone[:, 0] * 32767).astype(np.int16), 8000, subtype="PCM_16")
    audio = [(T("s.wav"), "stereo", 0), (T("s.wav"), "stereo-20x", 0), (T("m.wav"), "mono", 5)]
    for png, model, keep in CASES + audio:
        wlc = cli_encode(png, model, keep)
        assert run("latents", "-q", "-f", wlc, "-o", T("q.npy"))[0] == 0
        q, mask = walloc.read_latents(open(wlc, "rb").read())
        ref = np.load(T("q.npy"))
        m = walloc.Model(model)
        assert q.shape[0] == m.K and mask.sum() == ref.shape[0] and mask[:ref.shape[0]].all(), (q.shape, ref.shape)
        assert np.array_equal(q[mask], ref) and not q[~mask].any(), (png, model)
    assert run("encode", "-q", "-f", "--step", "300", T("m.wav"), "-o", T("md.wlc"))[0] == 0
    try:  # an audio file's detail layers are per chunk, as walloc latents --detail says
        walloc.read_detail(T("md.wlc"))
        assert False, "read_detail took an audio file"
    except walloc.Error as e:
        assert "per chunk" in str(e), e


@test("fast read (encode --fast-read, encode(fast_read=True)): the same latents and decoded samples as a plain "
      "encode, entropy mode buckets, within 16% of its bytes (these small images pay the tables' headers: 8-15%); "
      "the package gives the program's bytes")
def _():
    for png, model, keep in CASES:
        plain, fast = cli_encode(png, model, keep), T("fast.wlc")
        rc, _, err = run("encode", "-q", "-f", "--fast-read", "-m", model, *(["--keep", str(keep)] if keep else []),
                         os.path.join(IMAGES, png), "-o", fast)
        assert rc == 0, err
        (qp, _), (qf, _) = walloc.read_latents(plain), walloc.read_latents(fast)
        assert np.array_equal(qp, qf), (png, model)
        assert np.array_equal(walloc.decode(open(plain, "rb").read()), walloc.decode(open(fast, "rb").read()))
        rc, out, _ = run("info", fast)
        assert rc == 0 and b"buckets" in out, out
        assert os.path.getsize(fast) <= 1.16 * os.path.getsize(plain), (png, model, os.path.getsize(fast),
                                                                         os.path.getsize(plain))
        pixels, depth = pngref.read(os.path.join(IMAGES, png))
        pixels = np.moveaxis(pixels, 2, 0).astype(np.uint16 if depth == 16 else np.uint8)
        assert walloc.encode(pixels, model, keep=keep, fast_read=True) == open(fast, "rb").read(), (png, model)
        assert walloc.encode(pixels, model, quality=80, fast_read=True) == \
            run("encode", "-q", "-f", "--fast-read", "-Q", "80", "-m", model, os.path.join(IMAGES, png), "-o", "-")[1]


@test("python: dequantise is s Phi^-1(clamp(q / 2L + 1/2)) of every latent sent, the model's fill elsewhere")
def _():
    wlc = cli_encode("garden-rgb8.png", "rgb", 5)
    m = walloc.Model("rgb")
    q, mask = walloc.read_latents(wlc, m)
    y = walloc.dequantise(q[mask], m)
    half = 2 ** (m.bits - 1)
    L, s, inv = half - 0.5 - 1e-3, (half - 1) / 1.85, statistics.NormalDist().inv_cdf
    table = {v: s * inv(min(max(v / (2 * L) + 0.5, 1e-4), 1 - 1e-4)) for v in np.unique(q[mask])}
    ref = np.vectorize(table.get)(q[mask])
    assert y.shape == q.shape and np.allclose(y[mask], ref, rtol=1e-5, atol=1e-5), np.abs(y[mask] - ref).max()
    assert np.array_equal(y[~mask], np.broadcast_to(m.fill[~mask, None, None], y[~mask].shape))


@test("python: a model from a .wlm file is the built-in one; errors raise walloc.Error with the library's words")
def _():
    m = walloc.Model(os.path.join(TOP, "codec", "models", "gray.wlm"))
    assert m.id == walloc.Model("gray").id and m.K == walloc.Model("gray").K
    for call, words in ((lambda: walloc.decode(b"not a walloc file at all, 40 bytes long...."), "bad magic"),
                        (lambda: walloc.Model("nosuch"), "no built-in model"),
                        (lambda: walloc.encode(np.zeros((2, 16, 16), np.uint8), "rgb"),
                         "2 channel(s) but model rgb takes 3")):
        try:
            call()
            assert False, words
        except walloc.Error as e:
            assert words in str(e), str(e)



def raises(call, kind, *words):
    """Asserts that call() raises kind with every one of words in its message."""
    try:
        call()
    except kind as e:
        assert all(w in str(e) for w in words), (words, str(e))
        return
    assert False, "no %s (%s)" % (kind.__name__, words)


def gray_wlc(name, seed, model="gray"):
    """A .wlc at T(name) of a 32x32 random gray array (one latent plane distinct from another's)."""
    os.makedirs(os.path.dirname(T(name)), exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32), np.uint8)
    open(T(name), "wb").write(walloc.encode(pixels, model))
    return T(name)


def own_model():
    """A .wlm that is not built in (a linear gray model trained on one image in milliseconds), at T("own.wlm")."""
    if not os.path.exists(T("own.wlm")):
        rc, _, err = run("train", "-q", "--linear", "--channels", "1", "-J", "2", "-K", "4", "-o", T("own.wlm"),
                         os.path.join(IMAGES, "storm-gray8-odd.png"))
        assert rc == 0, err
    return T("own.wlm")


@test("python: a built-in name is the built-in model even beside a file or folder of that name (as the CLI's -m); "
      "anything else is a path, str or pathlib.Path")
def _():
    os.makedirs(T("here/gray"))
    open(T("here/rgb"), "w").write("not a model")
    open(T("here/stereo"), "w").write("not a model")
    before = os.getcwd()
    os.chdir(T("here"))
    try:
        for name in ("gray", "rgb", "stereo"):
            assert walloc.Model(name).name == name, name
    finally:
        os.chdir(before)
    wlm = os.path.join(TOP, "codec", "models", "gray.wlm")
    assert walloc.Model(pathlib.Path(wlm)).id == walloc.Model(wlm).id == walloc.Model("gray").id
    raises(lambda: walloc.Model(T("here/rgb")), walloc.Error, "here/rgb", "invalid model file")
    raises(lambda: walloc.Model(pathlib.Path(T("none.wlm"))), FileNotFoundError, "none.wlm")


@test("python: LatentDataset of a directory lists the files of `walloc latents -r` in its order (rows of its "
      "stacked array); one str or Path is one file; a missing one is named")
def _():
    tree = ["A/w.wlc", "a/x.wlc", "a/z/v.wlc", "a-b/y.wlc", "a.wlc", "a_c.wlc"]  # the CLI's walk: per folder, strcmp
    for seed, name in enumerate(tree + [".hidden.wlc", "a/.tmp.wlc"]):
        gray_wlc(os.path.join("order", name), seed)
    ds = walloc.LatentDataset(T("order"), dequantised=False)
    assert ds.paths == [T("order/" + f) for f in tree], ds.paths
    rc, _, err = run("latents", "-q", "-f", "-r", "-o", T("order.npy"), T("order"))
    assert rc == 0, err
    rows, masks = np.load(T("order.npy")), np.load(T("order.mask.npy"))
    assert len(rows) == len(ds), (rows.shape, len(ds))
    for i in range(len(ds)):
        q, mask = ds[i]
        assert np.array_equal(q, rows[i]) and np.array_equal(mask, masks[i]), ds.paths[i]
    for one in (T("order/a.wlc"), pathlib.Path(T("order/a.wlc"))):
        ds = walloc.LatentDataset(one, dequantised=False)
        assert ds.paths == [T("order/a.wlc")] and np.array_equal(ds[0][0], rows[4]), ds.paths
    for missing in (T("order/nosuch.wlc"), pathlib.Path(T("ordr"))):
        raises(lambda: walloc.LatentDataset(missing), FileNotFoundError, os.fspath(missing))


@test("python: Models pickle (a built-in one by name, a file's by its bytes), and so does a LatentDataset that "
      "has read files")
def _():
    wlm = own_model()
    for m in (walloc.Model("rgb"), walloc.Model("stereo-20x"), walloc.Model(wlm)):
        u = pickle.loads(pickle.dumps(m))
        assert (u.id, u.keep, u.K, u.name) == (m.id, m.keep, m.K, m.name) and np.array_equal(u.fill, m.fill), m
    for model in (None, wlm):
        ds = walloc.LatentDataset([gray_wlc("pickle/%s.wlc" % bool(model), 1, model or "gray")], model=model)
        y, mask = ds[0]
        y2, mask2 = pickle.loads(pickle.dumps(ds))[0]
        assert np.array_equal(y, y2) and np.array_equal(mask, mask2), model


def mono_wav(path):
    """A 16-bit mono WAV of 4000 frames of a 440 Hz tone at 8 kHz, written with the standard library."""
    t = np.arange(4000) / 8000.0
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes())


@test("python: errors name the file and both models (the CLI's words), a model not built in, the channel counts "
      "(and the transpose of an (H, W, C) array), audio given to image functions, an empty image and a quality "
      "outside 0 .. 100 or not whole")
def _():
    for kind in ("size", "bpp", "psnr"):
        try:
            walloc.encode(np.zeros((3, 8, 8), np.uint8), "rgb", **{kind: 0})
            assert False, kind
        except ValueError as e:
            assert kind in str(e) and "above 0" in str(e), str(e)
    for q in (50.7, True, 101, -1):  # the CLI's -Q range: whole numbers 0 .. 100
        raises(lambda: walloc.encode(np.zeros((3, 8, 8), np.uint8), "rgb", quality=q), ValueError, "whole number")
    try:
        walloc.dequantise(np.zeros((32, 4, 4), np.int16), "gray")
        assert False, "32 channels for gray's K"
    except ValueError as e:
        assert "K = " in str(e) and "gray" in str(e), str(e)
    rgb_id, lin_id, gray_id = ("%016x" % walloc.Model(name).id for name in ("rgb", "rgb-linear", "gray"))
    rgb = T("err/rgb.wlc")
    os.makedirs(T("err"))
    open(rgb, "wb").write(walloc.encode(np.zeros((3, 32, 32), np.uint8), "rgb"))
    raises(lambda: walloc.read_latents(rgb, "rgb-linear"), walloc.Error, rgb, rgb_id + ", built-in rgb",
           "not with model rgb-linear (%s)" % lin_id)
    raises(lambda: walloc.decode(open(rgb, "rb").read(), walloc.Model("gray")), walloc.Error, rgb_id,
           "built-in rgb", gray_id)
    raises(lambda: walloc.LatentDataset([rgb], model="rgb-linear")[0], walloc.Error, rgb, rgb_id, lin_id)
    own = gray_wlc("err/own.wlc", 3, walloc.Model(own_model()))
    for call in (lambda: walloc.read_latents(own), lambda: walloc.decode(own), lambda: walloc.LatentDataset(own)[0]):
        raises(call, walloc.Error, own, "not built in", "model=")
    open(T("err/bad.wlc"), "wb").write(b"not a walloc file at all, 40 bytes long....")
    raises(lambda: walloc.LatentDataset(T("err/bad.wlc"))[0], walloc.Error, T("err/bad.wlc"), "bad magic")
    raises(lambda: walloc.encode(np.zeros((1, 32, 32), np.uint8), "rgb"), walloc.Error,
           "image has 1 channel(s) but model rgb takes 3")
    raises(lambda: walloc.encode(np.zeros((32, 32, 3), np.uint8), "rgb"), walloc.Error,
           "32 channel(s) but model rgb takes 3", "transpose(2, 0, 1)")
    mono_wav(T("err/tone.wav"))
    rc, _, err = run("encode", "-q", "-f", T("err/tone.wav"), "-o", T("err/tone.wlc"))
    assert rc == 0, err
    raises(lambda: walloc.decode(T("err/tone.wlc")), walloc.Error, T("err/tone.wlc"), "audio")
    raises(lambda: walloc.encode(np.zeros((1, 32, 32), np.uint8), "mono"), walloc.Error, "mono", "audio")
    for shape in ((0, 0), (1, 0, 8)):
        raises(lambda: walloc.encode(np.zeros(shape, np.uint8), "gray"), ValueError, "empty image")
    a = np.zeros((3, 16, 16), np.uint8)
    for kw, says in (({"bpp": 257}, "at most 256"), ({"bpp": float("inf")}, "at most 256"), ({"psnr": 201}, "at most 200"),
                     ({"size": 10 ** 16}, "at most 1e+15"), ({"size": True}, "whole number"), ({"size": 10.5}, "whole"),
                     ({"step": 300, "dead_zone": 0.6}, "dead_zone"), ({"dead_zone": 0.1}, "only with step"),
                     ({"tile_masks": 65}, "tile_masks"), ({"psnr": 30, "tile_masks": 9}, "not with a target")):
        raises(lambda: walloc.encode(a, "rgb", **kw), ValueError, says)  # the CLI's ranges


sys.exit(finish())
