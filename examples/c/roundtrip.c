/*
 * The round trip from C against the embedded sandbox: log in (a code without a browser),
 * upload an invoice, follow its state, download the answer ZIP, list the messages.
 *
 *   cc -Wall -Wextra -Werror roundtrip.c -I crates/anaf-ffi/include -L target/release -lanaf
 *
 * Against ANAF itself, replace the sandbox lines with anaf_options_set_environment(options,
 * "test", ...), anaf_options_set_application(options, id, secret, redirect_uri, ...) and a
 * login (anaf_oauth_login_interactive).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anaf.h"

/* Prints the error (ANAF's Romanian text included) and stops. */
static void check(anaf_status status, anaf_error *error, const char *what) {
    if (status == ANAF_OK) return;
    fprintf(stderr, "%s failed (%s, HTTP %u): %s\n", what, anaf_error_code(error),
            anaf_error_http_status(error), anaf_error_message(error));
    if (anaf_error_anaf_message(error) != NULL)
        fprintf(stderr, "ANAF said: %s\n", anaf_error_anaf_message(error));
    anaf_error_free(error);
    exit(1);
}

/* The number after "key": in a result's JSON (use your JSON parser in real code). */
static unsigned long long number_at(const char *json, const char *key) {
    const char *at = strstr(json, key);
    return at ? strtoull(at + strlen(key), NULL, 10) : 0;
}

int main(void) {
    anaf_error *error = NULL;
    anaf_sandbox *sandbox = NULL;
    check(anaf_sandbox_start("{\"instant\": true}", &sandbox, &error), error, "sandbox");
    printf("sandbox at %s\n", anaf_sandbox_base_url(sandbox));

    /* README: C */
    anaf_options *options = anaf_options_new();
    check(anaf_sandbox_configure(sandbox, options, &error), error, "options");
    anaf_client *client = NULL;
    check(anaf_client_new(options, &client, &error), error, "client");
    anaf_options_free(options);

    char *code = NULL; /* what the browser's redirect carries after the certificate prompt */
    check(anaf_sandbox_authorize(sandbox, NULL, &code, &error), error, "authorize");
    anaf_result *login = NULL;
    check(anaf_oauth_exchange_code(client, code, &login, &error), error, "login");
    anaf_string_free(code);
    anaf_result_free(login);

    char *xml = NULL;
    check(anaf_sandbox_sample_invoice("F-2026-001", "8000000000", "12345674", &xml, &error), error,
          "invoice");
    anaf_result *receipt = NULL;
    anaf_status status = anaf_efactura_upload(client, (const uint8_t *)xml, strlen(xml),
                                              "8000000000", NULL, 0, &receipt, &error);
    check(status, error, "upload");
    unsigned long long upload_id = number_at(anaf_result_json(receipt), "\"upload_id\":");
    printf("uploaded: index %llu\n", upload_id);

    anaf_result *state = NULL;
    check(anaf_efactura_status(client, upload_id, &state, &error), error, "status");
    printf("state: %s\n", anaf_result_json(state));
    /* README: end */

    unsigned long long download_id = number_at(anaf_result_json(state), "\"download_id\":");
    anaf_result *archive = NULL;
    check(anaf_efactura_download(client, download_id, &archive, &error), error, "download");
    size_t zip_len = 0;
    const uint8_t *zip = anaf_result_bytes(archive, &zip_len);
    printf("answer ZIP: %zu bytes, starts with %c%c\n", zip_len, zip[0], zip[1]);

    anaf_result *messages = NULL;
    check(anaf_efactura_list_messages(client, "8000000000", 1, NULL, &messages, &error), error,
          "list");
    printf("messages: %.120s...\n", anaf_result_json(messages));

    anaf_result_free(messages);
    anaf_result_free(archive);
    anaf_result_free(state);
    anaf_result_free(receipt);
    anaf_string_free(xml);
    anaf_client_free(client);
    anaf_sandbox_free(sandbox);
    printf("c example: round trip done\n");
    return 0;
}
