/* The host functions of the Cloister/Teaclave WebAssembly payload ABI (module "env"). */
int teaclave_open_input(const char *fid);
int teaclave_create_output(const char *fid);
int teaclave_read_file(int fd, void *buf, int size);
int teaclave_write_file(int fd, const void *buf, int size);
int teaclave_close_file(int fd);

static int parse_int(const char *s) {
  int sign = 1, v = 0;
  if (*s == '-') { sign = -1; s++; }
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return sign * v;
}

static int str_len(const char *s) {
  int n = 0;
  while (s[n]) n++;
  return n;
}
