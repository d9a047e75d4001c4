/* Seed: section groups, many small functions in their own sections,
 * constructors, aliases and visibility. */
__attribute__((constructor)) static void init(void) {}
__attribute__((visibility("hidden"))) int hidden_fn(int x) { return x - 1; }
int real_fn(int x) { return hidden_fn(x) * 2; }
int alias_fn(int) __attribute__((alias("real_fn")));
__attribute__((noinline)) double fp(double a, double b) { return a * b + 1.5; }
int use_fp(int x) { return (int)fp(x, 2.25) + alias_fn(x); }
