/* Asks the host for WASI's fd_write, which the executor must refuse to provide. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_write")))
int fd_write(int fd, int iovs, int iovs_len, int nwritten);
int entrypoint(int argc, char *argv[]) { return fd_write(1, 0, 0, 0); }
