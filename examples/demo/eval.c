/* eval.c - a recursive-descent evaluator for the demo calculator.
 *
 *   line   := NAME '=' expr | expr
 *   expr   := term (('+' | '-') term)*
 *   term   := power (('*' | '/' | '%') power)*
 *   power  := unary ('^' power)?
 *   unary  := '-' unary | atom
 *   atom   := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
 */
#include <ctype.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc.h"

struct parser {
    const char *p;
    char *err;
    size_t errlen;
    jmp_buf fail;
};

static double expr(struct parser *ps);

static void fail(struct parser *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
    longjmp(ps->fail, 1);
}

static void skip_space(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

static int accept(struct parser *ps, char c)
{
    skip_space(ps);
    if (*ps->p != c)
        return 0;
    ps->p++;
    return 1;
}

static size_t name_length(const char *s)
{
    size_t n = 0;
    if (!isalpha((unsigned char)s[0]) && s[0] != '_')
        return 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

static double call(struct parser *ps, const char *name, size_t len)
{
    const struct calc_func *f = calc_find_func(name, len);
    double args[4];
    int n = 0;
    if (f == NULL)
        fail(ps, "unknown function '%.*s'", (int)len, name);
    if (!accept(ps, ')')) {
        do {
            if (n == 4)
                fail(ps, "too many arguments to %s", f->name);
            args[n++] = expr(ps);
        } while (accept(ps, ','));
        if (!accept(ps, ')'))
            fail(ps, "expected ')' after the arguments of %s", f->name);
    }
    if (n != f->arity)
        fail(ps, "%s takes %d argument%s, got %d", f->name, f->arity, f->arity == 1 ? "" : "s", n);
    calc_calls[f - calc_funcs]++;
    return f->fn(args); /* a static function of funcs.c, through the table */
}

static double atom(struct parser *ps)
{
    skip_space(ps);
    if (accept(ps, '(')) {
        double v = expr(ps);
        if (!accept(ps, ')'))
            fail(ps, "expected ')'");
        return v;
    }
    size_t len = name_length(ps->p);
    if (len > 0) {
        const char *name = ps->p;
        ps->p += len;
        if (accept(ps, '('))
            return call(ps, name, len);
        struct calc_var *v = calc_find_var(name, len, 0);
        if (v == NULL)
            fail(ps, "unknown variable '%.*s'", (int)len, name);
        return v->value;
    }
    char *end;
    double v = strtod(ps->p, &end);
    if (end == ps->p)
        fail(ps, *ps->p ? "unexpected '%c'" : "unexpected end of input", *ps->p);
    ps->p = end;
    return v;
}

static double unary(struct parser *ps)
{
    if (accept(ps, '-'))
        return -unary(ps);
    return atom(ps);
}

static double power(struct parser *ps)
{
    double base = unary(ps);
    if (accept(ps, '^'))
        return pow(base, power(ps));
    return base;
}

static double term(struct parser *ps)
{
    double v = power(ps);
    for (;;) {
        if (accept(ps, '*')) {
            v *= power(ps);
        } else if (accept(ps, '/')) {
            double d = power(ps);
            if (d == 0.0)
                fail(ps, "division by zero");
            v /= d;
        } else if (accept(ps, '%')) {
            v = fmod(v, power(ps));
        } else {
            return v;
        }
    }
}

static double expr(struct parser *ps)
{
    double v = term(ps);
    for (;;) {
        if (accept(ps, '+'))
            v += term(ps);
        else if (accept(ps, '-'))
            v -= term(ps);
        else
            return v;
    }
}

/* Evaluates the expression at ps->p to its end; failures longjmp back here. */
static int parse_to_end(struct parser *ps, double *value)
{
    if (setjmp(ps->fail))
        return -1;
    double v = expr(ps);
    skip_space(ps);
    if (*ps->p != '\0')
        fail(ps, "unexpected '%s'", ps->p);
    *value = v;
    return 0;
}

int calc_eval(const char *line, double *value, char *err, size_t errlen)
{
    struct parser ps;
    const char *target = NULL;
    size_t target_len = 0;
    double v;

    ps.p = line;
    ps.err = err;
    ps.errlen = errlen;
    skip_space(&ps);
    size_t len = name_length(ps.p);
    if (len > 0) {
        const char *after = ps.p + len;
        while (isspace((unsigned char)*after))
            after++;
        if (*after == '=') { /* "NAME = EXPR" */
            target = ps.p;
            target_len = len;
            ps.p = after + 1;
        }
    }
    if (parse_to_end(&ps, &v) != 0)
        return -1;
    if (target != NULL) {
        struct calc_var *var = calc_find_var(target, target_len, 1);
        if (var == NULL) {
            snprintf(err, errlen, "cannot create variable '%.*s'", (int)target_len, target);
            return -1;
        }
        var->value = v;
    }
    *value = v;
    return 0;
}
