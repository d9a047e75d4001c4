/* Seed: calls within and across objects, host functions and data, function
 * pointer tables (R_X86_64_64 in data), weak and common symbols, bss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int other_function(int);          /* defined in data.c */
extern int missing_weak(void) __attribute__((weak));
int common_counter;                      /* common with -fcommon */
static int hidden_state = 3;
int initialised = 42;
static char buffer[256];                 /* bss */

__attribute__((weak)) int weak_default(int x) { return x + 1; }
static int helper(int x) { return x * hidden_state + initialised; }
int (*const table[])(int) = { helper, weak_default, other_function };

int entry(int argc) {
  int sum = 0;
  for (int i = 0; i < 3; i++) sum += table[i](argc + i);
  snprintf(buffer, sizeof buffer, "%d", sum);
  char *copy = malloc(strlen(buffer) + 1);
  strcpy(copy, buffer);
  sum += (int)strlen(copy);
  free(copy);
  if (missing_weak) sum += missing_weak();
  fprintf(stdout, "%s\n", buffer);
  common_counter++;
  return sum;
}
