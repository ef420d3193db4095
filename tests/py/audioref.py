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


def _spectra(x, y, depth):
    """Per channel, blocks of the power spectra P, Q (frames, 1025) of x and y: samples scaled to
    [-1, 1) by 2^-(depth-1); frames of 2048 samples at 0, 512, 1024 ..., the last the first to
    reach the end (zeros past it; one frame for a clip of 2048 or fewer); periodic Hann window."""
    x, y = _f(x, y)
    n = x.shape[0]
    frames = 1 + max(0, -(-(n - LSD_N) // LSD_HOP))
    pad = (frames - 1) * LSD_HOP + LSD_N - n
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(LSD_N) / LSD_N)
    for sig_x, sig_y in zip(x.T, y.T):
        sig_x, sig_y = (np.pad(s * 2.0 ** (1 - depth), (0, pad)) for s in (sig_x, sig_y))
        for f0 in range(0, frames, 4096):  # 4096 frames at a time: bounded memory on long clips
            idx = (np.arange(f0, min(frames, f0 + 4096)) * LSD_HOP)[:, None] + np.arange(LSD_N)
            yield np.abs(np.fft.rfft(sig_x[idx] * w, axis=1)) ** 2, np.abs(np.fft.rfft(sig_y[idx] * w, axis=1)) ** 2


def _distance(P, Q):
    """Per row: sqrt(mean of (10 log10((P + 1e-10) / (Q + 1e-10)))^2)."""
    d = 10 * np.log10((P + LSD_EPS) / (Q + LSD_EPS))
    return np.sqrt((d ** 2).mean(axis=1))


def lsd(x, y, depth):
    """Log-spectral distance: per frame (_spectra) the _distance of P and Q over the 1025 bins;
    the mean over frames and channels."""
    rows = [_distance(P, Q) for P, Q in _spectra(x, y, depth)]
    return np.concatenate(rows).mean()


def mel_weights(rate, bands=40):
    """(bands, 1025) HTK mel triangles: corners at bands + 2 points evenly spaced in
    m(f) = 2595 log10(1 + f / 700) from 0 to m(rate / 2); bin k at f = k rate / 2048."""
    m = 2595 * np.log10(1 + np.arange(LSD_N // 2 + 1) * rate / LSD_N / 700)
    pts = np.linspace(0, 2595 * np.log10(1 + rate / 2 / 700), bands + 2)
    lo, mid, hi = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    return np.where((m > lo) & (m < mid), (m - lo) / (mid - lo), np.where((m >= mid) & (m < hi), (hi - m) / (hi - mid), 0))


def mel_distance(x, y, depth, rate):
    """lsd over 40 mel bands (mel_weights) of the power spectra instead of their bins."""
    W = mel_weights(rate)
    rows = [_distance(P @ W.T, Q @ W.T) for P, Q in _spectra(x, y, depth)]
    return np.concatenate(rows).mean()


def energy_kept(x, y, depth, rate):
    """Per band [0, 4), [4, 8), [8, 16) kHz: sum of Q over sum of P (_spectra) over every frame,
    channel and bin below the Nyquist bin in the band; NaN when P sums to 0."""
    f = np.arange(LSD_N // 2) * rate / LSD_N
    p, q = np.zeros(3), np.zeros(3)
    for P, Q in _spectra(x, y, depth):
        for i, (lo, hi) in enumerate(((0, 4000), (4000, 8000), (8000, 16000))):
            m = (f >= lo) & (f < hi)
            p[i] += P[:, :-1][:, m].sum()
            q[i] += Q[:, :-1][:, m].sum()
    return [q[i] / p[i] if p[i] > 0 else np.nan for i in range(3)]


def all_metrics(x, y, depth, rate):
    """The measures under the keys of `walloc eval --json`."""
    keep = energy_kept(x, y, depth, rate)
    return {"snr": snr(x, y), "psnr": psnr(x, y), "si_sdr": si_sdr(x, y), "lsd": lsd(x, y, depth),
            "mel": mel_distance(x, y, depth, rate), "keep_0_4k": keep[0], "keep_4_8k": keep[1], "keep_8_16k": keep[2]}
