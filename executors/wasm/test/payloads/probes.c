#include "teaclave.h"
/* One entrypoint, many small behaviours selected by argv[1] ("mode"). */
static int streq(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

static volatile int zero = 0;

/* Unbounded, non-tail recursion with a stack frame the optimiser cannot drop. */
/* Deep recursion that lives only on the engine's stack (no shadow-stack frame). */
static int native_deep(int n) {
  return n == zero - 1 ? 0 : native_deep(n + 1) * 3 + 1;
}

static int deep(int n) {
  volatile char pad[64];
  pad[n & 63] = (char)n;
  return deep(n + 1) + pad[0];
}
static char buf[4096];
/* State a task leaves in linear memory: a fresh instance must start from the data segment. */
static int counter = 41;

int entrypoint(int argc, char *argv[]) {
  const char *mode = argc >= 2 ? argv[1] : "";
  if (streq(mode, "argc")) return argc;
  if (streq(mode, "count")) return ++counter;
  if (streq(mode, "negative")) return -42;
  if (streq(mode, "trap")) __builtin_trap();
  if (streq(mode, "divzero")) return 7 / zero;
  if (streq(mode, "oob")) return *(volatile int *)0x7ffffff0;
  if (streq(mode, "handles")) {
    /* Packs the handle numbering and error returns of the legacy contract into one number. */
    int in = teaclave_open_input("in");
    int out = teaclave_create_output("out");
    if (in != 1 || out != (0x40000000 | 2)) return -100;
    if (teaclave_write_file(in, "x", 1) != -1) return -101;
    if (teaclave_read_file(out, buf, 1) != -1) return -102;
    if (teaclave_open_input("missing") != -1) return -103;
    if (teaclave_create_output("in") != -1) return -104;
    if (teaclave_read_file(99, buf, 1) != -1) return -105;
    int n = teaclave_read_file(in, buf, 3);
    if (n != 3) return -106;
    int m = teaclave_read_file(in, buf + 3, sizeof buf - 3);
    if (teaclave_read_file(in, buf, 10) != 0) return -107; /* EOF */
    if (teaclave_close_file(in) != 0 || teaclave_close_file(in) != -1) return -108;
    if (teaclave_write_file(out, buf, n + m) != n + m) return -109;
    if (teaclave_close_file(out) != 0) return -110;
    return n + m;
  }
  if (streq(mode, "host-file")) return teaclave_open_input(argv[3]);
  if (streq(mode, "bad-pointer")) return teaclave_write_file(teaclave_create_output("out"), (void *)0x7ffffff0, 4096);
  if (streq(mode, "grow")) return __builtin_wasm_memory_grow(0, 65536); /* ask for all 4 GiB */
  if (streq(mode, "spin")) for (;;) {}
  if (streq(mode, "flood")) {
    int out = teaclave_create_output("out");
    for (;;) teaclave_write_file(out, buf, sizeof buf);
  }
  if (streq(mode, "recurse")) return deep(0);
  if (streq(mode, "native-recurse")) return native_deep(0);
  return 0;
}
