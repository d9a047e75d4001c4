/* calc.h - shared declarations of the rtdyld demo calculator. */
#ifndef CALC_H
#define CALC_H

#include <stddef.h>

/* A built-in function: name, arity and implementation. The implementations
 * are static functions of funcs.c, called from eval.c through this table. */
typedef double (*calc_fn)(const double *args);

struct calc_func {
    const char *name;
    int arity;
    calc_fn fn;
    const char *help;
};

/* Variables live in a global table in .data (pre-set constants) that grows
 * into spare slots (zero-initialised). */
struct calc_var {
    char name[16];
    double value;
};

#define CALC_MAX_VARS 32

extern struct calc_var calc_vars[CALC_MAX_VARS];
extern int calc_nvars;
extern const struct calc_func calc_funcs[];
extern unsigned long calc_calls[];   /* per-function call counters (.bss) */

const struct calc_func *calc_find_func(const char *name, size_t len);
struct calc_var *calc_find_var(const char *name, size_t len, int create);

/* Evaluates one line: "EXPR" or "NAME = EXPR". Returns 0 and stores the
 * value on success; on error returns -1 and writes a message to err. */
int calc_eval(const char *line, double *value, char *err, size_t errlen);

#endif
