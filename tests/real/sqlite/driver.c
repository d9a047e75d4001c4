/*
 * driver.c - runs SQL scripts against SQLite for rtdyld's real-program test
 * (tests/real/sqlite.sh).
 *
 *     driver SCRIPT.sql...
 *
 * Opens one in-memory database, reads each script and runs it statement by
 * statement (a statement ends where sqlite3_complete() says so, as in the
 * sqlite3 shell). Every result row is printed with its columns separated by
 * '|' (NULL as "NULL", everything else as SQLite's own text conversion, so
 * its number formatting runs too); after a statement that changed rows,
 * "changes: N". A failing statement prints "error: MESSAGE" and the script
 * goes on. Exits with the number of failed statements, capped at 100.
 *
 * The driver also registers what a program embedding SQLite registers: a
 * scalar function (rot13), an aggregate (median), a collation (by length)
 * and an authorizer that forbids one table; the scripts use them, so SQLite
 * calls back into this file's code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

static void rot13(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *in = sqlite3_value_text(argv[0]);
    if (in == NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    size_t n = strlen((const char *)in);
    char *out = sqlite3_malloc64(n + 1);
    if (out == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    for (size_t i = 0; i <= n; i++) {
        int c = in[i];
        if (c >= 'a' && c <= 'z')
            c = 'a' + (c - 'a' + 13) % 26;
        else if (c >= 'A' && c <= 'Z')
            c = 'A' + (c - 'A' + 13) % 26;
        out[i] = (char)c;
    }
    sqlite3_result_text(ctx, out, (int)n, sqlite3_free);
}

/* median(X): the middle value of the non-NULL X (the mean of the two middle
 * ones for an even count), kept in a growing array. */
struct values {
    double *v;
    size_t n, cap;
};

static void median_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct values *a = sqlite3_aggregate_context(ctx, sizeof *a);
    if (a == NULL || sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 16;
        double *v = sqlite3_realloc64(a->v, cap * sizeof *v);
        if (v == NULL) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = sqlite3_value_double(argv[0]);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void median_final(sqlite3_context *ctx)
{
    struct values *a = sqlite3_aggregate_context(ctx, 0);
    if (a == NULL || a->n == 0) {
        sqlite3_result_null(ctx);
        return;
    }
    qsort(a->v, a->n, sizeof *a->v, cmp_double);
    double m = a->n % 2 ? a->v[a->n / 2] : (a->v[a->n / 2 - 1] + a->v[a->n / 2]) / 2;
    sqlite3_free(a->v);
    sqlite3_result_double(ctx, m);
}

/* Collation "bylength": shorter strings first, then bytewise. */
static int by_length(void *arg, int n1, const void *s1, int n2, const void *s2)
{
    (void)arg;
    if (n1 != n2)
        return n1 < n2 ? -1 : 1;
    return memcmp(s1, s2, (size_t)n1);
}

/* Reading the table "secret" is denied. */
static int authorize(void *arg, int action, const char *a, const char *b, const char *db, const char *trigger)
{
    (void)arg, (void)b, (void)db, (void)trigger;
    if (action == SQLITE_READ && a != NULL && strcmp(a, "secret") == 0)
        return SQLITE_DENY;
    return SQLITE_OK;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    return buf;
}

/* Runs one complete statement (text of `len` bytes); returns 0, or 1 when
 * it failed. */
static int run_statement(sqlite3 *db, const char *sql, int len)
{
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(db, sql, len, &stmt, &tail) != SQLITE_OK) {
        printf("error: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    if (stmt == NULL)
        return 0; /* only a comment or white space */
    int rc;
    long long before = sqlite3_total_changes64(db);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        int columns = sqlite3_column_count(stmt);
        for (int i = 0; i < columns; i++) {
            const unsigned char *text = sqlite3_column_text(stmt, i);
            printf("%s%s", i ? "|" : "", text ? (const char *)text : "NULL");
        }
        putchar('\n');
    }
    int failed = rc != SQLITE_DONE;
    if (failed)
        printf("error: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(stmt);
    long long changed = sqlite3_total_changes64(db) - before;
    if (!failed && changed > 0)
        printf("changes: %lld\n", changed);
    return failed;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: driver SCRIPT.sql...\n");
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
        fprintf(stderr, "cannot open an in-memory database\n");
        return 2;
    }
    sqlite3_create_function(db, "rot13", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, rot13, NULL, NULL);
    sqlite3_create_function(db, "median", 1, SQLITE_UTF8, NULL, NULL, median_step, median_final);
    sqlite3_create_collation(db, "bylength", SQLITE_UTF8, NULL, by_length);
    sqlite3_set_authorizer(db, authorize, NULL);
    int failures = 0;
    for (int k = 1; k < argc; k++) {
        char *text = read_file(argv[k]);
        if (text == NULL) {
            fprintf(stderr, "cannot read %s\n", argv[k]);
            return 2;
        }
        /* Statements end where sqlite3_complete() first says so. */
        char *start = text;
        for (char *p = text; *p; p++) {
            if (*p != ';')
                continue;
            char saved = p[1];
            p[1] = '\0';
            int complete = sqlite3_complete(start);
            p[1] = saved;
            if (complete) {
                failures += run_statement(db, start, (int)(p + 1 - start));
                start = p + 1;
            }
        }
        free(text);
    }
    printf("sqlite %s: %d failed statements\n", sqlite3_libversion(), failures);
    sqlite3_close(db);
    return failures > 100 ? 100 : failures;
}
