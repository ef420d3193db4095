/* ids.c: build tool: prints, for each model file named, a line
 *   #define WL_BUILTIN_ID_name 0x...ull
 * (name: the file's base name without .wlm, '-' as '_'), its id as codec/model.c computes it,
 * so that the built-in models need not be hashed at run time (tests/test_codec.c compares). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/fnv.h"

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    long n = f && !fseek(f, 0, SEEK_END) ? ftell(f) : -1;
    unsigned char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fseek(f, 0, SEEK_SET) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
      fprintf(stderr, "%s: cannot read\n", argv[i]);
      return 1;
    }
    fclose(f);
    const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(strcspn(base, ".")), base);
    for (char *c = name; *c; c++) *c = *c == '-' ? '_' : *c;
    printf("#define WL_BUILTIN_ID_%s 0x%016llxull\n", name, (unsigned long long)wl_fnv1a64(buf, (size_t)n));
    free(buf);
  }
  return 0;
}
