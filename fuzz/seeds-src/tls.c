/* Seed: thread-local storage (rtdyld reports it as unsupported). */
__thread int tls_counter;
static __thread long tls_local = 5;
int bump(void) { return ++tls_counter + (int)tls_local; }
