#include "teaclave.h"
/* Reads the fortunes of two parties and writes the id of the richer one to "pf_out". */
static int read_fortune(const char *fid) {
  char buf[32];
  int fd = teaclave_open_input(fid);
  if (fd < 0) return -1;
  int n = teaclave_read_file(fd, buf, sizeof buf - 1);
  teaclave_close_file(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return parse_int(buf);
}

int entrypoint(int argc, char *argv[]) {
  int a = read_fortune("pf_in_a");
  int b = read_fortune("pf_in_b");
  if (a < 0 || b < 0) return -1;
  const char *richer = a >= b ? "pf_in_a" : "pf_in_b";
  int out = teaclave_create_output("pf_out");
  if (out < 0) return -1;
  int written = teaclave_write_file(out, richer, str_len(richer));
  teaclave_close_file(out);
  return written;
}
