/* Seed: read-only tables, a switch (jump table), strings, 8/16-bit data,
 * a large array and references to rodata and host data. */
#include <errno.h>
static const char *const names[] = { "zero", "one", "two", "three", "four", "five" };
const unsigned short shorts[] = { 1, 2, 3, 0xffff };
long big_array[4096];
const char *const *names_ptr = names;

int other_function(int x) {
  switch (x & 7) {
  case 0: return names[0][0];
  case 1: return shorts[1] + x;
  case 2: return (int)big_array[x & 4095];
  case 3: return errno;
  case 4: return names_ptr[4][1];
  case 5: return x * 7;
  case 6: return x ^ 0x55;
  default: return -1;
  }
}
