/*
 * The C ABI's test suite: real HTTP against the embedded sandbox, through the committed
 * header only. Built with -Wall -Wextra -Werror; run plain, under ASan/UBSan and under
 * valgrind by scripts/test-all. Prints one line per test and "c tests: all passed" at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "anaf.h"

#define SELLER "8000000000"
#define BUYER "12345674"

static int checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        checks++;                                                                    \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

static void fail_with(const char *what, anaf_status status, anaf_error *error) {
    fprintf(stderr, "%s failed: status %d: %s\n", what, status, anaf_error_json(error));
    anaf_error_free(error);
    exit(1);
}

/* An out-param for every call's error: checked and freed by ok(). */
static anaf_error *err;

static void ok(const char *what, anaf_status status) {
    if (status != ANAF_OK) fail_with(what, status, err);
    CHECK(err == NULL);
    checks++;
}

/* Expects a failure of one kind; returns the error (caller frees). */
static anaf_error *expect_error(const char *what, anaf_status status, anaf_status expected) {
    if (status != expected) {
        fprintf(stderr, "%s: expected status %d, got %d: %s\n", what, expected, status,
                anaf_error_json(err));
        exit(1);
    }
    CHECK(err != NULL);
    CHECK(anaf_error_status(err) == expected);
    anaf_error *e = err;
    err = NULL;
    return e;
}

/* The number after "key": in a JSON text (enough for the flat ids the tests read). */
static unsigned long long json_u64(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    if (at == NULL) return 0;
    return strtoull(at + strlen(pattern), NULL, 10);
}

/* The string value of "key" in a JSON text (no escapes: enough for tokens), or "". */
static void json_string(const char *json, const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *at = json != NULL ? strstr(json, pattern) : NULL;
    out[0] = 0;
    if (at == NULL) return;
    at += strlen(pattern);
    const char *end = strchr(at, '"');
    if (end == NULL) return;
    snprintf(out, size, "%.*s", (int)(end - at), at);
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static anaf_sandbox *start_sandbox(const char *options_json) {
    anaf_sandbox *sandbox = NULL;
    ok("anaf_sandbox_start", anaf_sandbox_start(options_json, &sandbox, &err));
    return sandbox;
}

/* Options pointed at the sandbox, without retries (so faults show at once). */
static anaf_options *sandbox_options(const anaf_sandbox *sandbox) {
    anaf_options *options = anaf_options_new();
    ok("configure", anaf_sandbox_configure(sandbox, options, &err));
    ok("retry", anaf_options_set_retry(options, 1, 10, 10, &err));
    return options;
}

static anaf_client *new_client(const anaf_options *options) {
    anaf_client *client = NULL;
    ok("anaf_client_new", anaf_client_new(options, &client, &err));
    return client;
}

static void log_in(const anaf_sandbox *sandbox, const anaf_client *client) {
    char *code = NULL;
    anaf_result *tokens = NULL;
    ok("authorize", anaf_sandbox_authorize(sandbox, NULL, &code, &err));
    ok("exchange_code", anaf_oauth_exchange_code(client, code, &tokens, &err));
    CHECK(strstr(anaf_result_json(tokens), "\"expires_at\"") != NULL);
    /* The token information never carries the tokens themselves. */
    CHECK(strstr(anaf_result_json(tokens), "access_token") == NULL);
    anaf_string_free(code);
    anaf_result_free(tokens);
}

static anaf_client *logged_in_client(const anaf_sandbox *sandbox) {
    anaf_options *options = sandbox_options(sandbox);
    anaf_client *client = new_client(options);
    anaf_options_free(options);
    log_in(sandbox, client);
    return client;
}

static char *sample_invoice(const char *number, const char *seller, const char *buyer) {
    char *xml = NULL;
    ok("sample_invoice", anaf_sandbox_sample_invoice(number, seller, buyer, &xml, &err));
    return xml;
}

static unsigned long long upload(const anaf_client *client, const char *number) {
    char *xml = sample_invoice(number, SELLER, BUYER);
    anaf_result *receipt = NULL;
    ok("upload", anaf_efactura_upload(client, (const uint8_t *)xml, strlen(xml), SELLER, NULL, 0,
                                      &receipt, &err));
    unsigned long long id = json_u64(anaf_result_json(receipt), "upload_id");
    CHECK(id > 0);
    anaf_result_free(receipt);
    anaf_string_free(xml);
    return id;
}

/* ------------------------------------------------------------------------------------- */
/* Waiting for async callbacks */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
    int calls;
    anaf_status status;
    anaf_result *result;
    anaf_error *error;
    pthread_t thread;
} waiter;

/* Every async call the suite starts, and every callback: equal at the end (exactly once). */
static int async_started, async_completed;

static void waiter_init(waiter *w) {
    __atomic_add_fetch(&async_started, 1, __ATOMIC_SEQ_CST);
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->done_cond, NULL);
}

static void on_done(void *user_data, anaf_status status, anaf_result *result, anaf_error *error) {
    waiter *w = user_data;
    __atomic_add_fetch(&async_completed, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&w->lock);
    w->calls++;
    w->status = status;
    w->result = result;
    w->error = error;
    w->thread = pthread_self();
    w->done = 1;
    pthread_cond_signal(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
}

static void wait_for(waiter *w) {
    pthread_mutex_lock(&w->lock);
    while (!w->done) pthread_cond_wait(&w->done_cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    CHECK(w->calls == 1);
    CHECK(!pthread_equal(w->thread, pthread_self()));
}

static void waiter_destroy(waiter *w) {
    anaf_result_free(w->result);
    anaf_error_free(w->error);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->done_cond);
}

/* ------------------------------------------------------------------------------------- */

static void test_version(void) {
    CHECK(strcmp(anaf_version(), ANAF_VERSION_STRING) == 0);
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", ANAF_VERSION_MAJOR, ANAF_VERSION_MINOR,
             ANAF_VERSION_PATCH);
    CHECK(strcmp(anaf_version(), expected) == 0);
}

/* A blocking call made from inside a callback (a library thread) is refused, not deadlocked. */
typedef struct {
    const anaf_client *client;
    anaf_status inner_status;
    char inner_field[16];
    waiter w;
} nested_call;

static void on_done_call_blocking(void *user_data, anaf_status status, anaf_result *result,
                                  anaf_error *error) {
    nested_call *nested = user_data;
    anaf_result *inner = NULL;
    anaf_error *inner_error = NULL;
    nested->inner_status = anaf_hello(nested->client, "inside", &inner, &inner_error);
    if (inner_error != NULL && anaf_error_field(inner_error) != NULL) {
        snprintf(nested->inner_field, sizeof nested->inner_field, "%s", anaf_error_field(inner_error));
    }
    anaf_error_free(inner_error);
    anaf_result_free(inner);
    on_done(&nested->w, status, result, error);
}

static void test_misuse(void) {
    /* NULL handles, strings and out-params: a status, never a crash. */
    anaf_result *result = NULL;
    CHECK(anaf_efactura_status(NULL, 1, &result, NULL) == ANAF_INVALID_INPUT);
    CHECK(result == NULL);
    anaf_error *e = expect_error("NULL client", anaf_efactura_status(NULL, 1, &result, &err),
                                 ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "client") == 0);
    CHECK(strcmp(anaf_error_code(e), "invalid_input") == 0);
    anaf_error_free(e);

    anaf_options *options = anaf_options_new();
    anaf_client *client = new_client(options);
    CHECK(anaf_efactura_status(client, 1, NULL, NULL) == ANAF_INVALID_INPUT);
    e = expect_error("NULL cif", anaf_efactura_list_messages(client, NULL, 1, NULL, &result, &err),
                     ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "cif") == 0);
    anaf_error_free(e);

    /* Text that is not UTF-8. */
    const char bad_utf8[] = {'R', 'O', (char)0xC3, (char)0x28, 0};
    char *cif = NULL;
    e = expect_error("bad UTF-8", anaf_cif_validate(bad_utf8, &cif, &err), ANAF_INVALID_INPUT);
    CHECK(cif == NULL);
    CHECK(strstr(anaf_error_message(e), "UTF-8") != NULL);
    anaf_error_free(e);
    e = expect_error("bad UTF-8 environment",
                     anaf_options_set_environment(options, bad_utf8, &err), ANAF_INVALID_INPUT);
    anaf_error_free(e);

    /* Out of range: unknown flags, a 0/1 flag that is neither, an unknown code. */
    e = expect_error("flags",
                     anaf_efactura_upload(client, (const uint8_t *)"<x/>", 4, SELLER, NULL, 0x100,
                                          &result, &err),
                     ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "flags") == 0);
    anaf_error_free(e);
    e = expect_error("validate flag",
                     anaf_efactura_to_pdf(client, (const uint8_t *)"<x/>", 4, NULL, 7, &result, &err),
                     ANAF_INVALID_INPUT);
    anaf_error_free(e);
    e = expect_error("environment", anaf_options_set_environment(options, "staging", &err),
                     ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "environment") == 0);
    anaf_error_free(e);
    /* A user agent that cannot be an HTTP header is the host's input, refused by client_new. */
    anaf_options *agent = anaf_options_new();
    ok("user agent", anaf_options_set_user_agent(agent, "Contabil\x01", &err));
    anaf_client *agent_client = NULL;
    e = expect_error("user agent", anaf_client_new(agent, &agent_client, &err), ANAF_INVALID_INPUT);
    CHECK(agent_client == NULL);
    CHECK(strcmp(anaf_error_field(e), "user_agent") == 0);
    anaf_error_free(e);
    anaf_options_free(agent);
    e = expect_error("filter", anaf_efactura_list_messages(client, SELLER, 1, "everything", &result, &err),
                     ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "filter") == 0);
    anaf_error_free(e);
    e = expect_error("buffer", anaf_efactura_validate(client, NULL, 10, NULL, &result, &err),
                     ANAF_INVALID_INPUT);
    anaf_error_free(e);
    e = expect_error("log level", anaf_set_log_callback(9, NULL, NULL, &err), ANAF_INVALID_INPUT);
    anaf_error_free(e);

    /* Accessors and frees accept NULL. */
    CHECK(anaf_error_status(NULL) == ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_code(NULL), "") == 0);
    CHECK(anaf_error_anaf_message(NULL) == NULL);
    CHECK(anaf_error_http_status(NULL) == 0);
    CHECK(anaf_error_retry_after_ms(NULL) == -1);
    CHECK(strcmp(anaf_result_json(NULL), "null") == 0);
    size_t len = 99;
    CHECK(anaf_result_bytes(NULL, &len) == NULL && len == 0);
    anaf_client_free(NULL);
    anaf_options_free(NULL);
    anaf_result_free(NULL);
    anaf_error_free(NULL);
    anaf_string_free(NULL);
    anaf_cancel_free(NULL);
    anaf_cancel_fire(NULL);
    anaf_sandbox_free(NULL);
    anaf_message_stream_free(NULL);
    anaf_token_store_free(NULL);
    anaf_login_options_free(NULL);

    /* An async call without a callback starts nothing. */
    CHECK(anaf_hello_async(client, "x", NULL, NULL, NULL) == ANAF_INVALID_INPUT);
    /* With one, bad arguments arrive through the callback, on a library thread. */
    waiter w;
    waiter_init(&w);
    CHECK(anaf_hello_async(client, NULL, NULL, on_done, &w) == ANAF_OK);
    wait_for(&w);
    CHECK(w.status == ANAF_INVALID_INPUT && w.result == NULL);
    CHECK(strcmp(anaf_error_field(w.error), "name") == 0);
    waiter_destroy(&w);

    nested_call nested;
    memset(&nested, 0, sizeof nested);
    nested.client = client;
    waiter_init(&nested.w);
    CHECK(anaf_hello_async(client, NULL, NULL, on_done_call_blocking, &nested) == ANAF_OK);
    wait_for(&nested.w);
    CHECK(nested.inner_status == ANAF_INVALID_INPUT);
    CHECK(strcmp(nested.inner_field, "thread") == 0);
    waiter_destroy(&nested.w);

    /* A CIF is checked before any request. */
    ok("cif", anaf_cif_validate(" RO 8000000000 ", &cif, &err));
    CHECK(strcmp(cif, SELLER) == 0);
    anaf_string_free(cif);
    anaf_client_free(client);
    anaf_options_free(options);
}

static void test_round_trip_blocking(const anaf_sandbox *sandbox) {
    anaf_client *client = logged_in_client(sandbox);
    anaf_result *r = NULL;

    ok("hello", anaf_hello(client, "c-suite", &r, &err));
    CHECK(strstr(anaf_result_json(r), "Hello, c-suite") != NULL);
    anaf_result_free(r);

    ok("token_status", anaf_oauth_token_status(client, &r, &err));
    CHECK(strstr(anaf_result_json(r), "\"logged_in\":true") != NULL);
    anaf_result_free(r);

    unsigned long long upload_id = upload(client, "C-BLOCKING-1");
    ok("status", anaf_efactura_status(client, upload_id, &r, &err));
    CHECK(strstr(anaf_result_json(r), "\"state\":\"ok\"") != NULL);
    unsigned long long download_id = json_u64(anaf_result_json(r), "download_id");
    CHECK(download_id > 0);
    anaf_result_free(r);

    anaf_result *archive = NULL;
    ok("download", anaf_efactura_download(client, download_id, &archive, &err));
    size_t zip_len = 0;
    const uint8_t *zip = anaf_result_bytes(archive, &zip_len);
    CHECK(zip != NULL && zip_len > 100 && zip[0] == 'P' && zip[1] == 'K');
    CHECK(strstr(anaf_result_json(archive), "C-BLOCKING-1") != NULL);
    CHECK(strstr(anaf_result_json(archive), "\"error\":null") != NULL);
    /* The invoice's main fields, read by the library. */
    char number[32];
    json_string(anaf_result_json(archive), "number", number, sizeof number);
    CHECK(strcmp(number, "C-BLOCKING-1") == 0);
    CHECK(strstr(anaf_result_json(archive), "\"payable\":\"238.00\"") != NULL);

    /* The same ZIP, opened from its bytes (as from a file), gives the same description. */
    anaf_result *reopened = NULL;
    ok("open_archive", anaf_efactura_open_archive(zip, zip_len, &reopened, &err));
    CHECK(strcmp(anaf_result_json(reopened), anaf_result_json(archive)) == 0);
    anaf_result_free(reopened);
    anaf_result_free(archive);

    ok("list_messages", anaf_efactura_list_messages(client, SELLER, 1, "sent", &r, &err));
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%llu", upload_id);
    CHECK(strstr(anaf_result_json(r), id_text) != NULL);
    anaf_result_free(r);

    /* The stream: every page, then a NULL result. Messages newer than a minute are left to
     * the next run (ANAF refuses an end in its future), so it reads seeded older ones. */
    char *seeded = NULL;
    ok("seed", anaf_sandbox_seed_received_invoices(
                   sandbox, "{\"cif\":\"" SELLER "\",\"count\":30,\"days_back\":3}", &seeded, &err));
    CHECK(seeded[0] == '[');
    anaf_string_free(seeded);
    long long now_ms = (long long)time(NULL) * 1000;
    anaf_message_stream *stream = NULL;
    ok("messages", anaf_efactura_messages(client, SELLER, now_ms - 5 * 86400000LL, 0, "received",
                                          &stream, &err));
    CHECK(anaf_message_stream_effective_end(stream) == 0); /* fixed by the first page */
    int pages = 0, messages = 0;
    for (;;) {
        anaf_result *page = (anaf_result *)1;
        ok("stream_next", anaf_message_stream_next(stream, &page, &err));
        if (page == NULL) break;
        pages++;
        for (const char *at = anaf_result_json(page); (at = strstr(at, "\"upload_id\":")) != NULL; at++) {
            messages++;
        }
        anaf_result_free(page);
    }
    /* The newest seeded ones may fall inside the last minute, which the stream leaves out. */
    CHECK(pages >= 1 && messages >= 25 && messages <= 30);
    CHECK(anaf_message_stream_effective_start(stream) >= now_ms - 5 * 86400000LL);
    long long end_ms = anaf_message_stream_effective_end(stream);
    CHECK(end_ms > now_ms - 60000 && end_ms <= now_ms + 1000);
    CHECK(anaf_message_stream_effective_end(NULL) == 0);
    anaf_message_stream_free(stream);

    char *xml = sample_invoice("C-PDF-1", SELLER, BUYER);
    ok("validate", anaf_efactura_validate(client, (const uint8_t *)xml, strlen(xml), NULL, &r, &err));
    CHECK(strstr(anaf_result_json(r), "\"valid\":true") != NULL);
    anaf_result_free(r);
    ok("to_pdf", anaf_efactura_to_pdf(client, (const uint8_t *)xml, strlen(xml), NULL, 1, &r, &err));
    size_t pdf_len = 0;
    const uint8_t *pdf = anaf_result_bytes(r, &pdf_len);
    CHECK(pdf_len > 4 && memcmp(pdf, "%PDF", 4) == 0);
    anaf_result_free(r);
    anaf_string_free(xml);

    /* e-Transport and the public registry. */
    char *transport = NULL;
    ok("sample_transport", anaf_sandbox_sample_transport(SELLER, "C-TR-1", &transport, &err));
    ok("etransport_upload", anaf_etransport_upload(client, (const uint8_t *)transport,
                                                   strlen(transport), SELLER, 2, &r, &err));
    CHECK(strstr(anaf_result_json(r), "\"uit\"") != NULL);
    unsigned long long transport_id = json_u64(anaf_result_json(r), "upload_id");
    anaf_result_free(r);
    anaf_string_free(transport);
    ok("etransport_status", anaf_etransport_status(client, transport_id, &r, &err));
    anaf_result_free(r);
    ok("etransport_list", anaf_etransport_list(client, SELLER, 1, &r, &err));
    snprintf(id_text, sizeof id_text, "%llu", transport_id);
    CHECK(strstr(anaf_result_json(r), id_text) != NULL);
    anaf_result_free(r);
    ok("lookup_taxpayers", anaf_public_lookup_taxpayers(client, SELLER ", " BUYER, NULL, &r, &err));
    CHECK(strstr(anaf_result_json(r), "\"found\"") != NULL);
    anaf_result_free(r);

    /* Tokens out and back in, as a host moving them between stores. */
    ok("refresh", anaf_oauth_refresh(client, &r, &err));
    anaf_result_free(r);
    anaf_result *tokens = NULL;
    ok("tokens", anaf_oauth_tokens(client, &tokens, &err));
    CHECK(strstr(anaf_result_json(tokens), "\"refresh_token\":\"") != NULL);
    anaf_options *options = sandbox_options(sandbox);
    anaf_client *other = new_client(options); /* its own store, in memory: empty */
    anaf_options_free(options);
    anaf_error *e = expect_error("no tokens yet", anaf_hello(other, "x", &r, &err), ANAF_UNAUTHORIZED);
    anaf_error_free(e);
    ok("set_tokens", anaf_oauth_set_tokens(other, anaf_result_json(tokens), &r, &err));
    CHECK(r == NULL);
    ok("hello with the moved tokens", anaf_hello(other, "moved", &r, &err));
    anaf_result_free(r);
    ok("clear", anaf_oauth_clear_tokens(other, &r, &err));
    CHECK(r == NULL);
    e = expect_error("cleared", anaf_hello(other, "x", &r, &err), ANAF_UNAUTHORIZED);
    anaf_error_free(e);
    anaf_result_free(tokens);
    ok("revoke", anaf_oauth_revoke(client, &r, &err));
    CHECK(strcmp(anaf_result_json(r), "\"confirmed\"") == 0);
    anaf_result_free(r);
    anaf_client_free(other);
    anaf_client_free(client);
}

static void test_round_trip_async(const anaf_sandbox *sandbox) {
    anaf_options *options = sandbox_options(sandbox);
    anaf_client *client = new_client(options);
    anaf_options_free(options);
    char *code = NULL;
    ok("authorize", anaf_sandbox_authorize(sandbox, NULL, &code, &err));

    waiter w;
    waiter_init(&w);
    CHECK(anaf_oauth_exchange_code_async(client, code, NULL, on_done, &w) == ANAF_OK);
    wait_for(&w);
    CHECK(w.status == ANAF_OK && w.error == NULL);
    waiter_destroy(&w);
    anaf_string_free(code);

    char *xml = sample_invoice("C-ASYNC-1", SELLER, BUYER);
    waiter_init(&w);
    CHECK(anaf_efactura_upload_and_wait_async(client, (const uint8_t *)xml, strlen(xml), SELLER,
                                              "ubl", 0, 10000, NULL, on_done, &w) == ANAF_OK);
    anaf_string_free(xml); /* inputs are copied: the buffer may go at once */
    wait_for(&w);
    CHECK(w.status == ANAF_OK);
    CHECK(strstr(anaf_result_json(w.result), "\"state\":\"ok\"") != NULL);
    unsigned long long download_id = json_u64(anaf_result_json(w.result), "download_id");
    char upload_text[32];
    snprintf(upload_text, sizeof upload_text, "%llu", json_u64(anaf_result_json(w.result), "upload_id"));
    waiter_destroy(&w);

    waiter_init(&w);
    CHECK(anaf_efactura_download_async(client, download_id, NULL, on_done, &w) == ANAF_OK);
    wait_for(&w);
    size_t len = 0;
    const uint8_t *zip = anaf_result_bytes(w.result, &len);
    CHECK(w.status == ANAF_OK && len > 100 && zip[0] == 'P');
    waiter_destroy(&w);

    waiter_init(&w);
    CHECK(anaf_efactura_list_messages_async(client, SELLER, 1, NULL, NULL, on_done, &w) == ANAF_OK);
    wait_for(&w);
    CHECK(w.status == ANAF_OK && strstr(anaf_result_json(w.result), upload_text) != NULL);
    CHECK(anaf_result_json(w.result)[0] == '[');
    waiter_destroy(&w);

    /* An error from ANAF reaches the callback with its kind and Romanian text. */
    waiter_init(&w);
    CHECK(anaf_efactura_status_async(client, 15000, NULL, on_done, &w) == ANAF_OK);
    wait_for(&w);
    CHECK(w.status == ANAF_NOT_FOUND && w.result == NULL);
    CHECK(strcmp(anaf_error_anaf_message(w.error), "Nu exista factura cu id_incarcare= 15000") == 0);
    waiter_destroy(&w);

    /* The stream's next, async, until the NULL result. */
    anaf_message_stream *stream = NULL;
    long long now_ms = (long long)time(NULL) * 1000;
    /* (the 30 received invoices the blocking test seeded) */
    ok("messages", anaf_efactura_messages(client, SELLER, now_ms - 5 * 86400000LL, 0, "received",
                                          &stream, &err));
    int pages = 0;
    for (;;) {
        waiter_init(&w);
        CHECK(anaf_message_stream_next_async(stream, NULL, on_done, &w) == ANAF_OK);
        wait_for(&w);
        CHECK(w.status == ANAF_OK);
        int end = w.result == NULL;
        waiter_destroy(&w);
        if (end) break;
        pages++;
    }
    CHECK(pages >= 1);
    anaf_message_stream_free(stream);
    anaf_client_free(client);
}

static void test_cancellation(const anaf_sandbox *sandbox) {
    anaf_client *client = logged_in_client(sandbox);
    ok("fault", anaf_sandbox_inject_fault(
                    sandbox,
                    "{\"endpoint\":\"efactura.status\",\"fault\":{\"kind\":\"latency\",\"ms\":5000},"
                    "\"times\":1}",
                    &err));
    anaf_cancel *cancel = anaf_cancel_new();
    waiter w;
    waiter_init(&w);
    double started = now_seconds();
    CHECK(anaf_efactura_status_async(client, 1, cancel, on_done, &w) == ANAF_OK);
    sleep_ms(100);
    anaf_cancel_fire(cancel);
    wait_for(&w);
    CHECK(now_seconds() - started < 3.0);
    CHECK(w.status == ANAF_CANCELLED);
    CHECK(anaf_error_upload_outcome_unknown(w.error) == 0);
    waiter_destroy(&w);
    anaf_cancel_free(cancel);
    anaf_sandbox_clear_faults(sandbox);

    /* An upload cancelled after it was sent: its outcome is unknown, and it is not resent. */
    ok("fault", anaf_sandbox_inject_fault(
                    sandbox,
                    "{\"endpoint\":\"efactura.upload\",\"fault\":{\"kind\":\"latency\",\"ms\":1000},"
                    "\"times\":1}",
                    &err));
    cancel = anaf_cancel_new();
    char *xml = sample_invoice("C-CANCEL-1", SELLER, BUYER);
    waiter_init(&w);
    CHECK(anaf_efactura_upload_async(client, (const uint8_t *)xml, strlen(xml), SELLER, NULL, 0,
                                     cancel, on_done, &w) == ANAF_OK);
    sleep_ms(300);
    anaf_cancel_fire(cancel);
    wait_for(&w);
    CHECK(w.status == ANAF_CANCELLED);
    CHECK(anaf_error_upload_outcome_unknown(w.error) == 1);
    waiter_destroy(&w);
    anaf_cancel_free(cancel);
    /* Past the sandbox's delay: the invoice reached it at most once (never sent again). */
    sleep_ms(1500);
    char *uploads = NULL;
    ok("uploads", anaf_sandbox_uploads(sandbox, SELLER, &uploads, &err));
    int copies = 0;
    for (const char *at = uploads; (at = strstr(at, "\"document_number\":\"C-CANCEL-1\"")) != NULL; at++) {
        copies++;
    }
    CHECK(copies <= 1);
    anaf_string_free(uploads);

    /* A token fired before the call: it never starts. */
    cancel = anaf_cancel_new();
    anaf_cancel_fire(cancel);
    waiter_init(&w);
    CHECK(anaf_hello_async(client, "x", cancel, on_done, &w) == ANAF_OK);
    wait_for(&w);
    CHECK(w.status == ANAF_CANCELLED);
    waiter_destroy(&w);
    anaf_cancel_free(cancel);
    anaf_string_free(xml);
    anaf_sandbox_clear_faults(sandbox);
    anaf_client_free(client);
}

static void inject(const anaf_sandbox *sandbox, const char *json) {
    ok("inject_fault", anaf_sandbox_inject_fault(sandbox, json, &err));
}

/* Every error kind a call can produce, with its number, code and details intact. */
static void test_error_kinds(const anaf_sandbox *sandbox) {
    anaf_client *client = logged_in_client(sandbox);
    anaf_result *r = NULL;
    anaf_error *e;

    inject(sandbox, "{\"endpoint\":\"hello\",\"fault\":{\"kind\":\"status\",\"status\":401},\"times\":3}");
    e = expect_error("401", anaf_hello(client, "x", &r, &err), ANAF_UNAUTHORIZED);
    CHECK(anaf_error_http_status(e) == 401 && strcmp(anaf_error_code(e), "unauthorized") == 0);
    anaf_error_free(e);
    anaf_sandbox_clear_faults(sandbox);

    inject(sandbox, "{\"endpoint\":\"hello\",\"fault\":{\"kind\":\"status\",\"status\":403},\"times\":1}");
    e = expect_error("403", anaf_hello(client, "x", &r, &err), ANAF_FORBIDDEN);
    CHECK(anaf_error_http_status(e) == 403);
    anaf_error_free(e);

    inject(sandbox, "{\"endpoint\":\"hello\",\"fault\":{\"kind\":\"status\",\"status\":429},\"times\":1}");
    e = expect_error("429", anaf_hello(client, "x", &r, &err), ANAF_RATE_LIMITED);
    CHECK(anaf_error_http_status(e) == 429);
    anaf_error_free(e);

    e = expect_error("not mine",
                     anaf_efactura_list_messages(client, "33333338", 1, NULL, &r, &err),
                     ANAF_NO_CIF_RIGHT);
    CHECK(strcmp(anaf_error_anaf_message(e), "Nu aveti drept in SPV pentru CIF=33333338") == 0);
    anaf_error_free(e);

    e = expect_error("missing", anaf_efactura_status(client, 15000, &r, &err), ANAF_NOT_FOUND);
    CHECK(strcmp(anaf_error_anaf_message(e), "Nu exista factura cu id_incarcare= 15000") == 0);
    CHECK(strstr(anaf_error_json(e), "\"kind\":\"not_found\"") != NULL);
    anaf_error_free(e);

    inject(sandbox, "{\"endpoint\":\"hello\",\"fault\":{\"kind\":\"waf_block\"},\"times\":1}");
    e = expect_error("waf", anaf_hello(client, "x", &r, &err), ANAF_WAF_REJECTED);
    anaf_error_free(e);

    e = expect_error("garbage", anaf_efactura_upload(client, (const uint8_t *)"not xml", 7, SELLER,
                                                     NULL, 0, &r, &err),
                     ANAF_INVALID_INPUT);
    CHECK(strncmp(anaf_error_anaf_message(e), "Fisierul transmis nu este valid.", 32) == 0);
    CHECK(strcmp(anaf_error_field(e), "xml") == 0);
    anaf_error_free(e);

    e = expect_error("bad code", anaf_oauth_exchange_code(client, "not-a-code", &r, &err), ANAF_OAUTH);
    CHECK(strstr(anaf_error_json(e), "\"oauth_error\":\"invalid_grant\"") != NULL);
    anaf_error_free(e);

    inject(sandbox, "{\"endpoint\":\"hello\",\"fault\":{\"kind\":\"reset\"},\"times\":1}");
    e = expect_error("reset", anaf_hello(client, "x", &r, &err), ANAF_TRANSPORT);
    anaf_error_free(e);

    inject(sandbox, "{\"endpoint\":\"efactura.status\",\"fault\":{\"kind\":\"reply\",\"status\":200,"
                    "\"content_type\":\"text/plain\",\"body\":\"surprise\"},\"times\":1}");
    e = expect_error("garbled", anaf_efactura_status(client, 1, &r, &err), ANAF_UNEXPECTED_RESPONSE);
    anaf_error_free(e);

    /* A timeout: a client with a 2 s request time limit (room for valgrind's slowness) against
     * an answer 8 s late. */
    anaf_options *options = sandbox_options(sandbox);
    ok("timeouts", anaf_options_set_timeouts(options, 2000, 0, &err));
    anaf_client *impatient = new_client(options);
    anaf_options_free(options);
    log_in(sandbox, impatient);
    inject(sandbox, "{\"endpoint\":\"hello\",\"fault\":{\"kind\":\"latency\",\"ms\":8000},\"times\":1}");
    e = expect_error("timeout", anaf_hello(impatient, "x", &r, &err), ANAF_TIMEOUT);
    anaf_error_free(e);
    anaf_client_free(impatient);
    anaf_sandbox_clear_faults(sandbox);

    /* Daily limits, a message too old to download, and a duplicate: a sandbox of their own. */
    anaf_sandbox *strict =
        start_sandbox("{\"instant\":true,\"daily_limits\":{\"efactura_status\":1}}");
    anaf_client *limited = logged_in_client(strict);
    unsigned long long id = upload(limited, "C-LIMIT-1");
    ok("status", anaf_efactura_status(limited, id, &r, &err));
    unsigned long long download_id = json_u64(anaf_result_json(r), "download_id");
    anaf_result_free(r);
    e = expect_error("limit", anaf_efactura_status(limited, id, &r, &err), ANAF_DAILY_LIMIT);
    CHECK(anaf_error_limit(e) == 1);
    CHECK(strstr(anaf_error_anaf_message(e), "in cursul zilei") != NULL);
    anaf_error_free(e);

    /* The same invoice twice: ANAF answers the second with a `nok` whose report names the
     * first; the archive carries it as an error object of kind duplicate_invoice. */
    char *xml = sample_invoice("C-DUP-1", SELLER, BUYER);
    anaf_result *first = NULL, *second = NULL;
    ok("first", anaf_efactura_upload_and_wait(limited, (const uint8_t *)xml, strlen(xml), SELLER,
                                              NULL, 0, 0, &first, &err));
    ok("second", anaf_efactura_upload_and_wait(limited, (const uint8_t *)xml, strlen(xml), SELLER,
                                               NULL, 0, 0, &second, &err));
    CHECK(strstr(anaf_result_json(second), "\"state\":\"nok\"") != NULL);
    anaf_result *report = NULL;
    ok("download nok", anaf_efactura_download(limited, json_u64(anaf_result_json(second),
                                                                "download_id"),
                                              &report, &err));
    CHECK(strstr(anaf_result_json(report), "\"kind\":\"duplicate_invoice\"") != NULL);
    CHECK(json_u64(strstr(anaf_result_json(report), "\"error\":"), "previous_upload_id") ==
          json_u64(anaf_result_json(first), "upload_id"));
    anaf_result_free(report);
    anaf_result_free(first);
    anaf_result_free(second);
    anaf_string_free(xml);

    anaf_sandbox_advance_clock(strict, 61ULL * 86400 * 1000);
    log_in(strict, limited);
    e = expect_error("expired", anaf_efactura_download(limited, download_id, &r, &err),
                     ANAF_DOWNLOAD_EXPIRED);
    anaf_error_free(e);
    anaf_client_free(limited);
    anaf_sandbox_free(strict);

    /* A user with no SPV right on any company. */
    char *identity = NULL;
    ok("add_identity", anaf_sandbox_add_identity(
                           sandbox, "{\"name\":\"Nimeni\",\"cifs\":[],\"services\":[\"efactura\"]}",
                           &identity, &err));
    char *info = NULL;
    ok("info", anaf_sandbox_info(sandbox, &info, &err));
    const char *serial_at = strstr(identity, "\"serial\":\"") + 10;
    const char *client_id_at = strstr(info, "\"client_id\":\"") + 13;
    char request[512];
    snprintf(request, sizeof request,
             "{\"client_id\":\"%.*s\",\"redirect_uri\":\"https://localhost:8443/callback\","
             "\"serial\":\"%.*s\"}",
             (int)(strchr(client_id_at, '"') - client_id_at), client_id_at,
             (int)(strchr(serial_at, '"') - serial_at), serial_at);
    char *code = NULL;
    ok("authorize nobody", anaf_sandbox_authorize(sandbox, request, &code, &err));
    options = sandbox_options(sandbox);
    anaf_client *nobody = new_client(options);
    anaf_options_free(options);
    ok("exchange", anaf_oauth_exchange_code(nobody, code, &r, &err));
    anaf_result_free(r);
    e = expect_error("no rights", anaf_efactura_list_messages(nobody, SELLER, 1, NULL, &r, &err),
                     ANAF_NO_CIF_RIGHTS);
    anaf_error_free(e);
    anaf_client_free(nobody);
    anaf_string_free(code);
    anaf_string_free(info);
    anaf_string_free(identity);

    anaf_client_free(client);
    /* The other kinds: internal (test_internal_error: a token store that cannot load),
     * cancelled (test_cancellation). quota_exhausted is reserved for the local quota ledger;
     * no call produces it yet. */
}

static int failing_load(void *user_data, anaf_token_sink *sink) {
    (void)user_data;
    (void)sink;
    return 5;
}
static int ignoring_save(void *user_data, const char *tokens_json) {
    (void)user_data;
    (void)tokens_json;
    return 0;
}

static void test_internal_error(const anaf_sandbox *sandbox) {
    anaf_token_store *store = NULL;
    ok("store", anaf_token_store_new(failing_load, ignoring_save, NULL, NULL, &store, &err));
    anaf_options *options = sandbox_options(sandbox);
    ok("set store", anaf_options_set_token_store(options, store, &err));
    anaf_token_store_free(store);
    anaf_client *client = new_client(options);
    anaf_options_free(options);
    anaf_result *r = NULL;
    anaf_error *e = expect_error("load fails", anaf_hello(client, "x", &r, &err), ANAF_INTERNAL);
    CHECK(strstr(anaf_error_message(e), "returned 5") != NULL);
    anaf_error_free(e);
    anaf_client_free(client);
}

/* ------------------------------------------------------------------------------------- */
/* The host's token store: tokens kept in "its database" (here a string). */

typedef struct {
    pthread_mutex_t lock;
    char *saved;
    int saves;
    int loads;
    int events;
    int fail_saves;
} host_db;

static int db_load(void *user_data, anaf_token_sink *sink) {
    host_db *db = user_data;
    pthread_mutex_lock(&db->lock);
    db->loads++;
    int status = ANAF_OK;
    if (db->saved != NULL) status = anaf_token_sink_set(sink, db->saved, NULL);
    pthread_mutex_unlock(&db->lock);
    return status;
}

static int db_save(void *user_data, const char *tokens_json) {
    host_db *db = user_data;
    pthread_mutex_lock(&db->lock);
    int failed = db->fail_saves > 0;
    if (failed) {
        db->fail_saves--;
    } else {
        free(db->saved);
        db->saved = strdup(tokens_json);
        db->saves++;
    }
    pthread_mutex_unlock(&db->lock);
    return failed ? 1 : 0;
}

static int db_clear(void *user_data) {
    host_db *db = user_data;
    pthread_mutex_lock(&db->lock);
    free(db->saved);
    db->saved = NULL;
    pthread_mutex_unlock(&db->lock);
    return 0;
}

static void db_event(void *user_data, const char *event_json) {
    host_db *db = user_data;
    pthread_mutex_lock(&db->lock);
    /* Events never carry the tokens: neither value of the pair saved last appears. */
    char secret[128];
    json_string(db->saved, "refresh_token", secret, sizeof secret);
    if (secret[0] != 0 && strstr(event_json, secret) != NULL) abort();
    json_string(db->saved, "access_token", secret, sizeof secret);
    if (secret[0] != 0 && strstr(event_json, secret) != NULL) abort();
    db->events++;
    pthread_mutex_unlock(&db->lock);
}

static int store_releases, event_releases;
static void release_store(void *user_data) {
    (void)user_data;
    __atomic_add_fetch(&store_releases, 1, __ATOMIC_SEQ_CST);
}
static void release_events(void *user_data) {
    (void)user_data;
    __atomic_add_fetch(&event_releases, 1, __ATOMIC_SEQ_CST);
}

static anaf_options *db_options(const anaf_sandbox *sandbox, host_db *db, const char *sharing_key) {
    anaf_token_store *store = NULL;
    ok("store", anaf_token_store_new(db_load, db_save, release_store, db, &store, &err));
    ok("clear cb", anaf_token_store_set_clear(store, db_clear, &err));
    ok("key", anaf_token_store_set_sharing_key(store, sharing_key, &err));
    anaf_options *options = sandbox_options(sandbox);
    ok("set store", anaf_options_set_token_store(options, store, &err));
    ok("events", anaf_options_set_token_event_callback(options, db_event, release_events, db, &err));
    anaf_token_store_free(store);
    return options;
}

/* Static, so the release checks below can run after the test's clients are gone. */
static host_db db;

static void test_token_store(const anaf_sandbox *sandbox) {
    pthread_mutex_init(&db.lock, NULL);
    anaf_options *options = db_options(sandbox, &db, "c-test-db");
    anaf_client *client = new_client(options);
    log_in(sandbox, client);
    pthread_mutex_lock(&db.lock);
    CHECK(db.saves == 1 && db.saved != NULL && strstr(db.saved, "refresh_token") != NULL);
    pthread_mutex_unlock(&db.lock);

    /* Another program on the same database (here: a store of its own) loads the tokens. */
    pthread_mutex_lock(&db.lock);
    int loads_before = db.loads;
    pthread_mutex_unlock(&db.lock);
    anaf_options *elsewhere = db_options(sandbox, &db, "c-test-db-elsewhere");
    anaf_client *second = new_client(elsewhere);
    anaf_options_free(elsewhere);
    anaf_result *r = NULL;
    ok("hello from the stored tokens", anaf_hello(second, "db", &r, &err));
    anaf_result_free(r);
    pthread_mutex_lock(&db.lock);
    CHECK(db.loads > loads_before);
    pthread_mutex_unlock(&db.lock);

    /* A refused save: the rotated pair stays in use; the next call saves it. */
    pthread_mutex_lock(&db.lock);
    db.fail_saves = 2; /* the refresh's save, then save_tokens */
    pthread_mutex_unlock(&db.lock);
    anaf_error *e = expect_error("refused save", anaf_oauth_refresh(client, &r, &err), ANAF_INTERNAL);
    CHECK(strstr(anaf_error_hint(e), "kept in memory") != NULL);
    anaf_error_free(e);
    e = expect_error("save while the store still refuses", anaf_oauth_save_tokens(client, &r, &err), ANAF_INTERNAL);
    anaf_error_free(e);
    ok("token status", anaf_oauth_token_status(client, &r, &err));
    CHECK(strstr(anaf_result_json(r), "\"unsaved\":true") != NULL);
    anaf_result_free(r);
    pthread_mutex_lock(&db.lock);
    db.fail_saves = 0;
    pthread_mutex_unlock(&db.lock);
    ok("save the pair kept in memory", anaf_oauth_save_tokens(client, &r, &err));
    CHECK(r == NULL);
    pthread_mutex_lock(&db.lock);
    CHECK(db.saves == 2);
    pthread_mutex_unlock(&db.lock);
    ok("hello after the save", anaf_hello(client, "db", &r, &err));
    anaf_result_free(r);
    pthread_mutex_lock(&db.lock);
    CHECK(db.saves == 2); /* saved once, not again */
    pthread_mutex_unlock(&db.lock);

    ok("clear", anaf_oauth_clear_tokens(client, &r, &err));
    pthread_mutex_lock(&db.lock);
    CHECK(db.saved == NULL);
    pthread_mutex_unlock(&db.lock);

    /* Events arrive on a library thread, without holding up calls: wait for them. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&db.lock);
        int events = db.events;
        pthread_mutex_unlock(&db.lock);
        if (events >= 3) break;
        sleep_ms(10);
    }
    pthread_mutex_lock(&db.lock);
    CHECK(db.events >= 3);
    pthread_mutex_unlock(&db.lock);

    /* The library says when it is done with user_data: once everything holding it is freed. */
    anaf_client_free(second);
    anaf_client_free(client);
    CHECK(__atomic_load_n(&store_releases, __ATOMIC_SEQ_CST) <= 1); /* `second`'s store only */
    anaf_options_free(options);
    for (int i = 0; i < 200 && (__atomic_load_n(&store_releases, __ATOMIC_SEQ_CST) < 2 ||
                                __atomic_load_n(&event_releases, __ATOMIC_SEQ_CST) < 2);
         i++) {
        sleep_ms(10);
    }
    CHECK(__atomic_load_n(&store_releases, __ATOMIC_SEQ_CST) == 2);
    CHECK(__atomic_load_n(&event_releases, __ATOMIC_SEQ_CST) == 2);
}

/* ------------------------------------------------------------------------------------- */
/* 16 threads x 100 calls on one client */

typedef struct {
    const anaf_client *client;
    unsigned long long upload_id;
    int failures;
} worker_args;

static void *worker(void *arg) {
    worker_args *args = arg;
    for (int i = 0; i < 100; i++) {
        anaf_result *r = NULL;
        anaf_error *e = NULL;
        anaf_status status = (i % 2 == 0) ? anaf_efactura_status(args->client, args->upload_id, &r, &e)
                                          : anaf_hello(args->client, "thread", &r, &e);
        if (status != ANAF_OK || r == NULL) args->failures++;
        anaf_result_free(r);
        anaf_error_free(e);
    }
    return NULL;
}

static void test_threads(void) {
    /* A sandbox without ANAF's per-minute and daily limits, for 1,600 calls in a few seconds. */
    anaf_sandbox *sandbox = start_sandbox(
        "{\"instant\":true,\"per_minute_limit\":100000,\"daily_limits\":{\"efactura_status\":100000}}");
    anaf_options *options = sandbox_options(sandbox);
    ok("rpm", anaf_options_set_requests_per_minute(options, 0, &err));
    anaf_client *client = new_client(options);
    anaf_options_free(options);
    log_in(sandbox, client);
    unsigned long long id = upload(client, "C-THREADS-1");
    pthread_t threads[16];
    worker_args args[16];
    for (int i = 0; i < 16; i++) {
        args[i] = (worker_args){client, id, 0};
        CHECK(pthread_create(&threads[i], NULL, worker, &args[i]) == 0);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(threads[i], NULL);
        CHECK(args[i].failures == 0);
    }
    anaf_client_free(client);
    anaf_sandbox_free(sandbox);
}

/* ------------------------------------------------------------------------------------- */

/* The desktop login's wiring: no browser, the URL handed to the host, the HTTPS loopback
 * listener up, and a clear timeout when nobody logs in. (The whole flow with a browser is
 * tested in the core.) */
static char login_url[1024];
static char login_certificate[64];
static int listener_answered;
static void on_login_url(void *user_data, const char *url) {
    (void)user_data;
    snprintf(login_url, sizeof login_url, "%s", url);
    /* The callback listener is up when the URL is handed out: connect to it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons(8443);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener_answered = fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) == 0;
    if (fd >= 0) close(fd);
}
static void on_login_certificate(void *user_data, const char *pem) {
    (void)user_data;
    snprintf(login_certificate, sizeof login_certificate, "%s", pem);
}

static void test_login_wiring(const anaf_sandbox *sandbox) {
    anaf_options *options = sandbox_options(sandbox);
    anaf_client *client = new_client(options);
    anaf_options_free(options);
    anaf_login_options *login = anaf_login_options_new();
    ok("open_browser", anaf_login_options_set_open_browser(login, 0, &err));
    ok("timeout", anaf_login_options_set_timeout(login, 500, &err));
    ok("url", anaf_login_options_set_url_callback(login, on_login_url, NULL, &err));
    ok("certificate", anaf_login_options_set_certificate_callback(login, on_login_certificate, NULL, &err));
    anaf_error *e = expect_error("open_browser flag", anaf_login_options_set_open_browser(login, 2, &err),
                                 ANAF_INVALID_INPUT);
    anaf_error_free(e);
    anaf_result *r = NULL;
    e = expect_error("nobody logs in", anaf_oauth_login_interactive(client, login, &r, &err), ANAF_TIMEOUT);
    CHECK(r == NULL);
    anaf_error_free(e);
    CHECK(strstr(login_url, anaf_sandbox_base_url(sandbox)) == login_url);
    CHECK(strstr(login_url, "response_type=code") != NULL);
    CHECK(strncmp(login_certificate, "-----BEGIN CERTIFICATE-----", 27) == 0);
    CHECK(listener_answered);
    anaf_login_options_free(login);
    anaf_client_free(client);
}

static int log_lines, log_call_line;
static char logged_secret[128];
static void on_log(void *user_data, int32_t level, const char *target, const char *message) {
    (void)user_data;
    if (logged_secret[0] != 0 && strstr(message, logged_secret) != NULL) abort();
    if (level >= ANAF_LOG_ERROR && level <= ANAF_LOG_TRACE && target != NULL) {
        __atomic_add_fetch(&log_lines, 1, __ATOMIC_SEQ_CST);
    }
    /* The operation's own fields come with its lines. */
    if (strstr(message, "answered") == message && strstr(message, "operation=\"hello\"") != NULL &&
        strstr(message, "status=200") != NULL) {
        __atomic_store_n(&log_call_line, 1, __ATOMIC_SEQ_CST);
    }
}

static void test_logging(const anaf_sandbox *sandbox) {
    anaf_client *client = logged_in_client(sandbox);
    anaf_result *r = NULL;
    ok("tokens", anaf_oauth_tokens(client, &r, &err));
    json_string(anaf_result_json(r), "access_token", logged_secret, sizeof logged_secret);
    CHECK(strlen(logged_secret) > 20);
    anaf_result_free(r);
    ok("log", anaf_set_log_callback(ANAF_LOG_TRACE, on_log, NULL, &err));
    ok("hello", anaf_hello(client, "log", &r, &err)); /* sends the access token */
    anaf_result_free(r);
    CHECK(__atomic_load_n(&log_lines, __ATOMIC_SEQ_CST) > 0);
    CHECK(__atomic_load_n(&log_call_line, __ATOMIC_SEQ_CST) == 1);
    ok("log off", anaf_set_log_callback(ANAF_LOG_OFF, NULL, NULL, &err));
    int before = __atomic_load_n(&log_lines, __ATOMIC_SEQ_CST);
    ok("hello", anaf_hello(client, "quiet", &r, &err));
    anaf_result_free(r);
    CHECK(__atomic_load_n(&log_lines, __ATOMIC_SEQ_CST) == before);
    anaf_client_free(client);
}

/* ------------------------------------------------------------------------------------- */
/* The state database: duplicate-safe submission and the quota ledger */

static int occurrences(const char *text, const char *needle) {
    int count = 0;
    for (const char *at = text; (at = strstr(at, needle)) != NULL; at++) {
        count++;
    }
    return count;
}

static void state_database(void) {
    anaf_sandbox *sandbox = start_sandbox("{\"instant\":true}");
    anaf_options *options = sandbox_options(sandbox);
    /* In memory: the clients of these options share it (a file or postgres:// in real use). */
    ok("state database", anaf_options_set_state_database(options, "sqlite::memory:", &err));
    anaf_client *client = new_client(options);
    log_in(sandbox, client);

    /* ANAF stores the invoice, then the answer is lost: submit says "unknown", never resends. */
    ok("fault", anaf_sandbox_inject_fault(
                    sandbox, "{\"endpoint\":\"efactura.upload\",\"fault\":{\"kind\":\"accept_then_drop\"},\"times\":1}",
                    &err));
    char *xml = sample_invoice("C-SUBMIT-1", SELLER, BUYER);
    anaf_result *record = NULL;
    ok("submit", anaf_efactura_submit(client, (const uint8_t *)xml, strlen(xml), SELLER, NULL, 0, &record, &err));
    CHECK(strstr(anaf_result_json(record), "\"state\":\"unknown\"") != NULL);
    anaf_result_free(record);
    /* Submitted again: found in ANAF's list of sent invoices, not sent again. */
    ok("submit again", anaf_efactura_submit(client, (const uint8_t *)xml, strlen(xml), SELLER, NULL, 0, &record, &err));
    CHECK(strstr(anaf_result_json(record), "\"state\":\"uploaded\"") != NULL);
    CHECK(strstr(anaf_result_json(record), "\"invoice_number\":\"C-SUBMIT-1\"") != NULL);
    unsigned long long upload_id = json_u64(anaf_result_json(record), "upload_id");
    anaf_result_free(record);
    char *uploads = NULL;
    ok("uploads", anaf_sandbox_uploads(sandbox, SELLER, &uploads, &err));
    CHECK(occurrences(uploads, "\"document_number\":\"C-SUBMIT-1\"") == 1);
    CHECK(json_u64(uploads, "upload_id") == upload_id);
    anaf_string_free(uploads);
    anaf_string_free(xml);

    anaf_result *list = NULL;
    ok("submissions", anaf_efactura_submissions(client, SELLER, "uploaded", 0, &list, &err));
    CHECK(occurrences(anaf_result_json(list), "\"key\"") == 1);
    anaf_result_free(list);
    ok("resume", anaf_efactura_resume_submissions(client, &list, &err));
    CHECK(strcmp(anaf_result_json(list), "[]") == 0);
    anaf_result_free(list);
    anaf_error *e = expect_error("bad state", anaf_efactura_submissions(client, NULL, "lost", 0, &list, &err),
                                 ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "state") == 0);
    anaf_error_free(e);

    /* The search used the paginated list and a download: the ledger counted both. */
    anaf_result *usage = NULL;
    ok("quota usage", anaf_quota_usage(client, &usage, &err));
    CHECK(strstr(anaf_result_json(usage), "\"counter\":\"list_paged\"") != NULL);
    CHECK(strstr(anaf_result_json(usage), "\"counter\":\"download\"") != NULL);
    anaf_result_free(usage);
    anaf_client_free(client);

    /* A daily limit of 1 per counted call: the second status query is refused here. */
    ok("daily limit", anaf_options_set_daily_limit(options, 1, &err));
    client = new_client(options);
    anaf_result *state = NULL;
    ok("status", anaf_efactura_status(client, upload_id, &state, &err));
    anaf_result_free(state);
    e = expect_error("over the limit", anaf_efactura_status(client, upload_id, &state, &err), ANAF_QUOTA_EXHAUSTED);
    CHECK(anaf_error_limit(e) == 1);
    CHECK(anaf_error_retry_after_ms(e) > 0);
    anaf_error_free(e);
    anaf_client_free(client);
    anaf_options_free(options);

    /* No database: submit says what is missing; a bad location is the caller's input. */
    client = logged_in_client(sandbox);
    e = expect_error("no database",
                     anaf_efactura_submit(client, (const uint8_t *)"<x/>", 4, SELLER, NULL, 0, &record, &err),
                     ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "state") == 0);
    anaf_error_free(e);
    anaf_client_free(client);
    options = anaf_options_new();
    anaf_error_free(expect_error("NULL database", anaf_options_set_state_database(options, NULL, &err),
                                 ANAF_INVALID_INPUT));
    e = expect_error("mysql", anaf_options_set_state_database(options, "mysql://localhost/x", &err), ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "database") == 0);
    anaf_error_free(e);
    /* Tokens in the database need one. */
    ok("database tokens alone", anaf_options_set_database_tokens(options, "company-42", &err));
    anaf_error_free(expect_error("no database for the tokens", anaf_client_new(options, &client, &err),
                                 ANAF_INVALID_INPUT));
    anaf_error_free(expect_error("NULL name", anaf_options_set_database_tokens(options, NULL, &err),
                                 ANAF_INVALID_INPUT));
    anaf_options_free(options);

    /* Tokens in a database file: a program that starts later (or runs on another machine,
       with postgres://) uses the login of the first one. */
    char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/anaf-c-tokens-%d.db", tmp ? tmp : "/tmp", (int)getpid());
    for (int run = 0; run < 2; run++) {
        options = sandbox_options(sandbox);
        ok("state file", anaf_options_set_state_database(options, path, &err));
        ok("database tokens", anaf_options_set_database_tokens(options, "company-42", &err));
        client = new_client(options);
        if (run == 0) {
            log_in(sandbox, client);
        } else {
            anaf_result *hello = NULL;
            ok("hello with the stored login", anaf_hello(client, "later", &hello, &err));
            anaf_result_free(hello);
        }
        anaf_client_free(client);
        anaf_options_free(options);
    }
    const char *suffixes[] = {"", "-wal", "-shm", "-tokens.lock"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char file[600];
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        remove(file);
    }
    anaf_sandbox_free(sandbox);
}

/* ------------------------------------------------------------------------------------- */
/* The archive sync */

typedef struct {
    int calls;
    char last[512];
} progress_log;

static void on_sync_progress(void *user_data, const char *progress_json) {
    progress_log *log = user_data;
    log->calls++;
    snprintf(log->last, sizeof log->last, "%s", progress_json);
}

static void archive_sync(void) {
    anaf_sandbox *sandbox = start_sandbox("{\"instant\":true}");
    anaf_client *client = logged_in_client(sandbox);
    char *seeded = NULL;
    ok("seed", anaf_sandbox_seed_received_invoices(
                   sandbox, "{\"cif\":\"" SELLER "\",\"count\":12,\"days_back\":5}", &seeded, &err));
    anaf_string_free(seeded);
    char folder[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(folder, sizeof folder, "%s/anaf-c-archive-%d", tmp ? tmp : "/tmp", (int)getpid());

    /* Every message into the folder, the progress told as it goes. */
    progress_log log = {0};
    anaf_result *report = NULL;
    ok("sync", anaf_efactura_sync(client, SELLER, folder, "received", 0, 0, on_sync_progress, &log, &report, &err));
    CHECK(strstr(anaf_result_json(report), "\"archived\":12") != NULL);
    CHECK(strstr(anaf_result_json(report), "\"failures\":[]") != NULL);
    CHECK(log.calls >= 13); /* the page, then each message */
    CHECK(strstr(log.last, "\"archived\":12") != NULL);
    anaf_result_free(report);

    /* Again, asynchronously: nothing is downloaded twice. */
    waiter w;
    waiter_init(&w);
    ok("sync async", anaf_efactura_sync_async(client, SELLER, folder, NULL, 0, 0, NULL, NULL, NULL, on_done, &w));
    wait_for(&w);
    CHECK(w.status == ANAF_OK);
    CHECK(strstr(anaf_result_json(w.result), "\"archived\":0") != NULL);
    CHECK(strstr(anaf_result_json(w.result), "\"already_archived\":12") != NULL);
    waiter_destroy(&w);

    /* Bad arguments are the caller's. */
    anaf_error *e = expect_error("NULL folder", anaf_efactura_sync(client, SELLER, NULL, NULL, 0, 0, NULL, NULL, &report, &err),
                                 ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "folder") == 0);
    anaf_error_free(e);
    e = expect_error("bad filter", anaf_efactura_sync(client, SELLER, folder, "all", 0, 0, NULL, NULL, &report, &err),
                     ANAF_INVALID_INPUT);
    anaf_error_free(e);
    anaf_error_free(expect_error("pdf flag", anaf_efactura_sync(client, SELLER, folder, NULL, 0, 7, NULL, NULL, &report, &err),
                                 ANAF_INVALID_INPUT));

    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    CHECK(system(command) == 0);
    anaf_client_free(client);
    anaf_sandbox_free(sandbox);
}

static void run(const char *name, void (*test)(void)) {
    double started = now_seconds();
    test();
    printf("ok %-28s %6.2fs\n", name, now_seconds() - started);
    fflush(stdout);
}

static anaf_sandbox *shared_sandbox;
static void round_trip_blocking(void) { test_round_trip_blocking(shared_sandbox); }
static void round_trip_async(void) { test_round_trip_async(shared_sandbox); }
static void cancellation(void) { test_cancellation(shared_sandbox); }
static void error_kinds(void) { test_error_kinds(shared_sandbox); }
static void internal_error(void) { test_internal_error(shared_sandbox); }
static void token_store(void) { test_token_store(shared_sandbox); }
static void logging(void) { test_logging(shared_sandbox); }
/* The polling settings of upload_and_wait: an upload ANAF keeps processing is polled as
 * many times as allowed, then returned `in_progress` with its id; a bad budget is refused
 * before anything is sent. */
static void upload_and_wait_polling(void) {
    anaf_sandbox *slow = start_sandbox("{\"processing_delay_ms\":60000}");
    anaf_client *client = logged_in_client(slow);
    char *xml = sample_invoice("C-POLL-1", SELLER, BUYER);
    anaf_result *r = NULL;
    ok("upload_and_wait_polling",
       anaf_efactura_upload_and_wait_polling(client, (const uint8_t *)xml, strlen(xml), SELLER, NULL, 0,
                                             -1, 0, 50, 2, &r, &err));
    CHECK(strstr(anaf_result_json(r), "\"state\":\"in_progress\"") != NULL);
    CHECK(strstr(anaf_result_json(r), "\"polls\":2") != NULL);
    CHECK(json_u64(anaf_result_json(r), "upload_id") > 0);
    anaf_result_free(r);
    char *uploads = NULL;
    ok("uploads", anaf_sandbox_uploads(slow, SELLER, &uploads, &err));
    CHECK(strstr(uploads, "\"upload_id\"") != NULL);
    CHECK(strstr(strstr(uploads, "\"upload_id\"") + 1, "\"upload_id\"") == NULL); /* sent once */
    anaf_string_free(uploads);
    anaf_error *e = expect_error("max_polls too large",
                                 anaf_efactura_upload_and_wait_polling(client, (const uint8_t *)xml, strlen(xml),
                                                                       SELLER, NULL, 0, -1, -1, -1,
                                                                       (int64_t)1 << 40, &r, &err),
                                 ANAF_INVALID_INPUT);
    CHECK(strcmp(anaf_error_field(e), "max_polls") == 0);
    anaf_error_free(e);
    anaf_string_free(xml);
    anaf_client_free(client);
    anaf_sandbox_free(slow);
}

static void login_wiring(void) { test_login_wiring(shared_sandbox); }

int main(void) {
    run("version", test_version);
    run("misuse", test_misuse);
    shared_sandbox = start_sandbox("{\"instant\":true}");
    run("round trip, blocking", round_trip_blocking);
    run("round trip, async", round_trip_async);
    run("cancellation", cancellation);
    run("error kinds", error_kinds);
    run("upload and wait, polling settings", upload_and_wait_polling);
    run("internal error", internal_error);
    run("callback token store", token_store);
    run("16 threads x 100 calls", test_threads);
    run("logging", logging);
    run("desktop login wiring", login_wiring);
    run("state database", state_database);
    run("archive sync", archive_sync);
    anaf_sandbox_free(shared_sandbox);
    /* Stops the library's threads (hooks finish first), so leak checkers see a quiet exit. */
    ok("shutdown", anaf_runtime_shutdown(1000, &err));
    CHECK(async_completed == async_started);
    printf("c tests: all passed (%d checks)\n", checks);
    return 0;
}
