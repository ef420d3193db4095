#!/usr/bin/python3
"""The trainable decoder of walloc's default neural model (codec/decoder.c) in PyTorch, for
bench/neural.py: median time of one AdamW step on random latents, as examples per second.

At latent resolution s = crop / 2^J, with D = 3 * 4^J packet channels:
  X^ = W_d y + b_d + W_out silu(h_R),  h_0 = W_in y + b_in,
  h_{r+1} = h_r + conv3x3(silu(conv3x3(silu(h_r))))
y is (B, K, s, s), X^ (B, D, s, s); loss = MSE against a random target. Not modelled: the
crops, packet transforms, encoder, companding and noise of walloc's step."""
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F


class Decoder(nn.Module):
    def __init__(self, K, D, N, R):
        super().__init__()
        self.linear = nn.Conv2d(K, D, 1)
        self.res_in = nn.Conv2d(K, N, 1)
        self.blocks = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Conv2d(N, N, 3, padding=1),
                                                  nn.SiLU(), nn.Conv2d(N, N, 3, padding=1)) for _ in range(R))
        self.res_out = nn.Conv2d(N, D, 1, bias=False)

    def forward(self, y):
        h = self.res_in(y)
        for block in self.blocks:
            h = h + block(h)
        return self.linear(y) + self.res_out(F.silu(h))


def examples_per_second(J=3, K=12, N=64, R=2, crop=128, batch=16, threads=2, warmup=10, steps=50):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    s, D = crop >> J, 3 * 4 ** J
    net = Decoder(K, D, N, R)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    y, target = torch.randn(batch, K, s, s), torch.randn(batch, D, s, s)
    ts = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.mse_loss(net(y), target).backward()
        opt.step()
        if i >= warmup:
            ts.append(time.perf_counter() - t)
    return batch / statistics.median(ts)


if __name__ == "__main__":
    print("torch %s: %.0f examples/s" % (torch.__version__, examples_per_second()))
