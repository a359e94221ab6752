/* The C ABI on Windows: this program is built with MinGW-w64 against the committed anaf.h and
 * anaf.dll (64- and 32-bit) and run under Wine by scripts/test-windows, against a sandbox
 * running natively on loopback (its address and application in the environment). It covers
 * what breaks first on Windows: the cdecl calls, UTF-8 at the boundary, 32-bit pointers and
 * sizes, and the library's own threads calling back into the host.
 *
 * It prints "windows tests: all passed (N checks)" last; the script checks that line, not only
 * the exit code (Wine has exited 0 after a crash). */

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anaf.h"

static int checks, failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        checks++;                                                                   \
        if (!(cond)) {                                                              \
            failures++;                                                             \
            fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                           \
    } while (0)

static const char *env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == 0) {
        fprintf(stderr, "missing environment variable %s\n", name);
        exit(2);
    }
    return value;
}

/* The call succeeded, or say why and count a failure. */
static int ok(const char *what, anaf_status status, anaf_error **err) {
    checks++;
    if (status == ANAF_OK) return 1;
    failures++;
    fprintf(stderr, "FAILED %s: status %d: %s\n", what, status, *err ? anaf_error_message(*err) : "");
    anaf_error_free(*err);
    *err = NULL;
    return 0;
}

/* --- a minimal HTTP client for the sandbox's admin API (the test's own, not the library's) */

/* POSTs `body` (JSON) to `path` on the sandbox and returns the answer (headers and body;
 * malloc'd), or NULL. */
static char *admin_post(const char *path, const char *body) {
    const char *base = env("ANAF_SANDBOX_URL"); /* http://127.0.0.1:PORT */
    const char *port = strrchr(base, ':') + 1;
    struct addrinfo hints = {0}, *address = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("127.0.0.1", port, &hints, &address) != 0) return NULL;
    SOCKET s = socket(address->ai_family, address->ai_socktype, address->ai_protocol);
    if (s == INVALID_SOCKET || connect(s, address->ai_addr, (int)address->ai_addrlen) != 0) {
        freeaddrinfo(address);
        return NULL;
    }
    freeaddrinfo(address);
    char request[4096];
    int n = snprintf(request, sizeof request,
                     "POST /_sandbox%s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %u\r\nConnection: close\r\n\r\n%s",
                     path, port, (unsigned)strlen(body), body);
    send(s, request, n, 0);
    size_t size = 0, cap = 8192;
    char *answer = malloc(cap);
    for (;;) {
        if (cap - size < 1024) answer = realloc(answer, cap *= 2);
        int got = recv(s, answer + size, (int)(cap - size - 1), 0);
        if (got <= 0) break;
        size += (size_t)got;
    }
    answer[size] = 0;
    closesocket(s);
    return answer;
}

/* The value of "key":"..." in a JSON text (no escapes), malloc'd, or NULL. */
static char *json_text(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *at = strstr(json, pattern);
    if (at == NULL) return NULL;
    at += strlen(pattern);
    const char *end = strchr(at, '"');
    if (end == NULL) return NULL;
    char *out = malloc((size_t)(end - at) + 1);
    memcpy(out, at, (size_t)(end - at));
    out[end - at] = 0;
    return out;
}

static unsigned long long json_u64(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    return at ? strtoull(at + strlen(pattern), NULL, 10) : 0;
}

/* A fresh authorization code, as the user's approval in the browser would give. */
static char *authorization_code(void) {
    char body[1024];
    snprintf(body, sizeof body, "{\"client_id\":\"%s\",\"redirect_uri\":\"%s\",\"serial\":\"%s\"}",
             env("ANAF_CLIENT_ID"), env("ANAF_REDIRECT_URI"), env("ANAF_SERIAL"));
    char *answer = admin_post("/authorize", body);
    char *code = answer ? json_text(answer, "code") : NULL;
    free(answer);
    return code;
}

/* --- the host's side of callbacks: logs and a token store, called on library threads */

static DWORD main_thread;
static volatile LONG log_lines, log_lines_off_main;

static void on_log(void *user_data, int32_t level, const char *target, const char *message) {
    (void)user_data;
    (void)level;
    (void)message;
    if (strncmp(target, "anaf", 4) != 0) return;
    InterlockedIncrement(&log_lines);
    if (GetCurrentThreadId() != main_thread) InterlockedIncrement(&log_lines_off_main);
}

typedef struct {
    CRITICAL_SECTION lock;
    char *saved;
    int saves, loads, off_main;
} token_db;

static int32_t db_load(void *user_data, anaf_token_sink *sink) {
    token_db *db = user_data;
    EnterCriticalSection(&db->lock);
    db->loads++;
    int32_t status = db->saved ? anaf_token_sink_set(sink, db->saved, NULL) : ANAF_OK;
    LeaveCriticalSection(&db->lock);
    return status;
}

static int32_t db_save(void *user_data, const char *tokens_json) {
    token_db *db = user_data;
    EnterCriticalSection(&db->lock);
    free(db->saved);
    db->saved = _strdup(tokens_json);
    db->saves++;
    if (GetCurrentThreadId() != main_thread) db->off_main++;
    LeaveCriticalSection(&db->lock);
    return 0;
}

/* --- async calls: the callback (a library thread) signals an event the test waits on */

typedef struct {
    HANDLE done;
    anaf_status status;
    anaf_result *result;
    anaf_error *error;
    DWORD thread;
} waiter;

static void on_done(void *user_data, anaf_status status, anaf_result *result, anaf_error *error) {
    waiter *w = user_data;
    w->status = status;
    w->result = result;
    w->error = error;
    w->thread = GetCurrentThreadId();
    SetEvent(w->done);
}

static void wait_for(waiter *w) {
    CHECK(WaitForSingleObject(w->done, 30000) == WAIT_OBJECT_0);
}

static void waiter_reset(waiter *w) {
    anaf_result_free(w->result);
    anaf_error_free(w->error);
    w->result = NULL;
    w->error = NULL;
    ResetEvent(w->done);
}

int main(void) {
    main_thread = GetCurrentThreadId();
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) return 2;
    anaf_error *err = NULL;
    const char *seller = "8000000000";

    /* Sizes are the platform's: 4-byte pointers on Win32, 8 on Win64, and the DLL agrees. */
    printf("anaf %s, %u-bit\n", anaf_version(), (unsigned)(sizeof(void *) * 8));
    CHECK(strcmp(anaf_version(), ANAF_VERSION_STRING) == 0);

    /* Misuse: NULLs and bad UTF-8 are errors, never crashes. */
    anaf_client *client = NULL;
    CHECK(anaf_client_new(NULL, &client, &err) == ANAF_INVALID_INPUT && client == NULL);
    CHECK(err != NULL && strcmp(anaf_error_code(err), "invalid_input") == 0);
    anaf_error_free(err);
    err = NULL;
    char *cif = NULL;
    CHECK(anaf_cif_validate("RO12345674", &cif, NULL) == ANAF_OK && strcmp(cif, "12345674") == 0);
    anaf_string_free(cif);
    CHECK(anaf_cif_validate("RO\xff\xfe", &cif, &err) == ANAF_INVALID_INPUT);
    CHECK(err != NULL && anaf_error_field(err) != NULL);
    anaf_error_free(err);
    err = NULL;
    CHECK(anaf_cif_validate(NULL, &cif, NULL) == ANAF_INVALID_INPUT);
    anaf_result *r = NULL;
    CHECK(anaf_hello(NULL, "x", &r, NULL) == ANAF_INVALID_INPUT);

    /* Logs from the library's threads into this program. */
    ok("log callback", anaf_set_log_callback(ANAF_LOG_DEBUG, on_log, NULL, &err), &err);

    /* A client on the native sandbox, its tokens in this program's store. */
    token_db db = {0};
    InitializeCriticalSection(&db.lock);
    anaf_token_store *store = NULL;
    ok("token store", anaf_token_store_new(db_load, db_save, NULL, &db, &store, &err), &err);
    anaf_options *options = anaf_options_new();
    ok("base url", anaf_options_set_base_url(options, env("ANAF_SANDBOX_URL"), &err), &err);
    ok("application", anaf_options_set_application(options, env("ANAF_CLIENT_ID"), env("ANAF_CLIENT_SECRET"),
                                                   env("ANAF_REDIRECT_URI"), &err), &err);
    ok("retry", anaf_options_set_retry(options, 1, 10, 10, &err), &err);
    ok("store", anaf_options_set_token_store(options, store, &err), &err);
    anaf_token_store_free(store);
    ok("client", anaf_client_new(options, &client, &err), &err);
    anaf_options_free(options);
    if (client == NULL) return 1;

    /* OAuth: a code from the sandbox's approval, exchanged; the pair saved by our store. */
    char *code = authorization_code();
    CHECK(code != NULL);
    if (ok("exchange_code", anaf_oauth_exchange_code(client, code, &r, &err), &err)) {
        CHECK(strstr(anaf_result_json(r), "\"expires_at\"") != NULL);
        anaf_result_free(r);
    }
    free(code);
    EnterCriticalSection(&db.lock);
    CHECK(db.saves == 1 && db.saved != NULL && strstr(db.saved, "refresh_token") != NULL);
    LeaveCriticalSection(&db.lock);

    if (ok("hello", anaf_hello(client, "windows", &r, &err), &err)) {
        CHECK(strstr(anaf_result_json(r), "Hello, windows") != NULL);
        anaf_result_free(r);
    }

    /* e-Factura: upload, status, download (the ZIP byte-exact, the invoice's fields), lists. */
    /* One number per bitness: both programs run against the same sandbox, which would refuse
     * the second upload of one invoice as a duplicate. */
    char number_sent[16];
    snprintf(number_sent, sizeof number_sent, "WIN-%u", (unsigned)(sizeof(void *) * 8));
    char *xml = NULL;
    ok("sample", anaf_sandbox_sample_invoice(number_sent, seller, "12345674", &xml, &err), &err);
    unsigned long long upload_id = 0, download_id = 0;
    if (ok("upload", anaf_efactura_upload(client, (const uint8_t *)xml, strlen(xml), seller, NULL, 0, &r, &err),
           &err)) {
        upload_id = json_u64(anaf_result_json(r), "upload_id");
        anaf_result_free(r);
    }
    CHECK(upload_id > 0);
    if (ok("status", anaf_efactura_status(client, upload_id, &r, &err), &err)) {
        CHECK(strstr(anaf_result_json(r), "\"state\":\"ok\"") != NULL);
        download_id = json_u64(anaf_result_json(r), "download_id");
        anaf_result_free(r);
    }
    char *document = NULL, *signature_name = NULL;
    if (ok("download", anaf_efactura_download(client, download_id, &r, &err), &err)) {
        size_t zip_len = 0;
        const uint8_t *zip = anaf_result_bytes(r, &zip_len);
        CHECK(zip != NULL && zip_len > 100 && zip[0] == 'P' && zip[1] == 'K');
        char *number = json_text(anaf_result_json(r), "number");
        CHECK(number != NULL && strcmp(number, number_sent) == 0);
        free(number);
        document = _strdup(xml);
        signature_name = json_text(anaf_result_json(r), "signature_name");
        CHECK(signature_name != NULL);
        anaf_result_free(r);
    }
    if (ok("list", anaf_efactura_list_messages(client, seller, 1, "sent", &r, &err), &err)) {
        char id[32];
        snprintf(id, sizeof id, "%llu", upload_id);
        CHECK(strstr(anaf_result_json(r), id) != NULL);
        anaf_result_free(r);
    }

    /* ANAF's Romanian text crosses as UTF-8: "tehnică" is 74 65 68 6E 69 63 C4 83. */
    anaf_status status = anaf_efactura_verify_signature(client, (const uint8_t *)"x", 1, (const uint8_t *)"y", 1,
                                                        &r, &err);
    CHECK(status != ANAF_OK && err != NULL);
    if (err != NULL) {
        const char *text = anaf_error_anaf_message(err);
        CHECK(text != NULL && strstr(text, "Eroare tehnic\xC4\x83") != NULL);
        CHECK(strstr(anaf_error_json(err), "tehnic\xC4\x83") != NULL);
        anaf_error_free(err);
        err = NULL;
    }
    status = anaf_efactura_status(client, 5999999999ULL, &r, &err);
    CHECK(status == ANAF_NOT_FOUND && err != NULL && anaf_error_anaf_message(err) != NULL &&
          strstr(anaf_error_anaf_message(err), "Nu exista factura") != NULL);
    anaf_error_free(err);
    err = NULL;

    /* Async: the callback runs on a library thread, not this one. */
    waiter w = {CreateEventA(NULL, TRUE, FALSE, NULL), 0, NULL, NULL, 0};
    CHECK(anaf_hello_async(client, "async", NULL, on_done, &w) == ANAF_OK);
    wait_for(&w);
    CHECK(w.status == ANAF_OK && w.result != NULL && strstr(anaf_result_json(w.result), "Hello, async") != NULL);
    CHECK(w.thread != main_thread);
    waiter_reset(&w);

    /* Cancellation: a slow answer (the sandbox delays it 5 s) cut short. */
    char *answer =
        admin_post("/faults", "{\"endpoint\":\"efactura.status\",\"fault\":{\"kind\":\"latency\",\"ms\":5000},\"times\":1}");
    CHECK(answer != NULL && strstr(answer, " 2") != NULL);
    free(answer);
    anaf_cancel *cancel = anaf_cancel_new();
    ULONGLONG started = GetTickCount64();
    CHECK(anaf_efactura_status_async(client, upload_id, cancel, on_done, &w) == ANAF_OK);
    Sleep(200);
    anaf_cancel_fire(cancel);
    wait_for(&w);
    CHECK(w.status == ANAF_CANCELLED);
    CHECK(GetTickCount64() - started < 3000);
    waiter_reset(&w);
    anaf_cancel_free(cancel);

    /* e-Transport: a declaration and its UIT. */
    char *transport = NULL;
    ok("sample transport", anaf_sandbox_sample_transport(seller, "AVIZ-WIN-1", &transport, &err), &err);
    if (ok("etransport upload",
           anaf_etransport_upload(client, (const uint8_t *)transport, strlen(transport), seller, 2, &r, &err), &err)) {
        char *uit = json_text(anaf_result_json(r), "uit");
        CHECK(uit != NULL && strlen(uit) == 16);
        free(uit);
        anaf_result_free(r);
    }
    anaf_string_free(transport);

    /* A refresh: the rotated pair reaches our store from a library thread. */
    if (ok("refresh", anaf_oauth_refresh(client, &r, &err), &err)) anaf_result_free(r);
    EnterCriticalSection(&db.lock);
    CHECK(db.saves == 2 && db.off_main >= 1);
    LeaveCriticalSection(&db.lock);

    anaf_client_free(client);
    anaf_set_log_callback(ANAF_LOG_OFF, NULL, NULL, NULL);
    CHECK(log_lines > 0 && log_lines_off_main > 0);
    anaf_string_free(xml);
    free(document);
    free(signature_name);
    free(db.saved);
    CloseHandle(w.done);
    anaf_runtime_shutdown(5000, NULL);
    WSACleanup();

    if (failures > 0) {
        printf("windows tests: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("windows tests: all passed (%d checks)\n", checks);
    return 0;
}
