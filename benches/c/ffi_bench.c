/*
 * The C side of BENCHMARKS.md ("C ABI"), built and run by scripts/bench-c:
 *   ffi_bench status N       `anaf_efactura_status` N times (after 300 warm-up calls) against
 *                            the library's embedded sandbox; prints the median per call;
 *   ffi_bench concurrent N   N `anaf_efactura_status_async` calls started at once; prints the
 *                            time until all callbacks fired, the most threads the process had
 *                            meanwhile and its peak memory.
 * crates/anaf-ffi/benches/status_baseline.rs is the same loop in Rust.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anaf.h"

static void must(anaf_status status, anaf_error *error, const char *what) {
    if (status == ANAF_OK) return;
    fprintf(stderr, "%s: %s\n", what, anaf_error_json(error));
    exit(1);
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Threads of this process, from /proc. */
static int thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    int count = 0;
    if (dir == NULL) return 0;
    while (readdir(dir) != NULL) count++;
    closedir(dir);
    return count - 2; /* "." and ".." */
}

/* VmHWM (peak resident memory) in KiB, from /proc. */
static long peak_rss_kib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    if (status == NULL) return 0;
    while (fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    }
    fclose(status);
    return kib;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
static int done, failed;

static void on_status(void *user_data, anaf_status status, anaf_result *result, anaf_error *error) {
    (void)user_data;
    anaf_result_free(result);
    anaf_error_free(error);
    pthread_mutex_lock(&lock);
    done++;
    if (status != ANAF_OK) failed++;
    pthread_cond_signal(&all_done);
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
    int concurrent = argc > 1 && strcmp(argv[1], "concurrent") == 0;
    int rounds = argc > 2 ? atoi(argv[2]) : (concurrent ? 1000 : 3000);
    anaf_error *e = NULL;
    anaf_sandbox *sandbox = NULL;
    must(anaf_sandbox_start("{\"instant\":true,\"per_minute_limit\":1000000,"
                            "\"daily_limits\":{\"efactura_status\":100000000}}",
                            &sandbox, &e),
         e, "sandbox");
    anaf_options *options = anaf_options_new();
    must(anaf_sandbox_configure(sandbox, options, &e), e, "configure");
    must(anaf_options_set_requests_per_minute(options, 0, &e), e, "rpm");
    anaf_client *client = NULL;
    must(anaf_client_new(options, &client, &e), e, "client");
    char *code = NULL;
    must(anaf_sandbox_authorize(sandbox, NULL, &code, &e), e, "authorize");
    anaf_result *r = NULL;
    must(anaf_oauth_exchange_code(client, code, &r, &e), e, "exchange");
    anaf_result_free(r);
    char *xml = NULL;
    must(anaf_sandbox_sample_invoice("B-1", "8000000000", "12345674", &xml, &e), e, "invoice");
    must(anaf_efactura_upload(client, (const uint8_t *)xml, strlen(xml), "8000000000", NULL, 0, &r, &e), e,
         "upload");
    unsigned long long id = strtoull(strstr(anaf_result_json(r), "\"upload_id\":") + 12, NULL, 10);
    anaf_result_free(r);

    if (concurrent) {
        int threads_before = thread_count(), threads_max = threads_before;
        long rss_before = peak_rss_kib();
        double started = now_us();
        for (int i = 0; i < rounds; i++) {
            if (anaf_efactura_status_async(client, id, NULL, on_status, NULL) != ANAF_OK) exit(1);
        }
        pthread_mutex_lock(&lock);
        while (done < rounds) {
            pthread_mutex_unlock(&lock);
            int threads = thread_count();
            if (threads > threads_max) threads_max = threads;
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
            pthread_mutex_lock(&lock);
        }
        pthread_mutex_unlock(&lock);
        printf("C %d concurrent async status calls: %.0f ms, %d failed; threads %d before, at most %d while "
               "running; peak RSS %ld MiB before, %ld MiB after\n",
               rounds, (now_us() - started) / 1000, failed, threads_before, threads_max, rss_before / 1024,
               peak_rss_kib() / 1024);
        rounds = 0;
    }
    double *times = malloc(sizeof(double) * (size_t)(rounds > 0 ? rounds : 1));
    for (int i = 0; rounds > 0 && i < 300 + rounds; i++) {
        double started = now_us();
        must(anaf_efactura_status(client, id, &r, &e), e, "status");
        if (strlen(anaf_result_json(r)) == 0) exit(1);
        anaf_result_free(r);
        if (i >= 300) times[i - 300] = now_us() - started;
    }
    if (rounds > 0) {
        qsort(times, (size_t)rounds, sizeof(double), by_value);
        printf("C status median %.1f us\n", times[rounds / 2]);
    }
    free(times);
    anaf_string_free(xml);
    anaf_string_free(code);
    anaf_client_free(client);
    anaf_options_free(options);
    anaf_sandbox_free(sandbox);
    return 0;
}
