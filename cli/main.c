/* main.c: the walloc command line: option parsing, help, and dispatch to cli/commands.c
 * and cli/train.c. Exit status: 0 success, 1 bad input or failed operation, 2 usage error. */
#include <errno.h>
#include <malloc.h>
#include <omp.h>
#include <stdarg.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/io.h"

static const char usage[] =
  "Usage: walloc COMMAND [OPTIONS] FILE...\n"
  "\n"
  "Commands:\n"
  "  encode IN...          compress PNG images (8/16-bit gray or RGB, alpha kept losslessly),\n"
  "                        .npy arrays (C,H,W) or (H,W), uint8 or uint16, or audio (WAV,\n"
  "                        FLAC, OGG; 8/16/24/32-bit PCM, 1..16 channels, -m for more than\n"
  "                        2) into .wlc latent files (default output: IN.wlc)\n"
  "  decode IN.wlc...      reconstruct images: PNG for gray/RGB, .npy (C,H,W) for other\n"
  "                        channel counts or -o OUT.npy (default output: IN.png or IN.npy);\n"
  "                        audio: WAV (default, and on stdout) or -o OUT.flac, with the\n"
  "                        input's rate, channels, length and bit depth\n"
  "  info IN.wlc|IN.wlm    describe a .wlc file or a model (--json for JSON)\n"
  "  latents IN.wlc -o OUT.npy\n"
  "                        write the integer latents as a NumPy array, shape (k, h, w);\n"
  "                        --detail D.npy: also the detail layer's planes, (C*4^J, h, w) int16;\n"
  "                        --mask M.npy: also which latents their 8x8 tile sends, (k, h, w) bool\n"
  "                        (the rest hold their channel's fill: --tile-masks);\n"
  "                        several inputs (-r DIR) -o OUT.npy: one (N, K, h, w) array and\n"
  "                        OUT.mask.npy (N, K), for inputs of one model and size\n"
  "  show IN.wlc...        the latents as a picture (default output: IN.latents.png): a grid\n"
  "                        of the channels sent (white 0, red +, blue -), and where a detail\n"
  "                        layer spends its bits; audio: channels by time (man walloc);\n"
  "                        --diff ORIG: the decoded image's error map (IN.diff.png);\n"
  "                        --spectrogram ORIG: audio spectrograms, original, decoded and\n"
  "                        their difference (IN.spectrogram.png)\n"
  "  eval ORIG FILE.wlc    decode FILE.wlc and print bpp (audio: kbps), ratio, reduction and\n"
  "                        PSNR; audio: SNR, PSNR (WaLLoC's: mean removed, peak scaled to 0.5),\n"
  "                        SI-SDR (mean over channels) and log-spectral distance (man walloc)\n"
  "  train -o OUT.wlm DIR|LIST...\n"
  "                        train a neural model on PNG/.npy images in DIRs or listed in files,\n"
  "                        or a 1-D one on .wav/.flac/.ogg audio (--linear: fit the linear\n"
  "                        PCA model in closed form instead)\n"
  "\n"
  "Options:\n"
  "  -o FILE     output file ('-' = stdout); only with one input\n"
  "  -c          write to stdout; only with one input\n"
  "  -f          overwrite existing outputs; allow binary output to a terminal\n"
  "  -q, -v      quieter (no warnings), more verbose (a summary line per file)\n"
  "  -r          walk directories given as inputs (encode: .png .npy and audio files;\n"
  "              decode, info, latents, show: .wlc), in sorted order\n"
  "  -O DIR      outputs under DIR, mirroring the tree below each directory given\n"
  "  --skip-existing\n"
  "              leave inputs whose output exists (checked before any coding)\n"
  "  -j N        code N files at once, in N processes (one thread each unless -T); default:\n"
  "              one per core for several files coded to files, unless -T is given\n"
  "  --shard I/N work on files I, I+N, I+2N ... of the sorted list (I = 1..N)\n"
  "  --manifest FILE.jsonl\n"
  "              append a JSON line per file (input, output, status, bytes, model id); a\n"
  "              rerun leaves the inputs it records as done whose output is still there\n"
  "  (with several files: a progress line on a terminal; a totals line at the end with -v\n"
  "  or when stderr is not a terminal)\n"
  "  -T N        use N threads (default: all cores, but one to encode an image under one\n"
  "              megapixel)\n"
  "  -m MODEL    built-in model (rgb, rgb-linear, gray; audio stereo, mono, and their 20x\n"
  "              operating points stereo-20x, mono-20x) or a .wlm file. Without it encode\n"
  "              takes gray/rgb, or mono/stereo, by the channel count, and decode the\n"
  "              built-in model that encoded the file\n"
  "  -Q, --quality Q\n"
  "              encode: 0..100 on the rate-control ladder (man walloc): 0..10 send 1 to K/4\n"
  "              latent channels, 11..100 add a detail layer, ever finer, on K/4 channels\n"
  "              up to 38 and K/2 from 39 (75: about 36.7 dB on photos; 100: about 55 dB).\n"
  "              Without -Q, --keep or a target all K channels are sent with no detail\n"
  "              layer (fast, about 0.25 bpp on photos).\n"
  "              Audio: 0..20 send 1 to K/8 channels, 21..100 add a detail layer (16 kHz\n"
  "              speech: about 1 to 25 kbps; 44.1 kHz music: about 2 to 200 kbps)\n"
  "  --size N, --bpp X, --psnr D\n"
  "              encode images: the largest file of at most N bytes or X bits per pixel, or\n"
  "              the smallest whose PSNR is at least D dB (found on ladders of K/2 and\n"
  "              K/4 channels)\n"
  "  --kbps X, --size N, --snr D\n"
  "              encode audio: the largest file of at most X kbps or N bytes, or the smallest\n"
  "              whose SNR is at least D dB, on the audio ladder (channels, then a detail\n"
  "              layer; man walloc); the clip is held in memory\n"
  "  --keep K    encode: send only the first K latent channels (decoder fills the rest)\n"
  "  --step S    encode: a detail layer of step index S (1..896; step 2^(2 - S/64))\n"
  "  --dead-zone Z\n"
  "              encode images, with --step: round the detail layer toward zero by Z more\n"
  "              (0..0.5 of a step): fewer bytes and less PSNR (0.02 can already cost as\n"
  "              much as one step coarser; man walloc);\n"
  "              the targets choose it where a step alone falls short (-v -v shows it)\n"
  "  --refine N  encode images: N iterations (0..1000; 0: off) of rate-distortion search for\n"
  "              latents that the model's decoder turns into a better image per bit (30: rgb\n"
  "              encodes about 470x slower, 7.5 s for 768x512 on two cores; see man walloc)\n"
  "  --chunk N   encode audio in chunks of N frames (a multiple of 2^J; 2^23 / channels)\n"
  "  --no-fill   encode audio without its band envelope (about 2 kbps for stereo music at\n"
  "              44.1 kHz): the decoder then neither fills bands the latents leave nearly empty\n"
  "              with noise of their energy nor tames bands that come out too loud\n"
  "  --masks     encode audio with a detail layer leaving to it, per segment, the latent\n"
  "              channels that do not pay for their bits (a higher SNR for the bytes; -Q then\n"
  "              is not monotone in size past K/8 channels)\n"
  "  --tile-masks L\n"
  "              encode images: each tile of 8x8 latent positions keeps the channels that pay\n"
  "              for their bits at level L (1..64; higher masks more), the rest at the image's\n"
  "              commonest value; --psnr chooses it where channels alone pass the PSNR by far\n"
  "  --fast-read encode: latents coded for reading speed (walloc latents, the Python package,\n"
  "              decoding): static tables by context instead of adaptive models; read about\n"
  "              twice as fast, about 6% larger\n"
  "  --json      info, eval: print JSON\n"
  "  -h, --help  this text;  -V, --version  the version\n"
  "\n"
  "Train options: -J LEVELS (3, at most 6; audio 8, at most 10; C*4^J, audio C*2^J, at most 4096)\n"
  "  -K CHANNELS (12; audio C*2^J/4)\n"
  "  --bits B (8) --channels C (3: RGB, 1: gray, any 1..16 with .npy; audio: the first\n"
  "  file's count, 1 downmixes stereo)\n"
  "  --gain G (4; audio 32) --name NAME; --linear only: --stride S (1, covariance subsampling)\n"
  "  neural: -N WIDTH (64) -R BLOCKS (2) --crop PIXELS (128; audio: segment frames, 8192)\n"
  "  --fine W (images, J >= 2: width of a residual net of 3x3 convolutions on the packets one\n"
  "  level finer, after the residual path; 0: none) --fine-blocks R (1)\n"
  "  --taps F (audio: FIR post-filter taps trained with the decoder, odd; 129, 0: none)\n"
  "  --loss psnr|mse (images psnr: minus the mean PSNR of the crops; audio mse: their MSE,\n"
  "  each divided by the PCA's expected MSE at the crop's k)\n"
  "  --quant round|noise (round: the decoder trains on the rounded latents it will decode;\n"
  "  noise: on latents plus uniform noise)\n"
  "  --batch B (16) --steps N (20000: learning-rate schedule length) --warmup N (500)\n"
  "  --lr (1e-3) --weight-decay (1e-4) --lambda (0: rate term off, encoder stays PCA)\n"
  "  --jitter (0.05; audio: any > 0 turns on a random gain of -12..+6 dB)\n"
  "  --full P (0: probability that a crop keeps all K channels, else k is uniform in 1..K)\n"
  "  --seed S (1) --time T (stop after T: 90s, 30m, 2h; a number is minutes)\n"
  "  --val DIR|LIST --val-every N (500) --checkpoint FILE (OUT.wlm.ckpt)\n"
  "  --checkpoint-every T (10m) --resume FILE (continue a checkpoint, with the settings it\n"
  "  records unless given here)\n"
  "\n"
  "'-' as input reads stdin; with stdin and no -o, output goes to stdout.\n"
  "Exit status: 0 on success, 1 when an input or output fails, 2 on a usage error.\n";

/* Names of standard input and output that the shell or the system give: read and written as
 * "-" is (output to stdout; written as a path, -f would replace the link /dev/stdout itself). */
static int stdin_name(const char *a) {
  return !strcmp(a, "/dev/stdin") || !strcmp(a, "/dev/fd/0") || !strcmp(a, "/proc/self/fd/0");
}
static int stdout_name(const char *a) {
  return a && (!strcmp(a, "/dev/stdout") || !strcmp(a, "/dev/fd/1") || !strcmp(a, "/proc/self/fd/1"));
}

/* Exit status of a command that only printed (--help, -V): 1, with a line, when stdout took
 * not all of it (a full disk, a closed stdout). */
static int printed(void) {
  if (!fflush(stdout) && !ferror(stdout)) return 0;
  fprintf(stderr, "walloc: stdout: cannot write: %s\n", strerror(errno ? errno : EIO));
  return 1;
}

/* What the last option that failed to parse wants ("a whole number from 1 to 8"), for its error. */
static char wanted[96];

/* Parses a whole number in [lo, hi] into *v. */
static int number(const char *s, int lo, int hi, int *v) {
  char *end;
  long x = s ? strtol(s, &end, 10) : 0;
  snprintf(wanted, sizeof wanted, "a whole number from %d to %d", lo, hi);
  if (!s || !*s || *end || x < lo || x > hi) return -1;
  *v = (int)x;
  return 0;
}

/* Parses a finite number in [lo, hi] into *v. */
static int fnumber(const char *s, float lo, float hi, float *v) {
  char *end;
  float x = s ? strtof(s, &end) : 0;
  snprintf(wanted, sizeof wanted, "a number from %g to %g", lo, hi);
  if (!s || !*s || *end || !(x >= lo && x <= hi)) return -1;
  *v = x;
  return 0;
}

/* Parses a positive duration "N[s|m|h]" (minutes without a unit) into seconds. */
static int duration(const char *s, float *seconds) {
  char *end;
  float x = s ? strtof(s, &end) : 0;
  if (!s || !*s || !(x > 0 && x < 1e6f)) return -1;
  const float unit = !*end ? 60 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 : 0;
  *seconds = x * unit;
  return unit > 0 ? 0 : -1;
}

/* The command line as a shell would take it back: an argument with anything but letters, digits
 * and -_./=:,+@% in single quotes (a ' in it as '\''). */
static char *join_args(int argc, char **argv) {
  size_t n = 1;
  for (int i = 0; i < argc; i++) n += 4 * strlen(argv[i]) + 3;
  char *s = malloc(n), *p = s;
  if (!s) return NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const int plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == strlen(a);
    if (i) *p++ = ' ';
    if (!plain) *p++ = '\'';
    for (; *a; a++) p = *a == '\'' && !plain ? strcpy(p, "'\\''") + 4 : (*p = *a, p + 1);
    if (!plain) *p++ = '\'';
  }
  *p = 0;
  return s;
}

/* The commands an option does something for (initials: Encode, Decode, Info, Latents, Train,
 * eVal, Show; n: neural training only, p: linear (--linear, PCA) training only); options not
 * listed serve every command. Any other use is a usage error, not an option silently ignored. */
static const struct { const char *opt, *cmds; } scope[] = {
    {"-o", "EDLTS"}, {"-c", "EDLS"}, {"-f", "EDLTS"}, {"-O", "EDLS"}, {"--skip-existing", "EDLS"},
    {"-j", "EDLS"}, {"--manifest", "EDLS"}, {"-r", "EDILS"}, {"--shard", "EDILS"}, {"-m", "EDILVS"},
    {"-Q", "E"}, {"--quality", "E"}, {"--size", "E"}, {"--bpp", "E"}, {"--psnr", "E"}, {"--kbps", "E"},
    {"--snr", "E"}, {"--keep", "E"}, {"--step", "E"}, {"--dead-zone", "E"}, {"--refine", "E"},
    {"--chunk", "E"}, {"--no-fill", "E"}, {"--masks", "E"}, {"--tile-masks", "E"}, {"--fast-read", "E"}, {"--json", "IV"}, {"--detail", "L"}, {"--mask", "L"}, {"--diff", "S"},
    {"--spectrogram", "S"}, {"-J", "T"}, {"-K", "T"}, {"--bits", "T"}, {"--channels", "T"},
    {"--stride", "p"}, {"--gain", "T"}, {"--name", "T"}, {"-N", "n"}, {"-R", "n"}, {"--fine", "n"},
    {"--fine-blocks", "n"}, {"--crop", "n"}, {"--loss", "n"}, {"--quant", "n"}, {"--taps", "n"},
    {"--batch", "n"}, {"--steps", "n"}, {"--warmup", "n"}, {"--seed", "n"}, {"--val-every", "n"},
    {"--lr", "n"}, {"--weight-decay", "n"}, {"--lambda", "n"}, {"--jitter", "n"}, {"--full", "n"},
    {"--time", "n"}, {"--checkpoint-every", "n"}, {"--val", "n"}, {"--checkpoint", "n"},
    {"--resume", "n"}, {"--linear", "T"}};

/* Whether opt does something for command cmd; for train, *kind receives 'n' or 'p' when it
 * serves only one kind of training. */
static int applies(const char *cmd, const char *opt, char *kind) {
  const char initial = !strcmp(cmd, "eval") ? 'V' : (char)toupper((unsigned char)cmd[0]);
  for (size_t i = 0; i < sizeof scope / sizeof scope[0]; i++)
    if (!strcmp(scope[i].opt, opt)) {
      if (initial == 'T' && (scope[i].cmds[0] == 'n' || scope[i].cmds[0] == 'p')) *kind = scope[i].cmds[0];
      return strchr(scope[i].cmds, initial) || (initial == 'T' && strchr("np", scope[i].cmds[0]));
    }
  return 1;
}

static int parse(int argc, char **argv, cli_opts *o) {
  int chunk = 0;
  const char *neural = NULL, *linear = NULL; /* train options of one kind, seen */
  for (int i = 2, ended = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!ended && !strcmp(a, "--")) { /* after it, every argument is an input (a name like -x.png) */
      ended = 1;
      continue;
    }
    if (ended) {
      o->inputs[o->ninputs++] = stdin_name(argv[i]) ? "-" : argv[i];
      continue;
    }
    int takes = 1, bad = 0;
    char kind = 0, opt[64];
    /* a value attached: --name=VALUE, or -XVALUE for the one-letter options that take one */
    const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
    const int attached = (eq && eq - a < (ptrdiff_t)sizeof opt) || (a[0] == '-' && a[1] && a[2] && strchr("omTQjOJKNR", a[1]));
    if (attached) {
      const size_t n = eq ? (size_t)(eq - a) : 2;
      memcpy(opt, a, n);
      opt[n] = 0;
      v = eq ? eq + 1 : a + 2;
      a = opt;
    }
    strcpy(wanted, "a valid value");
    if (a[0] == '-' && !applies(argv[1], a, &kind)) return cli_usage("option '%s' does nothing for %s", a, argv[1]);
    if (kind == 'n' && !neural) neural = argv[i]; /* a itself may be opt, this round's copy */
    if (kind == 'p' && !linear) linear = argv[i];
    if (!strcmp(a, "-o")) { o->out = stdout_name(v) ? "-" : v; bad = !v; }
    else if (!strcmp(a, "-m")) { o->model = v; bad = !v; }
    else if (!strcmp(a, "--name")) { o->name = v; bad = !v; }
    else if (!strcmp(a, "-T")) bad = number(v, 1, 1024, &o->threads);
    else if (!strcmp(a, "--keep")) bad = number(v, 1, WL_MAX_K, &o->keep);
    else if (!strcmp(a, "--refine")) bad = number(v, 0, WL_MAX_REFINE, &o->refine);
    else if (!strcmp(a, "--step")) bad = number(v, 0, WL_MAX_STEP, &o->step);
    else if (!strcmp(a, "--tile-masks")) bad = number(v, 1, WL_MAX_MASKS, &o->tile_masks);
    else if (!strcmp(a, "-Q") || !strcmp(a, "--quality")) bad = number(v, 0, 100, &o->quality);
    else if (!strcmp(a, "--size") || !strcmp(a, "--bpp") || !strcmp(a, "--psnr") || !strcmp(a, "--kbps") ||
             !strcmp(a, "--snr")) {
      char *end;
      const int t = a[2] == 'b' ? WL_TARGET_BPP : a[2] == 'p' ? WL_TARGET_PSNR : a[2] == 'k' ? WL_TARGET_KBPS
                    : a[3] == 'i' ? WL_TARGET_BYTES : WL_TARGET_SNR;
      const double x = v ? strtod(v, &end) : 0,
                   most = t == WL_TARGET_BYTES ? 1e15 : t == WL_TARGET_BPP ? 256 : t == WL_TARGET_KBPS ? 1e5 : 200;
      bad = !v || !*v || *end || strpbrk(v, "xX") || !(x > 0 && x <= most) || /* decimal: strtod takes hex too */
            (t == WL_TARGET_BYTES && x != (double)(long long)x);
      snprintf(wanted, sizeof wanted, "a %s above 0, at most %g", t == WL_TARGET_BYTES ? "whole number" : "number", most);
      if (o->target) return cli_usage("give one of --size, --bpp, --psnr, --kbps and --snr ('%s' is a second)", a);
      o->target = t;
      o->target_value = x;
    }
    else if (!strcmp(a, "--chunk")) { bad = number(v, 1, (int)WL_MAX_CHUNK, &chunk); o->chunk = chunk; }
    else if (!strcmp(a, "-J")) bad = number(v, 1, WL_MAX_J1, &o->J);
    else if (!strcmp(a, "-K")) bad = number(v, 1, WL_MAX_K, &o->K);
    else if (!strcmp(a, "--bits")) bad = number(v, 2, 12, &o->bits);
    else if (!strcmp(a, "--channels")) bad = number(v, 1, WL_MAX_CHANNELS, &o->channels);
    else if (!strcmp(a, "--stride")) bad = number(v, 1, 1 << 20, &o->stride);
    else if (!strcmp(a, "--gain")) {
      bad = fnumber(v, 0, 1e6f, &o->gain) || !(o->gain > 0);
      strcpy(wanted, "a number above 0, at most 1e+06");
    }
    else if (!strcmp(a, "--dead-zone")) bad = fnumber(v, 0, WL_MAX_ZONE, &o->zone);
    else if (!strcmp(a, "-N")) bad = number(v, 1, 512, &o->N);
    else if (!strcmp(a, "-R")) bad = number(v, 0, 8, &o->R);
    else if (!strcmp(a, "--fine")) bad = number(v, 0, 512, &o->fine_N);
    else if (!strcmp(a, "--fine-blocks")) bad = number(v, 0, 8, &o->fine_R);
    else if (!strcmp(a, "--crop")) bad = number(v, 2, 1 << 20, &o->crop), o->given |= GIVEN_CROP;
    else if (!strcmp(a, "--loss")) {
      o->loss = v && !strcmp(v, "psnr") ? WL_LOSS_PSNR : v && !strcmp(v, "mse") ? WL_LOSS_MSE : -1;
      bad = o->loss < 0;
      o->given |= GIVEN_LOSS;
    }
    else if (!strcmp(a, "--quant")) {
      o->quant = v && !strcmp(v, "round") ? WL_QUANT_ROUND : v && !strcmp(v, "noise") ? WL_QUANT_NOISE : -1;
      bad = o->quant < 0;
      o->given |= GIVEN_QUANT;
    }
    else if (!strcmp(a, "--taps")) {
      bad = number(v, 0, WL_MAX_TAPS, &o->taps) || (o->taps && !(o->taps & 1));
      snprintf(wanted, sizeof wanted, "an odd number from 1 to %d, or 0 (none)", WL_MAX_TAPS);
    }
    else if (!strcmp(a, "--batch")) bad = number(v, 1, 4096, &o->batch), o->given |= GIVEN_BATCH;
    else if (!strcmp(a, "--steps")) bad = number(v, 1, 1 << 30, &o->steps), o->given |= GIVEN_STEPS;
    else if (!strcmp(a, "--warmup")) bad = number(v, 0, 1 << 30, &o->warmup), o->given |= GIVEN_WARMUP;
    else if (!strcmp(a, "--seed")) bad = number(v, 0, 1 << 30, &o->seed), o->given |= GIVEN_SEED;
    else if (!strcmp(a, "--val-every")) bad = number(v, 1, 1 << 30, &o->val_every);
    else if (!strcmp(a, "--lr")) {
      bad = fnumber(v, 0, 1, &o->lr) || !(o->lr > 0);
      strcpy(wanted, "a number above 0, at most 1");
      o->given |= GIVEN_LR;
    }
    else if (!strcmp(a, "--weight-decay")) bad = fnumber(v, 0, 1, &o->weight_decay), o->given |= GIVEN_DECAY;
    else if (!strcmp(a, "--lambda")) bad = fnumber(v, 0, 1e3f, &o->lambda), o->given |= GIVEN_LAMBDA;
    else if (!strcmp(a, "--jitter")) bad = fnumber(v, 0, 0.45f, &o->jitter), o->given |= GIVEN_JITTER;
    else if (!strcmp(a, "--full")) bad = fnumber(v, 0, 0.95f, &o->full), o->given |= GIVEN_FULL;
    else if (!strcmp(a, "--time") || !strcmp(a, "--checkpoint-every")) {
      bad = duration(v, !strcmp(a, "--time") ? &o->time_s : &o->ckpt_s);
      strcpy(wanted, "a duration above 0: a number and s, m or h (90s, 30m, 2h), or minutes alone");
    }
    else if (!strcmp(a, "--val")) { o->val = v; bad = !v; }
    else if (!strcmp(a, "--checkpoint")) { o->checkpoint = v; bad = !v; }
    else if (!strcmp(a, "--detail")) { o->detail = v; bad = !v; }
    else if (!strcmp(a, "--mask")) { o->mask = v; bad = !v; }
    else if (!strcmp(a, "--diff")) { o->diff = v; bad = !v; }
    else if (!strcmp(a, "--spectrogram")) { o->spectrogram = v; bad = !v; }
    else if (!strcmp(a, "-O")) { o->outdir = v; bad = !v || !*v; }
    else if (!strcmp(a, "--manifest")) { o->manifest = v; bad = !v || !*v; }
    else if (!strcmp(a, "-j")) bad = number(v, 1, 1024, &o->jobs);
    else if (!strcmp(a, "--shard")) {
      char *end;
      strcpy(wanted, "I/N: share I of N, 1 <= I <= N (e.g. 2/4)");
      o->shard_i = v ? (int)strtol(v, &end, 10) : 0;
      o->shard_n = v && *end == '/' ? (int)strtol(end + 1, &end, 10) : 0;
      bad = !v || *end || o->shard_n < 1 || o->shard_n > 1 << 20 || o->shard_i < 1 || o->shard_i > o->shard_n;
    }
    else if (!strcmp(a, "--resume")) { o->resume = v; bad = !v; }
    else {
      takes = 0;
      if (!strcmp(a, "-c")) o->to_stdout = 1;
      else if (!strcmp(a, "-f")) o->force = 1;
      else if (!strcmp(a, "-q")) o->verbosity = 0;
      else if (!strcmp(a, "-v")) o->verbosity = 2;
      else if (!strcmp(a, "--json")) o->json = 1;
      else if (!strcmp(a, "-r")) o->recurse = 1;
      else if (!strcmp(a, "--skip-existing")) o->skip_existing = 1;
      else if (!strcmp(a, "--linear")) o->linear = 1;
      else if (!strcmp(a, "--no-fill")) o->nofill = 1;
      else if (!strcmp(a, "--masks")) o->masks = 1;
      else if (!strcmp(a, "--fast-read")) o->fastread = 1;
      else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); exit(printed()); }
      else if (a[0] == '-' && a[1]) return cli_usage("unknown option '%s'", a);
      else o->inputs[o->ninputs++] = stdin_name(argv[i]) ? "-" : argv[i];
    }
    if (attached && !takes) return cli_usage("option '%s' takes no value", a);
    if (bad) return cli_usage("option '%s' needs %s", a, wanted);
    i += attached ? 0 : takes;
  }
  if (o->threads) omp_set_num_threads(o->threads);
  if (!o->ninputs) return cli_usage("%s: no input files", argv[1]);
  if (o->linear && neural) return cli_usage("option '%s' does nothing for train --linear (a closed-form fit)", neural);
  if (!o->linear && linear) return cli_usage("option '%s' serves train --linear only", linear);
  for (const char *c = o->name; c && *c; c++)
    if ((unsigned char)*c < 0x20) return cli_usage("%s", "--name: no control characters (a newline, a tab)");
  if ((o->out != NULL) + o->to_stdout + (o->outdir != NULL) > 1) return cli_usage("%s", "give one of -o, -c and -O");
  for (int i = 0; o->outdir && i < o->ninputs; i++)
    if (!strcmp(o->inputs[i], "-"))
      return cli_usage("-O %s: standard input (-) has no name to write under it (code it alone, with -o)", o->outdir);
  const int given = (o->quality >= 0) + (o->target != 0) + (o->keep || o->step || o->zone > 0),
            tuned = o->quality >= 0 || o->target;
  if (given > 1 || (tuned && o->refine))
    return cli_usage("%s", "give one rate control: -Q, --size, --bpp, --psnr, --kbps, --snr, or --keep/--step/--dead-zone "
                             "(-Q and the targets not with --refine)");
  if (o->zone > 0 && !o->step) return cli_usage("%s", "--dead-zone needs --step");
  if (o->tile_masks && o->target) return cli_usage("%s", "--tile-masks: not with a target (it chooses them)");
  return 0;
}

/* OpenMP threads that wait for work spin by default (libgomp: 300000 rounds, some ms), taking
 * a core from whatever else runs: on a busy 2-core machine decode -T2 took 3-7x the CPU time
 * of -T1. Here they sleep instead, unless the user set OMP_WAIT_POLICY (a short spin,
 * GOMP_SPINCOUNT=10000, made a 6000x4000 decode at -T2 beside two busy processes take 12-14 s
 * against 9-10 s at -T1; 5.0 against 5.4 s at -T2 idle). libgomp reads it in its
 * constructor; the program links libgomp statically (Makefile), so that this constructor, of
 * a higher priority, runs first. (In .preinit_array it would be too early: libc's own start
 * then resets the environment.) */
__attribute__((constructor(101))) static void passive_wait(void) { setenv("OMP_WAIT_POLICY", "passive", 0); }

int main(int argc, char **argv) {
  static const struct { const char *name; int (*run)(cli_opts *); } cmds[] = {
    {"encode", cmd_encode}, {"decode", cmd_decode}, {"info", cmd_info},
    {"latents", cmd_latents}, {"train", cmd_train}, {"eval", cmd_eval}, {"show", cmd_show}};
  /* Buffers of 2 MiB or more mapped on their own and unmapped when freed, smaller ones reused
   * from a heap that keeps up to 64 MiB free: fixed rather than glibc's sliding threshold, under
   * which large buffers were carved from the heap (a 1024 x 18432 decode took 18 MB more) */
  mallopt(M_MMAP_THRESHOLD, 2 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : printed();
  }
  if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
    printf("walloc %s (writes image formats %d and %d, audio %d and %d; reads those and %d)\n", WL_VERSION_STRING,
           WL_FORMAT_VERSION, WL_FORMAT_VERSION_SPLIT, WL_FORMAT_VERSION_AUDIO, WL_FORMAT_VERSION_FILL,
           WL_FORMAT_VERSION_DETAIL);
    return printed();
  }
  for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
    if (strcmp(argv[1], cmds[c].name)) continue;
    cli_opts o = {.verbosity = 1, .quality = -1, .bits = 8, .stride = 1, .N = 64, .R = 2, .fine_R = 1,
                  .batch = 16, .taps = -1, .loss = -1, .quant = WL_QUANT_ROUND, .steps = 20000, .warmup = 500, .val_every = 500, .seed = 1,
                  .lr = 1e-3f, .weight_decay = 1e-4f, .jitter = 0.05f, .ckpt_s = 600};
    o.inputs = calloc((size_t)argc, sizeof(char *));
    o.command = join_args(argc, argv);
    int rc = o.inputs && o.command ? parse(argc, argv, &o) : cli_fail("walloc", "out of memory");
    if (!rc) rc = cmds[c].run(&o);
    free(o.inputs);
    free(o.command);
    /* what went to stdout must have arrived: info > /dev/full fails, as any output would */
    if (fflush(stdout) || ferror(stdout)) rc = cli_fail("stdout", "cannot write: %s", strerror(errno ? errno : EIO));
    return rc;
  }
  return cli_usage("unknown command '%s'", argv[1]);
}
