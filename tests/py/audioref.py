"""An independent numpy implementation of the audio fidelity measures of `walloc eval` (the C is
cli/metrics.c): tests/test_metrics.py checks the C against it, and bench/audio.py measures the
codecs that walloc cannot evaluate (opus) with it. x is the original, y the decoded clip, both
(frames, channels) arrays of integer-valued samples of `depth` bits. Written from the
definitions in the man page, in float64 throughout, sharing nothing with the C."""
import numpy as np

LSD_N, LSD_HOP, LSD_EPS = 2048, 512, 1e-10


def _f(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    assert x.shape == y.shape, "%s vs %s" % (x.shape, y.shape)
    return (x[:, None], y[:, None]) if x.ndim == 1 else (x, y)


def _db(num, den):
    with np.errstate(divide="ignore"):
        return 10 * np.log10(num / den) if den > 0 else np.inf


def snr(x, y):
    """10 log10(sum x^2 / sum (x - y)^2) over every sample of every channel."""
    x, y = _f(x, y)
    return _db((x ** 2).sum(), ((x - y) ** 2).sum())


def psnr(x, y):
    """WaLLoC's PSNR: per channel the original's mean is subtracted from x and y, both are scaled
    so that max |x| over the clip is 0.5, and PSNR = -10 log10(MSE); NaN for a constant x."""
    x, y = _f(x, y)
    m = x.mean(axis=0)
    xs, ys = x - m, y - m
    peak = np.abs(xs).max()
    if peak == 0:
        return np.nan
    g = 0.5 / peak
    mse = ((g * xs - g * ys) ** 2).mean()
    return -10 * np.log10(mse) if mse > 0 else np.inf


def si_sdr(x, y):
    """SI-SDR (Le Roux et al. 2019) per channel on zero-mean x and y (each its own mean): the
    target is the projection of y on x; the mean over channels, silent (constant) x left out."""
    x, y = _f(x, y)
    out = []
    for c in range(x.shape[1]):
        a, b = x[:, c] - x[:, c].mean(), y[:, c] - y[:, c].mean()
        if not (a @ a) > 0:
            continue
        target = (b @ a) / (a @ a) * a
        out.append(_db(target @ target, (b - target) @ (b - target)))
    return float(np.mean(out)) if out else np.nan


def lsd(x, y, depth):
    """Log-spectral distance: samples scaled to [-1, 1) by 2^-(depth-1); frames of 2048 samples
    at 0, 512, 1024 ..., the last the first to reach the end (zeros past it; one frame for a
    clip of 2048 or fewer); periodic Hann window; P, Q = |rfft|^2 of x's and y's frames;
    per frame sqrt(mean over the 1025 bins of (10 log10((P + 1e-10) / (Q + 1e-10)))^2); the
    mean over frames and channels."""
    x, y = _f(x, y)
    n = x.shape[0]
    frames = 1 + max(0, -(-(n - LSD_N) // LSD_HOP))
    pad = (frames - 1) * LSD_HOP + LSD_N - n
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(LSD_N) / LSD_N)
    total = 0.0
    for sig_x, sig_y in zip(x.T, y.T):
        sig_x, sig_y = (np.pad(s * 2.0 ** (1 - depth), (0, pad)) for s in (sig_x, sig_y))
        for f0 in range(0, frames, 4096):  # 4096 frames at a time: bounded memory on long clips
            idx = (np.arange(f0, min(frames, f0 + 4096)) * LSD_HOP)[:, None] + np.arange(LSD_N)
            P = np.abs(np.fft.rfft(sig_x[idx] * w, axis=1)) ** 2
            Q = np.abs(np.fft.rfft(sig_y[idx] * w, axis=1)) ** 2
            d = 10 * np.log10((P + LSD_EPS) / (Q + LSD_EPS))
            total += np.sqrt((d ** 2).mean(axis=1)).sum()
    return total / (frames * x.shape[1])


def all_metrics(x, y, depth):
    """The four measures under the keys of `walloc eval --json`."""
    return {"snr": snr(x, y), "psnr": psnr(x, y), "si_sdr": si_sdr(x, y), "lsd": lsd(x, y, depth)}
