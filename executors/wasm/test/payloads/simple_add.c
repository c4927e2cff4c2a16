#include "teaclave.h"
/* argv = ["adder1", a, "adder2", b] */
int entrypoint(int argc, char *argv[]) {
  if (argc != 4) return -1;
  return parse_int(argv[1]) + parse_int(argv[3]);
}
