# walloc: neural codec for images, audio and sensor signals.
#   make            build libwalloc.a, libwalloc.so and ./walloc
#   make demo       install missing Debian packages, build, round-trip testdata/ images
#   make check      install missing packages, build, run every test ("N passed, M failed")
#   make bench      benchmarks against cwebp/cjpeg, then of the neural models, then audio against
#                   opus and flac (bench/audio.py), then -T1 against -T2, idle and beside two
#                   busy processes (bench/threads.py), the Python latent read (bench/latents.py),
#                   big images (bench/big.py), an 8-band 16-bit sensor model through -Q
#                   (bench/sensor.py), the image targets on corpus/val2 (bench/targets.py),
#                   then rate-distortion and BD-rate against
#                   cwebp, cjxl and opj_compress (bench/rd.py); not part of check
#   make man        regenerate man/walloc.1 from man/walloc.1.md (needs pandoc)
#   make install    PREFIX (/usr/local) and DESTDIR: the program, both libraries, the headers,
#                   walloc.pc, the man page, bash completion and the Python package; make
#                   uninstall removes them

CC      ?= cc
OPT     ?= -O2 -g
WARN    ?= -Wall -Wextra -Werror
# SAN: sanitizers for both compiling and linking, e.g. SAN=-fsanitize=address,undefined
SAN     ?=
# OpenMP: gcc's libgomp; clang's libomp, which also serves OpenBLAS's calls into libgomp's API.
CLANG   := $(findstring clang,$(shell $(CC) --version 2>/dev/null))
OMP      = -fopenmp
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH)
# -fvisibility=hidden: the shared library exports what include/ declares WL_API, nothing else.
CFLAGS  += -std=c11 $(OPT) $(SAN) $(WARN) -fPIC $(OMP) -ffp-contract=off -fvisibility=hidden -D_DEFAULT_SOURCE
# clang reports an `omp simd` loop it did not vectorise (at -O1, or beside a sanitizer's checks)
# as a warning, which -Werror would make a failed build of correct code
CFLAGS  += $(if $(CLANG),-Wno-pass-failed)
# The OpenMP build of OpenBLAS shares libgomp's threads; the default pthread build starts
# its own spinning pool at load time, which halves -T2 speed on two cores.
CPPFLAGS += -Iinclude -I. -I$(B) -I/usr/include/$(MULTIARCH)/openblas-openmp
BLASDIR ?= /usr/lib/$(MULTIARCH)/openblas-openmp
LDLIBS  = -lpng -lz -lzstd -lfftw3f -L$(BLASDIR) -lopenblas -lm
# The test programs find the OpenMP OpenBLAS by a run path; the shared library has none (its
# libopenblas.so.0 is the system's choice, update-alternatives --config libopenblas.so.0-$(MULTIARCH)).
# With clang they link OpenBLAS statically, so that its OpenMP calls reach clang's libomp and
# not the libgomp that the shared OpenBLAS would load beside it (two runtimes: BLAS threads
# inside the library's parallel regions, and decoded samples that vary with -T).
ifeq ($(CLANG),)
TEST_LIBS = $(LDLIBS) -Wl,-rpath,$(BLASDIR)
else
TEST_LIBS = -lpng -lz -lzstd -lfftw3f -L$(BLASDIR) -Wl,-Bstatic -lopenblas -Wl,-Bdynamic -lgfortran -lm
endif
LDFLAGS += $(OMP) $(SAN)
SOVERSION = 0
# The walloc program links its libraries statically but for libsndfile (whose codecs have no
# static builds) and the compiler's runtimes: loading and relocating the shared OpenBLAS alone
# took 1.6 of the 2.9 ms that `walloc --help` needed. libdeflate: the one-pass PNG read.
# libgomp is static too, so that cli/main.c can set its wait policy before libgomp reads it
# (clang's libomp reads it at its first parallel region: it stays shared).
CLI_LIBS = -lsndfile -Wl,-Bstatic -ldeflate -lpng -lz -lzstd -lfftw3f -L$(BLASDIR) -lopenblas $(if $(CLANG),,-lgomp) \
           -Wl,-Bdynamic $(if $(CLANG),$(OMP)) -lgfortran -lm -pthread
B       = build
# A build elsewhere (make B=/tmp/asan OPT=...) keeps its library and program there too, so it
# never replaces the default build's; its make check tests that build's program.
P       = $(if $(filter build,$(B)),,$(B)/)

LIB_SRC  = $(sort $(wildcard wavelet/*.c entropy/*.c codec/*.c codec/search/*.c codec/train/*.c))
# BUILTIN=0: no built-in models (codec/builtin.c); models then come from files (-m FILE).
BUILTIN ?= 1
LIB_OBJ  = $(LIB_SRC:%.c=$(B)/%.o) $(if $(filter 0,$(BUILTIN)),,$(B)/codec/models/builtin.o)
CPPFLAGS += $(if $(filter 0,$(BUILTIN)),-DWL_NO_BUILTIN_MODELS)
CLI_SRC  = $(sort $(wildcard cli/*.c))
CLI_OBJ  = $(CLI_SRC:%.c=$(B)/%.o)
TEST_SRC = $(sort $(wildcard tests/test_*.c))
TEST_BIN = $(TEST_SRC:tests/%.c=$(B)/tests/%)
TOOL_BIN = $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/tools/*.c))
TEST_SH  = $(sort $(wildcard tests/*.sh tests/*.py))
MODELS   = $(wildcard codec/models/*.wlm)

all: $(P)libwalloc.a $(P)libwalloc.so $(P)walloc

deps-%:
	@scripts/deps.sh $* $(if $(CLANG),clang)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/codec/models/builtin.o: codec/models/builtin.S $(MODELS)
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

# The built-in models' ids, hashed once here rather than at every start (codec/models/ids.c).
$(B)/codec/models/ids: codec/models/ids.c codec/fnv.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@
$(B)/codec/models/ids.h: $(B)/codec/models/ids $(MODELS)
	$< $(MODELS) > $@.tmp && mv $@.tmp $@
$(B)/codec/builtin.o: $(if $(filter 0,$(BUILTIN)),,$(B)/codec/models/ids.h)

$(P)libwalloc.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(P)libwalloc.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libwalloc.so.$(SOVERSION) -o $@ $^ $(LDLIBS)

$(P)walloc: $(CLI_OBJ) $(P)libwalloc.a
	$(CC) $(filter-out $(OMP),$(LDFLAGS)) -o $@ $(CLI_OBJ) $(P)libwalloc.a $(CLI_LIBS)

$(B)/tests/test_deflate: TEST_LIBS += $(B)/cli/deflate.o
$(B)/tests/test_deflate: $(B)/cli/deflate.o
$(B)/tests/tools/png_paths: TEST_LIBS += $(B)/cli/io.o $(B)/cli/deflate.o -ldeflate -lz
$(B)/tests/tools/png_paths: cli/png.c $(B)/cli/io.o $(B)/cli/deflate.o tests/tools/image_equal.h # it includes png.c, to reach both readers
# the library without built-in models, as BUILTIN=0 builds it (see the tool)
$(B)/tests/tools/no_builtin: tests/tools/no_builtin.c codec/builtin.c $(P)libwalloc.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DWL_NO_BUILTIN_MODELS $(CFLAGS) $(filter %.c,$^) -o $@ $(P)libwalloc.a $(LDFLAGS) $(TEST_LIBS)
$(B)/tests/%: tests/%.c $(P)libwalloc.a tests/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(P)libwalloc.a $(LDFLAGS) $(TEST_LIBS)

demo: deps-demo
	@$(MAKE) -s --no-print-directory all
	@scripts/demo.sh

check: deps-check
	@$(MAKE) -s --no-print-directory all $(TEST_BIN) $(TOOL_BIN)
	@WALLOC=$(abspath $(P)walloc) WALLOC_BUILD=$(abspath $(B)) tests/run.sh $(TEST_BIN) $(filter-out tests/run.sh,$(TEST_SH))

bench: deps-bench
	@$(MAKE) -s --no-print-directory all
	@bench/image.sh
	@/usr/bin/python3 bench/pause.py
	@/usr/bin/python3 bench/neural.py
	@bench/audio.sh
	@/usr/bin/python3 bench/audio_rd.py --plot bench/figures/rd-audio.svg
	@/usr/bin/python3 bench/threads.py
	@/usr/bin/python3 bench/latents.py
	@/usr/bin/python3 bench/big.py
	@/usr/bin/python3 bench/sensor.py
	@/usr/bin/python3 bench/targets.py corpus/val2
	@/usr/bin/python3 bench/rd.py corpus/val2 --plot bench/figures/rd-val2.svg
	@/usr/bin/python3 bench/rd.py corpus/val3/rgb --plot bench/figures/rd-val3-rgb.svg
	@/usr/bin/python3 bench/rd.py corpus/val3/gray --walloc "-m gray" --plot bench/figures/rd-val3-gray.svg

man: man/walloc.1
man/walloc.1: man/walloc.1.md
	pandoc -s -t man $< -o $@

clean:
	rm -rf $(B) $(P)libwalloc.a $(P)libwalloc.so $(P)walloc

# The Python package goes where Debian's python3 looks: /usr/lib/python3/dist-packages for
# PREFIX /usr, PREFIX/lib/python3.X/dist-packages otherwise (on the path for /usr/local; other
# prefixes need PYTHONPATH). It finds the library it was installed with (walloc/_library.py).
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
PYDIR  ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,$(PREFIX)/lib/$(shell /usr/bin/python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')/dist-packages)
VERSION := $(shell sed -n 's/^\#define WL_VERSION_STRING "\(.*\)"/\1/p' include/walloc.h)
INSTALLED = $(PREFIX)/bin/walloc $(LIBDIR)/libwalloc.a $(LIBDIR)/libwalloc.so.$(SOVERSION) $(LIBDIR)/libwalloc.so \
            $(PREFIX)/include/walloc.h $(PREFIX)/include/walloc_train.h $(LIBDIR)/pkgconfig/walloc.pc \
            $(PREFIX)/share/man/man1/walloc.1 $(PREFIX)/share/bash-completion/completions/walloc $(PYDIR)/walloc
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PYDIR)/walloc
	install -m 755 $(P)walloc $(DESTDIR)$(PREFIX)/bin/walloc
	install -m 644 $(P)libwalloc.a $(DESTDIR)$(LIBDIR)/libwalloc.a
	install -m 755 $(P)libwalloc.so $(DESTDIR)$(LIBDIR)/libwalloc.so.$(SOVERSION)
	ln -sf libwalloc.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libwalloc.so
	install -m 644 include/walloc.h include/walloc_train.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@VERSION@|$(VERSION)|; s|@BLASDIR@|$(BLASDIR)|' \
	  walloc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/walloc.pc
	install -m 644 man/walloc.1 $(DESTDIR)$(PREFIX)/share/man/man1/walloc.1
	install -m 644 cli/completion/walloc.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/walloc
	install -m 644 python/walloc/__init__.py python/walloc/dask.py $(DESTDIR)$(PYDIR)/walloc/
	echo 'LIBRARY = "$(LIBDIR)/libwalloc.so.$(SOVERSION)"' > $(DESTDIR)$(PYDIR)/walloc/_library.py
uninstall:
	rm -rf $(addprefix $(DESTDIR),$(INSTALLED))

.PHONY: all demo check bench man clean fuzz install uninstall
-include $(shell find $(B) -name '*.d' 2>/dev/null)

# make fuzz: FUZZ_SECONDS (600) of libFuzzer on each target of tests/fuzz (clang, ASan + UBSan,
# checksums taken as they are), from the seeds of tests/fuzz/seeds.py and the past findings in
# tests/fuzz/regress/TARGET/, growing $(B)/fuzz/corpus/TARGET. A finding stops the run with the
# input that caused it in $(B)/fuzz/ (copy it to tests/fuzz/regress/TARGET/ once fixed).
# make fuzz-replay: FUZZ_SECONDS=0 runs each target once over those inputs and explores nothing.
# make fuzz-smoke (CI): a fixed number of inputs of each target (FUZZ_SMOKE_RUNS: 1 to 26 s
# each here, 92 s in all), on one thread, from random seed 1 and the seeds and past findings
# alone (an empty corpus): on the same code, the same inputs in nearly every run (coverage
# differs by about 0.5% between runs), so that CI fails on what the code it tests does, hardly
# ever on a lucky draw.
# use_sigaltstack=0: ASan's teardown of a cancelled thread (the audio reader's feeder) otherwise
# reports a stack-buffer-overflow of its own in sigaltstack (google/sanitizers#1399).
FUZZ_SECONDS ?= 600
FUZZ_SMOKE ?=
FUZZ_SMOKE_RUNS = decode:15000 stream:5000 model:6000 npy:200000 sound:800 png:25000
FUZZ_LIMIT = $(if $(FUZZ_SMOKE),-runs=$$(echo "$(FUZZ_SMOKE_RUNS)" | tr ' ' '\n' | sed -n "s/^$$t://p") -seed=1,$(if \
             $(filter 0,$(FUZZ_SECONDS)),-runs=0,-max_total_time=$(FUZZ_SECONDS)))
FUZZ_CORPUS = $(B)/fuzz/$(if $(FUZZ_SMOKE),smoke,corpus)
FUZZ_TARGETS = decode stream model npy sound png
FUZZ_CC = clang -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
          -fopenmp -D_DEFAULT_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $(CPPFLAGS)
FUZZ_LIB = $(B)/fuzz/libwalloc-fuzz.a
FUZZ_MAX = decode:65536 stream:65536 model:1300000 npy:4096 sound:65536 png:131072
$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -MMD -MP -c $< -o $@
$(B)/fuzz/obj/builtin.o: codec/models/builtin.S $(MODELS)
	@mkdir -p $(dir $@)
	clang -c $< -o $@
$(B)/fuzz/obj/codec/builtin.o: $(B)/codec/models/ids.h
$(FUZZ_LIB): $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o) $(B)/fuzz/obj/builtin.o
	rm -f $@ && ar rcs $@ $^
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) $(B)/fuzz/obj/cli/npy.o $(B)/fuzz/obj/cli/sound.o $(B)/fuzz/obj/cli/io.o \
                 $(B)/fuzz/obj/cli/deflate.o
	$(FUZZ_CC) -fsanitize=fuzzer $< $(filter %.o,$^) $(FUZZ_LIB) -o $@ $(LDLIBS) -lsndfile -ldeflate -lz
fuzz: deps-fuzz all $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
	@rm -rf $(B)/fuzz/seeds && /usr/bin/python3 tests/fuzz/seeds.py $(abspath $(P)walloc) $(B)/fuzz/seeds
	@for t in $(FUZZ_TARGETS); do \
	  max=$$(echo "$(FUZZ_MAX)" | tr ' ' '\n' | sed -n "s/^$$t://p"); \
	  $(if $(FUZZ_SMOKE),rm -rf $(FUZZ_CORPUS)/$$t;) mkdir -p $(FUZZ_CORPUS)/$$t; \
	  $(if $(FUZZ_SMOKE),OMP_NUM_THREADS=1) LSAN_OPTIONS=suppressions=$(abspath tests/fuzz/lsan.supp) \
	  ASAN_OPTIONS=use_sigaltstack=0 $(B)/fuzz/fuzz_$$t $(FUZZ_LIMIT) \
	    -max_len=$$max -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$$t- $(FUZZ_CORPUS)/$$t \
	    $(B)/fuzz/seeds/$$t $$(ls -d tests/fuzz/regress/$$t 2>/dev/null) > $(B)/fuzz/$$t.log 2>&1; rc=$$?; \
	  echo "fuzz $$t: $(if $(FUZZ_SMOKE),smoke (seed 1),$(if $(filter 0,$(FUZZ_SECONDS)),replay,$(FUZZ_SECONDS) s)), $$(sed -n 's/^stat::number_of_executed_units: *//p' $(B)/fuzz/$$t.log) runs, $$(sed -n 's/^stat::new_units_added: *//p' $(B)/fuzz/$$t.log) new"; \
	  if [ $$rc -ne 0 ]; then grep -E "^(==|SUMMARY|artifact)" $(B)/fuzz/$$t.log | head -20; exit 1; fi; \
	done
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SMOKE=1
fuzz-replay:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=0
.PHONY: fuzz-smoke fuzz-replay
.SECONDARY: $(B)/fuzz/obj/cli/npy.o $(B)/fuzz/obj/cli/sound.o $(B)/fuzz/obj/cli/io.o $(B)/fuzz/obj/cli/deflate.o
