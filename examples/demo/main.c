/* main.c - the rtdyld demo: a small calculator.
 *
 *     calc [EXPRESSION...]
 *
 * Evaluates each argument ("2 * pi", "r = 3", "hypot(3, 4)") in order and
 * prints the results, then the variables and how often each built-in
 * function was called. With no arguments it evaluates a built-in session
 * (whose last two lines fail on purpose, to show the error path: vsnprintf
 * and longjmp out of the parser) and exits with 0; otherwise it exits with
 * the number of expressions that failed. */
#include <stdio.h>
#include <string.h>

#include "calc.h"

static const char *const default_session[] = {
    "1 + 2 * 3",
    "2 ^ 10 - 24",
    "r = 1.5",
    "area = pi * r ^ 2",
    "hypot(3, 4)",
    "sin(pi / 6) + cos(0)",
    "sqrt(2) * sqrt(2)",
    "fact(10) / fact(8)",
    "gcd(1071, 462)",
    "primes(100000)",
    "e ^ ln(answer)",
    "floor(exp(1) * 1000) % 7",
    "1 / (answer - 42)",
    "sqrt(1, 2)",
};

int main(int argc, char **argv)
{
    const char *const *lines = default_session;
    int n = (int)(sizeof default_session / sizeof default_session[0]);
    int failures = 0;

    if (argc > 1) {
        lines = (const char *const *)(argv + 1);
        n = argc - 1;
    }
    printf("rtdyld demo calculator (%s)\n", argv[0]);
    for (int i = 0; i < n; i++) {
        double v;
        char err[128];
        if (calc_eval(lines[i], &v, err, sizeof err) == 0) {
            printf("  %-28s = %.10g\n", lines[i], v);
        } else {
            printf("  %-28s ! %s\n", lines[i], err);
            failures++;
        }
    }

    printf("variables:");
    for (int i = 0; i < calc_nvars; i++)
        printf(" %s=%.6g", calc_vars[i].name, calc_vars[i].value);
    printf("\ncalls:");
    for (int i = 0; calc_funcs[i].name != NULL; i++)
        if (calc_calls[i] != 0)
            printf(" %s x%lu", calc_funcs[i].name, calc_calls[i]);
    printf("\n%d of %d expressions failed\n", failures, n);
    return argc > 1 ? failures : 0;
}
