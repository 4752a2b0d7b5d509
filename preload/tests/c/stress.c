/* Runs under libsoak_preload.so for the preload's tests: allocation from many
 * threads at once, across fork, from a signal handler and before main. Each mode
 * ends holding a known set of blocks and prints how many and their usable bytes,
 * so the test can compare them with what the preload published.
 *
 * Protocol (stdout, one line each; stdin lines as go-aheads):
 *   "ready"                      warmed up; the test reads its baseline, writes a line
 *   "held BLOCKS BYTES"          after the mode ran; the test reads again, writes a line
 * then the program frees what it held and exits 0 (any check failing: exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 32
#define KEEP 64

static void *early;

/* Signal mode: blocks the main thread hands to the signal handler to free. */
static void *volatile parcel;
static volatile int feed_parcels;

/* Before main: the preload's constructor may or may not have run yet. */
__attribute__((constructor(101))) static void before_main(void) {
    void *p = malloc(100);
    early = realloc(p, 300);
    free(calloc(10, 10));
}

static uint64_t rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct held {
    void *p[KEEP];
    size_t bytes;
};

/* A burst of every entry point; ends holding KEEP blocks. */
static void churn(struct held *h, uint64_t seed, int rounds) {
    void *live[256] = {0};
    for (int r = 0; r < rounds; r++) {
        int i = rng(&seed) % 256;
        size_t n = 1 + rng(&seed) % (rng(&seed) % 32 == 0 ? 200000 : 600);
        void *q = NULL;
        switch (rng(&seed) % 7) {
        case 0: q = malloc(n); break;
        case 1:
            q = calloc(1, n);
            for (size_t k = 0; k < n; k += 61)
                if (((char *)q)[k]) abort();
            break;
        case 2: q = realloc(live[i], n); live[i] = NULL; break;
        case 3: if (posix_memalign(&q, 64, n)) abort(); break;
        case 4: q = aligned_alloc(256, (n + 255) & ~(size_t)255); break;
        case 5: q = memalign(4096, n); break;
        case 6: q = valloc(n); break;
        }
        if (!q) abort();
        if (malloc_usable_size(q) < n) abort();
        /* Its first and last bytes are writable (a short write keeps the test fast). */
        memset(q, 0xab, n < 256 ? n : 256);
        ((char *)q)[n - 1] = 1;
        free(live[i]);
        live[i] = q;
        if (feed_parcels && !parcel) parcel = malloc(64 + r % 512);
    }
    for (int i = 0; i < 256; i++) free(live[i]);
    h->bytes = 0;
    for (int i = 0; i < KEEP; i++) {
        h->p[i] = malloc(16 + i * 40);
        h->bytes += malloc_usable_size(h->p[i]);
    }
}

static struct held held[THREADS];
static pthread_barrier_t start;

static void *thread_main(void *arg) {
    intptr_t k = (intptr_t)arg;
    pthread_barrier_wait(&start);
    churn(&held[k], 0x9e3779b97f4a7c15ull * (k + 1), 4000);
    return NULL;
}

static void run_threads(int n) {
    pthread_t t[THREADS];
    pthread_barrier_init(&start, NULL, n);
    for (intptr_t k = 0; k < n; k++)
        if (pthread_create(&t[k], NULL, thread_main, (void *)k)) abort();
    for (int k = 0; k < n; k++) pthread_join(t[k], NULL);
    pthread_barrier_destroy(&start);
}

static void release_all(int n) {
    for (int k = 0; k < n; k++)
        for (int i = 0; i < KEEP; i++) free(held[k].p[i]);
}

static volatile sig_atomic_t signals;

static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    void *p = malloc(24 + signals % 100);
    void *q = realloc(p, 4000);
    free(q);
    void *mine = parcel;
    parcel = NULL;
    free(mine);
    signals++;
    errno = saved;
}

static void wait_line(void) {
    char buf[64];
    fflush(stdout);
    if (!fgets(buf, sizeof buf, stdin)) exit(3);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "threads";
    if (!early || malloc_usable_size(early) < 300) return 1;
    /* stdio's buffers are static: a first read must not allocate after the test's baseline. */
    static char in_buf[4096], out_buf[4096];
    setvbuf(stdin, in_buf, _IOFBF, sizeof in_buf);
    setvbuf(stdout, out_buf, _IOLBF, sizeof out_buf);
    /* Warm up: stdio buffers, thread stacks and their TLS cached for reuse. */
    printf("warming\n");
    run_threads(THREADS);
    release_all(THREADS);
    printf("ready\n");
    wait_line();

    int n = 1;
    if (!strcmp(mode, "threads")) {
        n = THREADS;
        run_threads(n);
    } else if (!strcmp(mode, "fork")) {
        n = 4;
        for (int round = 0; round < 20; round++) {
            pid_t pid = fork();
            if (pid < 0) return 1;
            if (pid == 0) {
                /* The child allocates and leaks; none of it may reach the parent's count. */
                struct held mine;
                churn(&mine, 7 + round, 1000);
                _exit(0);
            }
            /* Threads allocating while the next child is forked. */
            run_threads(n);
            release_all(n);
            int status;
            if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
                return 1;
        }
        run_threads(n);
    } else if (!strcmp(mode, "signal")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval every = {{0, 200}, {0, 200}};
        feed_parcels = 1;
        setitimer(ITIMER_REAL, &every, NULL);
        while (signals < 1000) churn(&held[0], 11 + signals, 1000), release_all(1);
        struct itimerval off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &off, NULL);
        feed_parcels = 0;
        free(parcel);
        churn(&held[0], 5, 100);
    } else {
        return 2;
    }
    size_t blocks = 0, bytes = 0;
    for (int k = 0; k < n; k++) blocks += KEEP, bytes += held[k].bytes;
    printf("held %zu %zu\n", blocks, bytes);
    wait_line();
    release_all(n);
    free(early);
    return 0;
}
