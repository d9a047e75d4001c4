/* funcs.c - the function table and the variable table of the demo
 * calculator. Every function here is static: eval.c reaches them only through
 * the calc_funcs table (function pointers relocated by rtdyld). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"

/* Pre-set variables: a global table in .data, with room to grow. */
struct calc_var calc_vars[CALC_MAX_VARS] = {
    { "pi", 3.14159265358979323846 },
    { "e", 2.71828182845904523536 },
    { "answer", 42.0 },
};
int calc_nvars = 3;

static double f_sin(const double *a) { return sin(a[0]); }
static double f_cos(const double *a) { return cos(a[0]); }
static double f_sqrt(const double *a) { return sqrt(a[0]); }
static double f_exp(const double *a) { return exp(a[0]); }
static double f_ln(const double *a) { return log(a[0]); }
static double f_hypot(const double *a) { return hypot(a[0], a[1]); }
static double f_floor(const double *a) { return floor(a[0]); }
static double f_abs(const double *a) { return fabs(a[0]); }
static double f_max(const double *a) { return a[0] > a[1] ? a[0] : a[1]; }

static double f_fact(const double *a)
{
    double r = 1.0;
    for (int i = 2; i <= (int)a[0]; i++)
        r *= i;
    return r;
}

/* Greatest common divisor by Euclid's algorithm (on integral values). */
static double f_gcd(const double *a)
{
    long x = labs((long)a[0]), y = labs((long)a[1]);
    while (y != 0) {
        long t = x % y;
        x = y;
        y = t;
    }
    return (double)x;
}

/* The number of primes <= n, by a small sieve in a static buffer (.bss). */
static double f_primes(const double *a)
{
    static unsigned char composite[100001];
    long n = (long)a[0], count = 0;
    if (n > 100000)
        n = 100000;
    memset(composite, 0, sizeof composite);
    for (long i = 2; i <= n; i++) {
        if (composite[i])
            continue;
        count++;
        for (long j = i * i; j <= n; j += i)
            composite[j] = 1;
    }
    return (double)count;
}

const struct calc_func calc_funcs[] = {
    { "sin", 1, f_sin, "sine (radians)" },
    { "cos", 1, f_cos, "cosine (radians)" },
    { "sqrt", 1, f_sqrt, "square root" },
    { "exp", 1, f_exp, "e to the x" },
    { "ln", 1, f_ln, "natural logarithm" },
    { "hypot", 2, f_hypot, "length of the hypotenuse" },
    { "floor", 1, f_floor, "round down" },
    { "abs", 1, f_abs, "absolute value" },
    { "max", 2, f_max, "the larger of two" },
    { "fact", 1, f_fact, "factorial" },
    { "gcd", 2, f_gcd, "greatest common divisor" },
    { "primes", 1, f_primes, "number of primes <= x (x <= 100000)" },
    { NULL, 0, NULL, NULL },
};

unsigned long calc_calls[sizeof calc_funcs / sizeof calc_funcs[0]];

const struct calc_func *calc_find_func(const char *name, size_t len)
{
    for (const struct calc_func *f = calc_funcs; f->name != NULL; f++)
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

struct calc_var *calc_find_var(const char *name, size_t len, int create)
{
    for (int i = 0; i < calc_nvars; i++)
        if (strlen(calc_vars[i].name) == len && memcmp(calc_vars[i].name, name, len) == 0)
            return &calc_vars[i];
    if (!create || calc_nvars == CALC_MAX_VARS || len >= sizeof calc_vars[0].name)
        return NULL;
    struct calc_var *v = &calc_vars[calc_nvars++];
    memcpy(v->name, name, len);
    v->name[len] = '\0';
    v->value = 0.0;
    return v;
}
