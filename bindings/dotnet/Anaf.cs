// Anaf.cs: the C# binding of libanaf (the C ABI in crates/anaf-ffi/include/anaf.h).
//
// A thin layer: every method calls one anaf_* function, converts strings to and from UTF-8,
// turns an anaf_error into a typed exception and an anaf_result into an AnafResult. No URL,
// no ANAF protocol decision lives here. Targets netstandard2.0-level APIs (builds with mcs
// on Mono, csc on .NET Framework, or an SDK project); no NuGet package.
//
// Conventions of this binding:
//  * Strings cross as UTF-8, NUL-terminated, marshalled by hand (byte[] in, a manual
//    strlen + Encoding.UTF8 out) so the same code works on runtimes without LPUTF8Str.
//  * A required string argument that is null throws ArgumentNullException before the
//    library is called; optional ones (documented as "null: ...") are passed as NULL.
//  * Every handle is a SafeHandle: Dispose frees it once (a second Dispose does nothing) and
//    a call running on another thread keeps it alive until it returns.
//  * Callbacks (async completions, token store, token events, logs, login hooks) run on the
//    library's threads. The binding catches every .NET exception inside them; async results
//    are handed to the awaiting code on the thread pool, never on a library thread.
//  * No pointer to managed memory is given to the library as user_data: it gets an id into a
//    registry (the single static delegate per callback type is never collected), and the
//    entry goes when the call completes or the library releases it (anaf_release_fn).
//  * An ...Async call cancelled through its CancellationToken ends as a Canceled task; awaiting
//    it throws OperationCanceledException whose InnerException is the library's
//    CancelledException (with UploadOutcomeUnknown / UploadId for uploads).

using System;
using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Serialization.Json;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using System.Xml;
using System.Xml.Linq;

namespace Anaf
{
    // =========================================================================================
    // Native imports

    internal static class Native
    {
        private const string Lib = "anaf";
        private const CallingConvention Cdecl = CallingConvention.Cdecl;

        /// <summary>Runs before the first call into the library.</summary>
        static Native()
        {
            // A library thread that ran a .NET callback stays attached to the .NET runtime, and
            // Mono waits for such threads at exit: a program that made one async call would
            // never end. Stopping the library's threads when the process exits avoids that (and
            // is harmless elsewhere; a later call would start them again).
            try { AppDomain.CurrentDomain.ProcessExit += StopOnExit; }
            catch { /* best effort */ }
        }

        private static void StopOnExit(object sender, EventArgs e)
        {
            try
            {
                IntPtr error = IntPtr.Zero;
                anaf_runtime_shutdown(1000, ref error);
                if (error != IntPtr.Zero) anaf_error_free(error);
            }
            catch
            {
                // The process is ending.
            }
        }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void Callback(IntPtr userData, int status, IntPtr result, IntPtr error);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void TextCallback(IntPtr userData, IntPtr text);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void LogFn(IntPtr userData, int level, IntPtr target, IntPtr message);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TokenLoadFn(IntPtr userData, IntPtr sink);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TokenSaveFn(IntPtr userData, IntPtr tokensJson);

        /// <summary>anaf_token_clear_fn and anaf_token_lock_fn (same shape).</summary>
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate int TokenActionFn(IntPtr userData);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void TokenUnlockFn(IntPtr userData);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void TokenEventFn(IntPtr userData, IntPtr eventJson);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void ReleaseFn(IntPtr userData);

        // --- library, strings, errors, results, cancel, runtime, CIF
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_version();
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_string_free(IntPtr text);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_error_free(IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_error_status(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_error_code(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_error_message(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_error_anaf_message(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_error_field(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_error_hint(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern ushort anaf_error_http_status(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern long anaf_error_retry_after_ms(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern long anaf_error_limit(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_error_upload_outcome_unknown(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern ulong anaf_error_previous_upload_id(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern ulong anaf_error_upload_id(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_error_json(ErrorHandle error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_result_free(IntPtr result);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_result_json(ResultHandle result);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_result_bytes(ResultHandle result, out UIntPtr length);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_cancel_new();
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_cancel_fire(CancelHandle cancel);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_cancel_free(IntPtr cancel);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_runtime_configure(uint workerThreads, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_runtime_shutdown(ulong timeoutMs, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_cif_validate(byte[] text, ref IntPtr cif, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_set_log_callback(int maxLevel, LogFn callback, IntPtr userData, ref IntPtr error);

        // --- options
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_options_new();
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_options_free(IntPtr options);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_environment(OptionsHandle o, byte[] environment, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_base_url(OptionsHandle o, byte[] baseUrl, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_endpoints(OptionsHandle o, byte[] oauthUrl, byte[] apiUrl, byte[] publicUrl, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_application(OptionsHandle o, byte[] clientId, byte[] clientSecret, byte[] redirectUri, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_token_file(OptionsHandle o, byte[] path, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_requests_per_minute(OptionsHandle o, uint perMinute, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_retry(OptionsHandle o, uint maxAttempts, ulong initialDelayMs, ulong maxDelayMs, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_timeouts(OptionsHandle o, ulong requestTimeoutMs, ulong connectTimeoutMs, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_user_agent(OptionsHandle o, byte[] userAgent, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_proxy(OptionsHandle o, byte[] proxyUrl, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_add_root_certificate(OptionsHandle o, byte[] pem, UIntPtr pemLength, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_refresh_margin(OptionsHandle o, ulong marginMs, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_max_response_bytes(OptionsHandle o, ulong maxBytes, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_status_poll_budget(OptionsHandle o, uint polls, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_state_database(OptionsHandle o, byte[] database, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_database_tokens(OptionsHandle o, byte[] name, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_resend_after(OptionsHandle o, ulong resendAfterMs, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_daily_limit(OptionsHandle o, uint limit, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_token_store(OptionsHandle o, TokenStoreHandle store, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_options_set_token_event_callback(OptionsHandle o, TokenEventFn callback, ReleaseFn release, IntPtr userData, ref IntPtr error);

        // --- token store
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_token_sink_set(IntPtr sink, byte[] tokensJson, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_token_store_new(TokenLoadFn load, TokenSaveFn save, ReleaseFn release, IntPtr userData, ref IntPtr store, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_token_store_set_clear(TokenStoreHandle store, TokenActionFn clear, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_token_store_set_lock(TokenStoreHandle store, TokenActionFn lockFn, TokenUnlockFn unlockFn, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_token_store_set_sharing_key(TokenStoreHandle store, byte[] sharingKey, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_token_store_free(IntPtr store);

        // --- client
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_client_new(OptionsHandle o, ref IntPtr client, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_client_free(IntPtr client);

        // --- OAuth
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_authorization_url(ClientHandle c, byte[] state, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_exchange_code(ClientHandle c, byte[] code, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_exchange_code_async(ClientHandle c, byte[] code, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_complete_authorization(ClientHandle c, byte[] redirectedUrl, byte[] expectedState, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_complete_authorization_async(ClientHandle c, byte[] redirectedUrl, byte[] expectedState, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_refresh(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_refresh_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_revoke(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_revoke_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_token_status(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_token_status_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_tokens(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_tokens_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_set_tokens(ClientHandle c, byte[] tokensJson, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_set_tokens_async(ClientHandle c, byte[] tokensJson, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_save_tokens(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_save_tokens_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_clear_tokens(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_clear_tokens_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_login_options_new();
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_login_options_free(IntPtr options);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_login_options_set_open_browser(LoginOptionsHandle o, int openBrowser, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_login_options_set_timeout(LoginOptionsHandle o, ulong timeoutMs, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_login_options_set_url_callback(LoginOptionsHandle o, TextCallback cb, IntPtr userData, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_login_options_set_certificate_callback(LoginOptionsHandle o, TextCallback cb, IntPtr userData, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_login_interactive(ClientHandle c, IntPtr loginOptions, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_oauth_login_interactive_async(ClientHandle c, IntPtr loginOptions, IntPtr cancel, Callback cb, IntPtr userData);

        // --- TestOauth
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_hello(ClientHandle c, byte[] name, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_hello_async(ClientHandle c, byte[] name, IntPtr cancel, Callback cb, IntPtr userData);

        // --- e-Factura
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_upload(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_upload_async(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_submit(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_submit_async(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_resume_submissions(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_resume_submissions_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_submissions(ClientHandle c, byte[] cif, byte[] state, uint limit, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_submissions_async(ClientHandle c, byte[] cif, byte[] state, uint limit, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_quota_usage(ClientHandle c, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_quota_usage_async(ClientHandle c, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_upload_and_wait(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, ulong timeoutMs, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_upload_and_wait_async(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, ulong timeoutMs, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_upload_and_wait_polling(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, long timeoutMs, long firstPollMs, long maxIntervalMs, long maxPolls, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_upload_and_wait_polling_async(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, byte[] standard, uint flags, long timeoutMs, long firstPollMs, long maxIntervalMs, long maxPolls, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_status(ClientHandle c, ulong uploadId, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_status_async(ClientHandle c, ulong uploadId, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_download(ClientHandle c, ulong downloadId, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_download_async(ClientHandle c, ulong downloadId, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_open_archive(byte[] zip, UIntPtr zipLength, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_list_messages(ClientHandle c, byte[] cif, uint days, byte[] filter, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_list_messages_async(ClientHandle c, byte[] cif, uint days, byte[] filter, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_list_messages_page(ClientHandle c, byte[] cif, long startUnixMs, long endUnixMs, uint page, byte[] filter, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_list_messages_page_async(ClientHandle c, byte[] cif, long startUnixMs, long endUnixMs, uint page, byte[] filter, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_sync(ClientHandle c, byte[] cif, byte[] folder, byte[] filter, long sinceUnixMs, int pdf, TextCallback progress, IntPtr progressUserData, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_sync_async(ClientHandle c, byte[] cif, byte[] folder, byte[] filter, long sinceUnixMs, int pdf, TextCallback progress, IntPtr progressUserData, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_messages(ClientHandle c, byte[] cif, long startUnixMs, long endUnixMs, byte[] filter, ref IntPtr stream, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_message_stream_next(MessageStreamHandle s, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_message_stream_next_async(MessageStreamHandle s, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern long anaf_message_stream_effective_start(MessageStreamHandle s);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern long anaf_message_stream_effective_end(MessageStreamHandle s);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_message_stream_free(IntPtr stream);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_validate(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] kind, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_validate_async(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] kind, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_to_pdf(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] kind, int validate, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_to_pdf_async(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] kind, int validate, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_verify_signature(ClientHandle c, byte[] invoiceXml, UIntPtr invoiceLength, byte[] signatureXml, UIntPtr signatureLength, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_efactura_verify_signature_async(ClientHandle c, byte[] invoiceXml, UIntPtr invoiceLength, byte[] signatureXml, UIntPtr signatureLength, IntPtr cancel, Callback cb, IntPtr userData);

        // --- e-Transport
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_upload(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, uint version, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_upload_async(ClientHandle c, byte[] xml, UIntPtr xmlLength, byte[] cif, uint version, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_status(ClientHandle c, ulong uploadId, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_status_async(ClientHandle c, ulong uploadId, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_list(ClientHandle c, byte[] cif, uint days, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_list_async(ClientHandle c, byte[] cif, uint days, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_info(ClientHandle c, byte[] operatorCif, byte[] declarantCif, byte[] uit, byte[] reference, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_etransport_info_async(ClientHandle c, byte[] operatorCif, byte[] declarantCif, byte[] uit, byte[] reference, IntPtr cancel, Callback cb, IntPtr userData);

        // --- public registries
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_public_lookup_taxpayers(ClientHandle c, byte[] cifs, byte[] date, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_public_lookup_taxpayers_async(ClientHandle c, byte[] cifs, byte[] date, IntPtr cancel, Callback cb, IntPtr userData);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_public_lookup_efactura_register(ClientHandle c, byte[] cifs, byte[] date, ref IntPtr result, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_public_lookup_efactura_register_async(ClientHandle c, byte[] cifs, byte[] date, IntPtr cancel, Callback cb, IntPtr userData);

        // --- sandbox
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_start(byte[] optionsJson, ref IntPtr sandbox, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_sandbox_free(IntPtr sandbox);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern IntPtr anaf_sandbox_base_url(SandboxHandle s);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_info(SandboxHandle s, ref IntPtr json, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_configure(SandboxHandle s, OptionsHandle o, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_register_app(SandboxHandle s, byte[] specJson, ref IntPtr json, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_add_identity(SandboxHandle s, byte[] specJson, ref IntPtr json, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_set_company(SandboxHandle s, byte[] specJson, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_authorize(SandboxHandle s, byte[] requestJson, ref IntPtr code, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_inject_fault(SandboxHandle s, byte[] faultJson, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_sandbox_clear_faults(SandboxHandle s);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern void anaf_sandbox_advance_clock(SandboxHandle s, ulong milliseconds);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_uploads(SandboxHandle s, byte[] cif, ref IntPtr json, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_requests(SandboxHandle s, ref IntPtr json, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_seed_received_invoices(SandboxHandle s, byte[] requestJson, ref IntPtr json, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_sample_invoice(byte[] number, byte[] sellerCif, byte[] buyerCif, ref IntPtr xml, ref IntPtr error);
        [DllImport(Lib, CallingConvention = Cdecl)] internal static extern int anaf_sandbox_sample_transport(byte[] declarantCif, byte[] reference, ref IntPtr xml, ref IntPtr error);
    }

    // =========================================================================================
    // Handles: each frees its object with the matching anaf_*_free, exactly once.

    /// <summary>Base of the binding's handles: an owned pointer, freed once.</summary>
    internal abstract class AnafHandle : SafeHandle
    {
        /// <summary>Creates an empty (invalid) handle.</summary>
        protected AnafHandle() : base(IntPtr.Zero, true) { }

        /// <summary>True when the handle holds no object.</summary>
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        internal void Adopt(IntPtr pointer) { SetHandle(pointer); }
    }

    /// <summary>An <c>anaf_client *</c>, freed by anaf_client_free.</summary>
    internal sealed class ClientHandle : AnafHandle
    {
        /// <summary>Frees the client.</summary>
        protected override bool ReleaseHandle() { Native.anaf_client_free(handle); return true; }
    }

    /// <summary>An <c>anaf_options *</c>, freed by anaf_options_free.</summary>
    internal sealed class OptionsHandle : AnafHandle
    {
        /// <summary>Frees the options.</summary>
        protected override bool ReleaseHandle() { Native.anaf_options_free(handle); return true; }
    }

    /// <summary>An <c>anaf_error *</c>, freed by anaf_error_free.</summary>
    internal sealed class ErrorHandle : AnafHandle
    {
        internal ErrorHandle(IntPtr pointer) { Adopt(pointer); }
        /// <summary>Frees the error.</summary>
        protected override bool ReleaseHandle() { Native.anaf_error_free(handle); return true; }
    }

    /// <summary>An <c>anaf_result *</c>, freed by anaf_result_free.</summary>
    internal sealed class ResultHandle : AnafHandle
    {
        internal ResultHandle(IntPtr pointer) { Adopt(pointer); }
        /// <summary>Frees the result.</summary>
        protected override bool ReleaseHandle() { Native.anaf_result_free(handle); return true; }
    }

    /// <summary>An <c>anaf_cancel *</c>, freed by anaf_cancel_free.</summary>
    internal sealed class CancelHandle : AnafHandle
    {
        /// <summary>Frees the cancellation token.</summary>
        protected override bool ReleaseHandle() { Native.anaf_cancel_free(handle); return true; }
    }

    /// <summary>An <c>anaf_sandbox *</c>, stopped and freed by anaf_sandbox_free.</summary>
    internal sealed class SandboxHandle : AnafHandle
    {
        /// <summary>Stops and frees the sandbox.</summary>
        protected override bool ReleaseHandle() { Native.anaf_sandbox_free(handle); return true; }
    }

    /// <summary>An <c>anaf_message_stream *</c>, freed by anaf_message_stream_free.</summary>
    internal sealed class MessageStreamHandle : AnafHandle
    {
        /// <summary>Frees the stream.</summary>
        protected override bool ReleaseHandle() { Native.anaf_message_stream_free(handle); return true; }
    }

    /// <summary>An <c>anaf_token_store *</c>, freed by anaf_token_store_free.</summary>
    internal sealed class TokenStoreHandle : AnafHandle
    {
        /// <summary>Frees the store handle (options and clients it was given to keep working).</summary>
        protected override bool ReleaseHandle() { Native.anaf_token_store_free(handle); return true; }
    }

    /// <summary>An <c>anaf_login_options *</c>, freed by anaf_login_options_free.</summary>
    internal sealed class LoginOptionsHandle : AnafHandle
    {
        /// <summary>Frees the login options.</summary>
        protected override bool ReleaseHandle() { Native.anaf_login_options_free(handle); return true; }
    }

    // =========================================================================================
    // Marshalling helpers

    internal static class Utf8
    {
        /// <summary>A string as UTF-8 with a terminating NUL; null stays null (C's NULL).</summary>
        internal static byte[] Optional(string text, string name)
        {
            if (text == null) return null;
            if (text.IndexOf('\0') >= 0)
                throw new ArgumentException("the text contains a NUL character, which C strings cannot carry", name);
            var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>A required string: null throws ArgumentNullException before any native call.</summary>
        internal static byte[] Required(string text, string name)
        {
            if (text == null) throw new ArgumentNullException(name);
            return Optional(text, name);
        }

        /// <summary>Decodes a borrowed NUL-terminated UTF-8 string (NULL gives null).</summary>
        internal static string Read(IntPtr text)
        {
            if (text == IntPtr.Zero) return null;
            int length = 0;
            while (Marshal.ReadByte(text, length) != 0) length++;
            var bytes = new byte[length];
            Marshal.Copy(text, bytes, 0, length);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Decodes a string the library allocated and frees it with anaf_string_free.</summary>
        internal static string Take(IntPtr text)
        {
            try { return Read(text); }
            finally { Native.anaf_string_free(text); }
        }
    }

    internal delegate int BlockingCall(ref IntPtr result, ref IntPtr error);
    internal delegate int ErrorOnlyCall(ref IntPtr error);
    internal delegate int AsyncCall(IntPtr cancel, Native.Callback callback, IntPtr userData);

    /// <summary>Runs blocking and async calls and turns their outcome into .NET values.</summary>
    internal static class Call
    {
        internal static readonly UIntPtr Zero = UIntPtr.Zero;

        internal static UIntPtr Length(byte[] bytes) { return new UIntPtr((uint)bytes.Length); }

        internal static byte[] Bytes(byte[] bytes, string name)
        {
            if (bytes == null) throw new ArgumentNullException(name);
            return bytes;
        }

        internal static void Check(int status, IntPtr error)
        {
            if (status != AnafStatus.Ok) throw AnafException.Take(status, error);
            if (error != IntPtr.Zero) Native.anaf_error_free(error);
        }

        internal static void Run(ErrorOnlyCall call)
        {
            IntPtr error = IntPtr.Zero;
            int status = call(ref error);
            Check(status, error);
        }

        /// <summary>A blocking call with an anaf_result out-param; null when it wrote NULL.</summary>
        internal static AnafResult Run(BlockingCall call)
        {
            IntPtr result = IntPtr.Zero, error = IntPtr.Zero;
            int status = call(ref result, ref error);
            if (status != AnafStatus.Ok)
            {
                if (result != IntPtr.Zero) Native.anaf_result_free(result);
                throw AnafException.Take(status, error);
            }
            return AnafResult.Take(result);
        }

        /// <summary>A call writing a library-allocated string (freed here with anaf_string_free).</summary>
        internal static string RunText(BlockingCall call)
        {
            IntPtr text = IntPtr.Zero, error = IntPtr.Zero;
            int status = call(ref text, ref error);
            if (status != AnafStatus.Ok)
            {
                if (text != IntPtr.Zero) Native.anaf_string_free(text);
                throw AnafException.Take(status, error);
            }
            return Utf8.Take(text);
        }

        /// <summary>A call writing a handle to an out-param, adopted by <paramref name="handle"/>.</summary>
        internal static T RunHandle<T>(T handle, BlockingCall call) where T : AnafHandle
        {
            IntPtr pointer = IntPtr.Zero, error = IntPtr.Zero;
            int status = call(ref pointer, ref error);
            if (status != AnafStatus.Ok) throw AnafException.Take(status, error);
            handle.Adopt(pointer);
            return handle;
        }

        // --- async

        private sealed class Pending
        {
            internal readonly TaskCompletionSource<AnafResult> Completion =
                new TaskCompletionSource<AnafResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        // The calls waiting for their callback, by the id passed as user_data. The entry keeps
        // the TaskCompletionSource alive; the single static delegate below is never collected.
        private static readonly IdMap<Pending> Waiting = new IdMap<Pending>();
        private static readonly Native.Callback Completed = OnCompleted;

        private static void OnCompleted(IntPtr userData, int status, IntPtr result, IntPtr error)
        {
            // On a library thread: nothing may escape into native code.
            try
            {
                Pending pending = Waiting.Take(userData);
                if (pending == null)
                {
                    if (result != IntPtr.Zero) Native.anaf_result_free(result);
                    if (error != IntPtr.Zero) Native.anaf_error_free(error);
                    return;
                }
                try
                {
                    if (status == AnafStatus.Ok)
                    {
                        if (error != IntPtr.Zero) Native.anaf_error_free(error);
                        pending.Completion.TrySetResult(AnafResult.Take(result));
                    }
                    else
                    {
                        if (result != IntPtr.Zero) Native.anaf_result_free(result);
                        pending.Completion.TrySetException(AnafException.Take(status, error));
                    }
                }
                catch (Exception e)
                {
                    pending.Completion.TrySetException(e);
                }
            }
            catch
            {
                // Nowhere to report it; unwinding into the library is not allowed.
            }
        }

        private static void FireCancel(object state)
        {
            try { Native.anaf_cancel_fire((CancelHandle)state); }
            catch { /* the call already finished and its token was freed */ }
        }

        /// <summary>
        /// Starts an _async call and awaits its callback. Cancellation through <paramref name="ct"/>
        /// fires an anaf_cancel; the task then ends Canceled with an OperationCanceledException
        /// whose InnerException is the library's CancelledException.
        /// </summary>
        internal static async Task<AnafResult> RunAsync(AsyncCall start, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            var pending = new Pending();
            IntPtr id = Waiting.Add(pending);
            CancelHandle cancel = null;
            var registration = default(CancellationTokenRegistration);
            try
            {
                if (ct.CanBeCanceled)
                {
                    cancel = new CancelHandle();
                    cancel.Adopt(Native.anaf_cancel_new());
                }
                int status;
                try
                {
                    status = start(cancel == null ? IntPtr.Zero : cancel.DangerousGetHandle(), Completed, id);
                }
                catch
                {
                    Waiting.Take(id);
                    throw;
                }
                if (status != AnafStatus.Ok)
                {
                    // Not started, so no callback will come (if one did anyway, it took the entry).
                    if (Waiting.Take(id) != null) throw AnafException.Take(status, IntPtr.Zero);
                }
                if (cancel != null) registration = ct.Register(FireCancel, cancel);
                try
                {
                    return await pending.Completion.Task.ConfigureAwait(false);
                }
                catch (CancelledException e)
                {
                    if (ct.IsCancellationRequested) throw new OperationCanceledException(e.Message, e, ct);
                    throw;
                }
            }
            finally
            {
                registration.Dispose();
                if (cancel != null) cancel.Dispose();
            }
        }

        /// <summary>Runs <paramref name="body"/> with the raw pointer of an optional handle kept alive.</summary>
        internal static T WithOptional<T>(SafeHandle handle, Func<IntPtr, T> body)
        {
            if (handle == null) return body(IntPtr.Zero);
            bool added = false;
            try
            {
                handle.DangerousAddRef(ref added);
                return body(handle.DangerousGetHandle());
            }
            finally
            {
                if (added) handle.DangerousRelease();
            }
        }

        internal static long UnixMs(DateTimeOffset time) { return time.ToUnixTimeMilliseconds(); }

        /// <summary>An optional duration in ms for the C ABI: -1 (the default) when null.</summary>
        internal static long OptionalMs(TimeSpan? span, string name)
        {
            return span.HasValue ? (long)Ms(span.Value, name) : -1;
        }

        internal static ulong Ms(TimeSpan span, string name)
        {
            if (span < TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, "must not be negative");
            return (ulong)span.Ticks / TimeSpan.TicksPerMillisecond;
        }
    }

    // =========================================================================================
    // Status numbers

    /// <summary>The anaf_status numbers (ANAF_OK ... ANAF_INTERNAL). Fixed forever; a new kind gets a new number.</summary>
    public static class AnafStatus
    {
        /// <summary>Success.</summary>
        public const int Ok = 0;
        /// <summary>HTTP 401: log in again.</summary>
        public const int Unauthorized = 1;
        /// <summary>HTTP 403: no right on this service.</summary>
        public const int Forbidden = 2;
        /// <summary>HTTP 429: ANAF's per-minute budget is spent.</summary>
        public const int RateLimited = 3;
        /// <summary>One of ANAF's daily limits.</summary>
        public const int DailyLimit = 4;
        /// <summary>No SPV right on this CIF.</summary>
        public const int NoCifRight = 5;
        /// <summary>No SPV right on any CIF.</summary>
        public const int NoCifRights = 6;
        /// <summary>No such upload, download id or declaration.</summary>
        public const int NotFound = 7;
        /// <summary>Older than the 60 days ANAF keeps a message.</summary>
        public const int DownloadExpired = 8;
        /// <summary>ANAF already holds this invoice.</summary>
        public const int DuplicateInvoice = 9;
        /// <summary>ANAF's web firewall refused the request.</summary>
        public const int WafRejected = 10;
        /// <summary>A bad argument or a document ANAF refused.</summary>
        public const int InvalidInput = 11;
        /// <summary>The identity provider refused.</summary>
        public const int OAuth = 12;
        /// <summary>The request timed out.</summary>
        public const int Timeout = 13;
        /// <summary>The connection failed.</summary>
        public const int Transport = 14;
        /// <summary>ANAF answered something the client does not understand.</summary>
        public const int UnexpectedResponse = 15;
        /// <summary>The client's own budget for this operation is spent.</summary>
        public const int QuotaExhausted = 16;
        /// <summary>The call was cancelled.</summary>
        public const int Cancelled = 17;
        /// <summary>A failure of the library itself.</summary>
        public const int Internal = 18;
    }

    // =========================================================================================
    // Errors

    /// <summary>
    /// An error reported by the anaf library (an <c>anaf_error</c>). The subclass says the kind;
    /// an unknown future kind arrives as this base class with its <see cref="Status"/>.
    /// </summary>
    public class AnafException : Exception
    {
        /// <summary>The kind as its anaf_status number (see <see cref="AnafStatus"/>).</summary>
        public int Status { get; private set; }
        /// <summary>The kind as its stable code ("unauthorized", "daily_limit", ...).</summary>
        public string Code { get; private set; }
        /// <summary>ANAF's original text (Romanian, ANAF's spelling), or null when ANAF sent none.</summary>
        public string AnafMessage { get; private set; }
        /// <summary>The parameter or document part at fault ("cif", "xml", "thread", ...), or null.</summary>
        public string Field { get; private set; }
        /// <summary>What to do next, in English, or null.</summary>
        public string Hint { get; private set; }
        /// <summary>The HTTP status of ANAF's answer, or 0 when there was none.</summary>
        public int HttpStatus { get; private set; }
        /// <summary>How long ANAF asked to wait (HTTP 429), in milliseconds, or -1.</summary>
        public long RetryAfterMs { get; private set; }
        /// <summary>The daily limit that was reached, or -1.</summary>
        public long Limit { get; private set; }
        /// <summary>True when an upload may have reached ANAF without an answer: look for it before sending it again.</summary>
        public bool UploadOutcomeUnknown { get; private set; }
        /// <summary>The upload index of the invoice ANAF already holds (duplicate), or 0.</summary>
        public ulong PreviousUploadId { get; private set; }
        /// <summary>The upload index ANAF had already given when the call failed or was cancelled, or 0.</summary>
        public ulong UploadId { get; private set; }
        /// <summary>Every detail as the library's JSON object (anaf_error_json).</summary>
        public string Json { get; private set; }

        /// <summary>Makes an exception from the details of an anaf_error.</summary>
        internal AnafException(ErrorDetails details)
            : base(details.Message)
        {
            Status = details.Status;
            Code = details.Code;
            AnafMessage = details.AnafMessage;
            Field = details.Field;
            Hint = details.Hint;
            HttpStatus = details.HttpStatus;
            RetryAfterMs = details.RetryAfterMs;
            Limit = details.Limit;
            UploadOutcomeUnknown = details.UploadOutcomeUnknown;
            PreviousUploadId = details.PreviousUploadId;
            UploadId = details.UploadId;
            Json = details.Json;
        }

        /// <summary>The details of an error, read from an anaf_error.</summary>
        internal sealed class ErrorDetails
        {
            internal int Status;
            internal string Code, Message, AnafMessage, Field, Hint, Json;
            internal int HttpStatus;
            internal long RetryAfterMs = -1, Limit = -1;
            internal bool UploadOutcomeUnknown;
            internal ulong PreviousUploadId, UploadId;

            internal ErrorDetails() { }
        }

        private static readonly string[] Codes =
        {
            "ok", "unauthorized", "forbidden", "rate_limited", "daily_limit", "no_cif_right", "no_cif_rights",
            "not_found", "download_expired", "duplicate_invoice", "waf_rejected", "invalid_input", "oauth",
            "timeout", "transport", "unexpected_response", "quota_exhausted", "cancelled", "internal",
        };

        /// <summary>Reads an error (the status when <paramref name="error"/> is NULL), then frees it.</summary>
        internal static AnafException Take(int status, IntPtr error)
        {
            var d = new ErrorDetails { Status = status };
            if (error == IntPtr.Zero)
            {
                d.Code = status > 0 && status < Codes.Length ? Codes[status] : "unknown";
                d.Message = "the anaf call failed with status " + status.ToString(CultureInfo.InvariantCulture);
                d.Json = "{}";
            }
            else
            {
                using (var h = new ErrorHandle(error))
                {
                    d.Status = Native.anaf_error_status(h);
                    d.Code = Utf8.Read(Native.anaf_error_code(h));
                    d.Message = Utf8.Read(Native.anaf_error_message(h));
                    d.AnafMessage = Utf8.Read(Native.anaf_error_anaf_message(h));
                    d.Field = Utf8.Read(Native.anaf_error_field(h));
                    d.Hint = Utf8.Read(Native.anaf_error_hint(h));
                    d.HttpStatus = Native.anaf_error_http_status(h);
                    d.RetryAfterMs = Native.anaf_error_retry_after_ms(h);
                    d.Limit = Native.anaf_error_limit(h);
                    d.UploadOutcomeUnknown = Native.anaf_error_upload_outcome_unknown(h) != 0;
                    d.PreviousUploadId = Native.anaf_error_previous_upload_id(h);
                    d.UploadId = Native.anaf_error_upload_id(h);
                    d.Json = Utf8.Read(Native.anaf_error_json(h));
                }
            }
            switch (d.Status)
            {
                case AnafStatus.Unauthorized: return new UnauthorizedException(d);
                case AnafStatus.Forbidden: return new ForbiddenException(d);
                case AnafStatus.RateLimited: return new RateLimitedException(d);
                case AnafStatus.DailyLimit: return new DailyLimitException(d);
                case AnafStatus.NoCifRight: return new NoCifRightException(d);
                case AnafStatus.NoCifRights: return new NoCifRightsException(d);
                case AnafStatus.NotFound: return new NotFoundException(d);
                case AnafStatus.DownloadExpired: return new DownloadExpiredException(d);
                case AnafStatus.DuplicateInvoice: return new DuplicateInvoiceException(d);
                case AnafStatus.WafRejected: return new WafRejectedException(d);
                case AnafStatus.InvalidInput: return new InvalidInputException(d);
                case AnafStatus.OAuth: return new OAuthException(d);
                case AnafStatus.Timeout: return new AnafTimeoutException(d);
                case AnafStatus.Transport: return new TransportException(d);
                case AnafStatus.UnexpectedResponse: return new UnexpectedResponseException(d);
                case AnafStatus.QuotaExhausted: return new QuotaExhaustedException(d);
                case AnafStatus.Cancelled: return new CancelledException(d);
                case AnafStatus.Internal: return new InternalException(d);
                default: return new AnafException(d);
            }
        }
    }

    /// <summary>HTTP 401: the access token is missing, expired or revoked: log in again.</summary>
    public sealed class UnauthorizedException : AnafException { internal UnauthorizedException(ErrorDetails d) : base(d) { } }
    /// <summary>HTTP 403: no right on this service, or the application is not enrolled for it.</summary>
    public sealed class ForbiddenException : AnafException { internal ForbiddenException(ErrorDetails d) : base(d) { } }
    /// <summary>HTTP 429: ANAF's per-minute budget is spent; see <see cref="AnafException.RetryAfterMs"/>.</summary>
    public sealed class RateLimitedException : AnafException { internal RateLimitedException(ErrorDetails d) : base(d) { } }
    /// <summary>One of ANAF's daily limits; see <see cref="AnafException.Limit"/>.</summary>
    public sealed class DailyLimitException : AnafException { internal DailyLimitException(ErrorDetails d) : base(d) { } }
    /// <summary>The user has SPV rights, but not on this CIF.</summary>
    public sealed class NoCifRightException : AnafException { internal NoCifRightException(ErrorDetails d) : base(d) { } }
    /// <summary>The user has no SPV right on any CIF.</summary>
    public sealed class NoCifRightsException : AnafException { internal NoCifRightsException(ErrorDetails d) : base(d) { } }
    /// <summary>No such upload, download id or declaration.</summary>
    public sealed class NotFoundException : AnafException { internal NotFoundException(ErrorDetails d) : base(d) { } }
    /// <summary>The message is older than the 60 days ANAF keeps it.</summary>
    public sealed class DownloadExpiredException : AnafException { internal DownloadExpiredException(ErrorDetails d) : base(d) { } }
    /// <summary>ANAF already holds this invoice; see <see cref="AnafException.PreviousUploadId"/>.</summary>
    public sealed class DuplicateInvoiceException : AnafException { internal DuplicateInvoiceException(ErrorDetails d) : base(d) { } }
    /// <summary>ANAF's web firewall refused the request (its block page).</summary>
    public sealed class WafRejectedException : AnafException { internal WafRejectedException(ErrorDetails d) : base(d) { } }
    /// <summary>A bad argument (not UTF-8, out of range, ...) or a document ANAF refused; see <see cref="AnafException.Field"/>.</summary>
    public sealed class InvalidInputException : AnafException { internal InvalidInputException(ErrorDetails d) : base(d) { } }
    /// <summary>The identity provider refused (invalid_grant, access_denied, ...).</summary>
    public sealed class OAuthException : AnafException { internal OAuthException(ErrorDetails d) : base(d) { } }
    /// <summary>The request timed out (named so to stay clear of System.TimeoutException).</summary>
    public sealed class AnafTimeoutException : AnafException { internal AnafTimeoutException(ErrorDetails d) : base(d) { } }
    /// <summary>The connection failed (DNS, connect, reset, TLS).</summary>
    public sealed class TransportException : AnafException { internal TransportException(ErrorDetails d) : base(d) { } }
    /// <summary>ANAF answered something this client does not understand.</summary>
    public sealed class UnexpectedResponseException : AnafException { internal UnexpectedResponseException(ErrorDetails d) : base(d) { } }
    /// <summary>The client's own budget for this operation is spent.</summary>
    public sealed class QuotaExhaustedException : AnafException { internal QuotaExhaustedException(ErrorDetails d) : base(d) { } }
    /// <summary>
    /// The call was cancelled (anaf_cancel_fire). An ...Async call cancelled through its
    /// CancellationToken does not throw this directly: its task ends Canceled and awaiting it
    /// throws OperationCanceledException with this exception as InnerException.
    /// </summary>
    public sealed class CancelledException : AnafException { internal CancelledException(ErrorDetails d) : base(d) { } }
    /// <summary>A failure of the library itself (a bug it recovered from, file I/O, ...).</summary>
    public sealed class InternalException : AnafException { internal InternalException(ErrorDetails d) : base(d) { } }

    // =========================================================================================
    // Results and JSON

    /// <summary>A successful call's answer: its JSON (shape documented per call in anaf.h) and, for a ZIP or PDF, its bytes.</summary>
    public sealed class AnafResult
    {
        private JsonNode root;

        /// <summary>The result as JSON text.</summary>
        public string Json { get; private set; }

        /// <summary>A byte-exact copy of the result's bytes (the ZIP of a download, a PDF), or null.</summary>
        public byte[] Bytes { get; private set; }

        /// <summary>Makes a result from JSON text (and optional bytes).</summary>
        public AnafResult(string json, byte[] bytes)
        {
            if (json == null) throw new ArgumentNullException("json");
            Json = json;
            Bytes = bytes;
        }

        /// <summary>The JSON, parsed (once, on first use).</summary>
        public JsonNode Root
        {
            get
            {
                if (root == null) root = JsonNode.Parse(Json);
                return root;
            }
        }

        /// <summary>A member of the root object, or null when absent: <c>result["upload_id"].AsUInt64()</c>.</summary>
        public JsonNode this[string key] { get { return Root[key]; } }

        /// <summary>A root member's text (see <see cref="JsonNode.GetString"/>), or null when absent or null.</summary>
        public string GetString(string key) { return Root.GetString(key); }

        /// <summary>The JSON text.</summary>
        public override string ToString() { return Json; }

        /// <summary>Copies a library result into .NET memory and frees it; NULL gives null.</summary>
        internal static AnafResult Take(IntPtr result)
        {
            if (result == IntPtr.Zero) return null;
            using (var h = new ResultHandle(result))
            {
                string json = Utf8.Read(Native.anaf_result_json(h));
                UIntPtr length;
                IntPtr data = Native.anaf_result_bytes(h, out length);
                byte[] bytes = null;
                if (data != IntPtr.Zero)
                {
                    bytes = new byte[checked((int)length.ToUInt64())];
                    Marshal.Copy(data, bytes, 0, bytes.Length);
                }
                return new AnafResult(json, bytes);
            }
        }
    }

    /// <summary>
    /// A read-only view of a JSON value. netstandard2.0 has no JSON document type
    /// (System.Text.Json is not part of it), so this wraps the XML form that
    /// DataContract's JsonReaderWriterFactory reads JSON into: no parser of our own.
    /// </summary>
    public sealed class JsonNode
    {
        private static readonly XNamespace ItemNs = "item";
        private readonly XElement element;

        private JsonNode(XElement element) { this.element = element; }

        /// <summary>Parses JSON text (UTF-8 safe; numbers keep their exact text).</summary>
        public static JsonNode Parse(string json)
        {
            if (json == null) throw new ArgumentNullException("json");
            var bytes = Encoding.UTF8.GetBytes(json);
            using (var reader = JsonReaderWriterFactory.CreateJsonReader(bytes, XmlDictionaryReaderQuotas.Max))
            {
                return new JsonNode(XElement.Load(reader));
            }
        }

        /// <summary>"object", "array", "string", "number", "boolean" or "null".</summary>
        public string Type
        {
            get
            {
                var type = element.Attribute("type");
                return type == null ? "string" : type.Value;
            }
        }

        /// <summary>True for JSON null.</summary>
        public bool IsNull { get { return Type == "null"; } }

        private static string KeyOf(XElement e)
        {
            if (e.Name.Namespace == ItemNs && e.Name.LocalName == "item")
            {
                var key = e.Attribute("item");
                if (key != null) return key.Value;
            }
            return e.Name.LocalName;
        }

        /// <summary>An object's member, or null when absent (or when this is not an object).</summary>
        public JsonNode this[string key]
        {
            get
            {
                if (Type != "object") return null;
                foreach (var child in element.Elements())
                    if (KeyOf(child) == key) return new JsonNode(child);
                return null;
            }
        }

        /// <summary>An array's element, or null when out of range (or when this is not an array).</summary>
        public JsonNode this[int index]
        {
            get
            {
                if (Type != "array" || index < 0) return null;
                int i = 0;
                foreach (var child in element.Elements())
                    if (i++ == index) return new JsonNode(child);
                return null;
            }
        }

        /// <summary>The number of array elements or object members (0 for other values).</summary>
        public int Count
        {
            get
            {
                var type = Type;
                if (type != "array" && type != "object") return 0;
                int n = 0;
                foreach (var child in element.Elements()) n++;
                return n;
            }
        }

        /// <summary>An array's elements, or an object's values, in order.</summary>
        public IEnumerable<JsonNode> Items
        {
            get
            {
                var type = Type;
                if (type != "array" && type != "object") yield break;
                foreach (var child in element.Elements()) yield return new JsonNode(child);
            }
        }

        /// <summary>An object's keys, in order.</summary>
        public IEnumerable<string> Keys
        {
            get
            {
                if (Type != "object") yield break;
                foreach (var child in element.Elements()) yield return KeyOf(child);
            }
        }

        /// <summary>A string's text, a number's or boolean's literal text; null for JSON null.</summary>
        public string AsString()
        {
            var type = Type;
            if (type == "null") return null;
            if (type == "object" || type == "array")
                throw new InvalidOperationException("a JSON " + type + " has no text value");
            return element.Value;
        }

        /// <summary>The value as a signed 64-bit integer.</summary>
        public long AsInt64() { return long.Parse(Scalar(), NumberStyles.Integer, CultureInfo.InvariantCulture); }

        /// <summary>The value as an unsigned 64-bit integer (upload and download ids).</summary>
        public ulong AsUInt64() { return ulong.Parse(Scalar(), NumberStyles.Integer, CultureInfo.InvariantCulture); }

        /// <summary>The value as a double.</summary>
        public double AsDouble() { return double.Parse(Scalar(), NumberStyles.Float, CultureInfo.InvariantCulture); }

        /// <summary>The value of a JSON boolean.</summary>
        public bool AsBoolean()
        {
            if (Type != "boolean") throw new InvalidOperationException("not a JSON boolean but " + Type);
            return element.Value == "true";
        }

        private string Scalar()
        {
            var text = AsString();
            if (text == null) throw new InvalidOperationException("the JSON value is null");
            return text;
        }

        /// <summary>A member's text (<see cref="AsString"/>), or null when absent or null.</summary>
        public string GetString(string key)
        {
            var node = this[key];
            return node == null ? null : node.AsString();
        }

        /// <summary>The value's text for scalars; the element XML for objects and arrays (for debugging).</summary>
        public override string ToString()
        {
            var type = Type;
            return type == "object" || type == "array" ? element.ToString() : (AsString() ?? "null");
        }
    }

    // =========================================================================================
    // Library-wide functions

    /// <summary>Log levels, most severe first (ANAF_LOG_*).</summary>
    public enum AnafLogLevel
    {
        /// <summary>No logs.</summary>
        Off = 0,
        /// <summary>Errors.</summary>
        Error = 1,
        /// <summary>Warnings and more severe.</summary>
        Warn = 2,
        /// <summary>Information and more severe.</summary>
        Info = 3,
        /// <summary>Debugging detail and more severe.</summary>
        Debug = 4,
        /// <summary>Everything.</summary>
        Trace = 5,
    }

    /// <summary>Process-wide functions of the library: version, runtime, logging, CIF check.</summary>
    public static class AnafLibrary
    {
        /// <summary>The version of anaf.h this binding was written against.</summary>
        public const string BindingVersion = "0.1.0";

        private static readonly Native.LogFn LogTrampoline = OnLog;
        private static volatile Action<AnafLogLevel, string, string> logHandler;

        /// <summary>The loaded library's version (anaf_version), e.g. "0.1.0".</summary>
        public static string Version { get { return Utf8.Read(Native.anaf_version()); } }

        /// <summary>How many threads run the library's I/O; call before the first I/O call.</summary>
        public static void ConfigureRuntime(uint workerThreads)
        {
            Call.Run((ref IntPtr e) => Native.anaf_runtime_configure(workerThreads, ref e));
        }

        /// <summary>Stops the library's threads, waiting at most <paramref name="timeout"/> for calls in flight.</summary>
        public static void ShutdownRuntime(TimeSpan timeout)
        {
            ulong ms = Call.Ms(timeout, "timeout");
            Call.Run((ref IntPtr e) => Native.anaf_runtime_shutdown(ms, ref e));
        }

        /// <summary>Checks a CIF with its check digit and returns it normalised (digits only); InvalidInputException otherwise.</summary>
        public static string ValidateCif(string text)
        {
            var t = Utf8.Required(text, "text");
            return Call.RunText((ref IntPtr cif, ref IntPtr e) => Native.anaf_cif_validate(t, ref cif, ref e));
        }

        /// <summary>
        /// Sends the library's logs at <paramref name="maxLevel"/> and more severe to
        /// <paramref name="handler"/>(level, target, message), on library threads, possibly
        /// several at once. Process-wide; null or Off stops. Exceptions of the handler are ignored.
        /// The handler must not call SetLogCallback itself.
        /// </summary>
        public static void SetLogCallback(AnafLogLevel maxLevel, Action<AnafLogLevel, string, string> handler)
        {
            bool on = handler != null && maxLevel != AnafLogLevel.Off;
            if (on) logHandler = handler;
            Call.Run((ref IntPtr e) => Native.anaf_set_log_callback(on ? (int)maxLevel : 0, on ? LogTrampoline : null, IntPtr.Zero, ref e));
            if (!on) logHandler = null;
        }

        private static void OnLog(IntPtr userData, int level, IntPtr target, IntPtr message)
        {
            try
            {
                var handler = logHandler;
                if (handler != null) handler((AnafLogLevel)level, Utf8.Read(target), Utf8.Read(message));
            }
            catch
            {
                // A log handler's exception must not unwind into the library.
            }
        }
    }

    // =========================================================================================
    // Token store and token events

    /// <summary>
    /// Keeps the client's tokens where the application keeps its data, through delegates
    /// (anaf_token_store_new). The delegates run on library threads; they must be quick and
    /// must not call blocking anaf methods. An exception thrown by one counts as a failure
    /// (the library then retries saving later and reports "save_failed" as a token event).
    /// The delegates stay reachable until the library releases the store: after this object
    /// is disposed and every options object and client given it is disposed and done.
    /// </summary>
    public sealed class TokenStore : IDisposable
    {
        private sealed class Callbacks
        {
            internal Func<string> Load;
            internal Action<string> Save;
            internal Action Clear, Lock, Unlock;
        }

        private static readonly Native.TokenLoadFn LoadTrampoline = OnLoad;
        private static readonly Native.TokenSaveFn SaveTrampoline = OnSave;
        private static readonly Native.TokenActionFn ClearTrampoline = OnClear;
        private static readonly Native.TokenActionFn LockTrampoline = OnLock;
        private static readonly Native.TokenUnlockFn UnlockTrampoline = OnUnlock;

        private readonly Callbacks callbacks;
        internal readonly TokenStoreHandle Handle;

        /// <summary>
        /// A store from <paramref name="load"/> (returns the JSON saved last, or null when there is
        /// none) and <paramref name="save"/> (keeps the JSON as it is: it is secret).
        /// </summary>
        public TokenStore(Func<string> load, Action<string> save)
        {
            if (load == null) throw new ArgumentNullException("load");
            if (save == null) throw new ArgumentNullException("save");
            callbacks = new Callbacks { Load = load, Save = save };
            IntPtr id = Registry.Add(callbacks);
            try
            {
                Handle = Call.RunHandle(new TokenStoreHandle(), (ref IntPtr s, ref IntPtr e) =>
                    Native.anaf_token_store_new(LoadTrampoline, SaveTrampoline, Registry.Release, id, ref s, ref e));
            }
            catch
            {
                Registry.Remove(id); // not made: the library will not release it
                throw;
            }
        }

        /// <summary>Adds the delete callback (called on ClearTokens and Revoke). Call before giving the store to options.</summary>
        public TokenStore SetClear(Action clear)
        {
            callbacks.Clear = clear;
            Call.Run((ref IntPtr e) => Native.anaf_token_store_set_clear(Handle, clear == null ? null : ClearTrampoline, ref e));
            return this;
        }

        /// <summary>Adds a lock across processes taken around each refresh (both or neither). Call before giving the store to options.</summary>
        public TokenStore SetLock(Action takeLock, Action releaseLock)
        {
            if ((takeLock == null) != (releaseLock == null))
                throw new ArgumentException("give both lock delegates, or neither");
            callbacks.Lock = takeLock;
            callbacks.Unlock = releaseLock;
            Call.Run((ref IntPtr e) => Native.anaf_token_store_set_lock(Handle,
                takeLock == null ? null : LockTrampoline, releaseLock == null ? null : UnlockTrampoline, ref e));
            return this;
        }

        /// <summary>Names the storage (e.g. "erp-db:company-42") so every client of this process using it shares one token manager; null removes it.</summary>
        public TokenStore SetSharingKey(string sharingKey)
        {
            var key = Utf8.Optional(sharingKey, "sharingKey");
            Call.Run((ref IntPtr e) => Native.anaf_token_store_set_sharing_key(Handle, key, ref e));
            return this;
        }

        /// <summary>Frees the store handle; options and clients it was given to keep working.</summary>
        public void Dispose() { Handle.Dispose(); }

        private static Callbacks Find(IntPtr userData) { return Registry.Find<Callbacks>(userData); }

        private static int OnLoad(IntPtr userData, IntPtr sink)
        {
            try
            {
                var c = Find(userData);
                if (c == null) return 1;
                var json = c.Load();
                if (json == null) return 0;
                var bytes = Utf8.Optional(json, "json");
                IntPtr error = IntPtr.Zero;
                int status = Native.anaf_token_sink_set(sink, bytes, ref error);
                if (error != IntPtr.Zero) Native.anaf_error_free(error);
                return status == AnafStatus.Ok ? 0 : 1;
            }
            catch
            {
                return 1;
            }
        }

        private static int OnSave(IntPtr userData, IntPtr tokensJson)
        {
            try
            {
                var c = Find(userData);
                if (c == null) return 1;
                c.Save(Utf8.Read(tokensJson));
                return 0;
            }
            catch
            {
                return 1;
            }
        }

        private static int OnClear(IntPtr userData)
        {
            try
            {
                var c = Find(userData);
                if (c == null || c.Clear == null) return 1;
                c.Clear();
                return 0;
            }
            catch
            {
                return 1;
            }
        }

        private static int OnLock(IntPtr userData)
        {
            try
            {
                var c = Find(userData);
                if (c == null || c.Lock == null) return 1;
                c.Lock();
                return 0;
            }
            catch
            {
                return 1;
            }
        }

        private static void OnUnlock(IntPtr userData)
        {
            try
            {
                var c = Find(userData);
                if (c != null && c.Unlock != null) c.Unlock();
            }
            catch
            {
                // Nothing to report it to.
            }
        }
    }

    /// <summary>
    /// Keeps .NET objects (delegates) reachable by an id passed to the library as user_data,
    /// so no GCHandle or pointer to managed memory crosses the boundary. An entry goes when the
    /// library calls <see cref="Release"/> (anaf_release_fn) for it; entries of calls that take
    /// no release function stay for the rest of the process.
    /// </summary>
    internal static class Registry
    {
        private static readonly IdMap<object> Entries = new IdMap<object>();

        /// <summary>The anaf_release_fn given with registered user_data: forgets the entry.</summary>
        internal static readonly Native.ReleaseFn Release = OnRelease;

        internal static IntPtr Add(object value) { return Entries.Add(value); }

        internal static T Find<T>(IntPtr userData) where T : class { return Entries.Find(userData) as T; }

        internal static void Remove(IntPtr userData) { Entries.Take(userData); }

        /// <summary>How many entries are kept (for tests of the release contract).</summary>
        internal static int Count { get { return Entries.Count; } }

        private static void OnRelease(IntPtr userData)
        {
            try { Remove(userData); }
            catch { /* must not unwind into the library */ }
        }
    }

    /// <summary>Objects by small positive ids that fit a pointer on 32-bit processes too.</summary>
    internal sealed class IdMap<T> where T : class
    {
        private readonly ConcurrentDictionary<int, T> entries = new ConcurrentDictionary<int, T>();
        private int next;

        internal IntPtr Add(T value)
        {
            while (true)
            {
                int id = Interlocked.Increment(ref next) & int.MaxValue;
                if (id != 0 && entries.TryAdd(id, value)) return new IntPtr(id);
            }
        }

        internal T Find(IntPtr key)
        {
            T value;
            return entries.TryGetValue(Key(key), out value) ? value : null;
        }

        internal T Take(IntPtr key)
        {
            T value;
            return entries.TryRemove(Key(key), out value) ? value : null;
        }

        internal int Count { get { return entries.Count; } }

        private static int Key(IntPtr key)
        {
            long value = key.ToInt64();
            return value > 0 && value <= int.MaxValue ? (int)value : 0;
        }
    }

    // =========================================================================================
    // Options and login options

    /// <summary>How <c>UploadAndWait</c> polls the state; a null property keeps the default.</summary>
    public sealed class WaitOptions
    {
        /// <summary>How long to wait in all (default 600 s); then the state is returned as it is.</summary>
        public TimeSpan? Timeout { get; set; }
        /// <summary>Before the first poll (default 2 s).</summary>
        public TimeSpan? FirstPoll { get; set; }
        /// <summary>The longest pause as polls back off (default 60 s).</summary>
        public TimeSpan? MaxInterval { get; set; }
        /// <summary>At most this many polls (default: the client's budget).</summary>
        public int? MaxPolls { get; set; }
    }

    /// <summary>Flags of an e-Factura upload (ANAF_UPLOAD_*); combine with |.</summary>
    [Flags]
    public enum UploadFlags : uint
    {
        /// <summary>No flag.</summary>
        None = 0,
        /// <summary>The buyer is outside Romania (extern=DA).</summary>
        External = 1,
        /// <summary>Self-billing: the buyer issues the invoice (autofactura=DA).</summary>
        SelfBilled = 2,
        /// <summary>Issued by an enforcement body on the seller's behalf (executare=DA).</summary>
        Enforcement = 4,
        /// <summary>The buyer is a consumer (B2C endpoint).</summary>
        B2C = 8,
    }

    /// <summary>
    /// How a client is made (anaf_options): environment, URLs, application, token store,
    /// limits. Each setter calls the library at once (a refused value throws) and returns
    /// this options object, so calls chain. A client copies the options when it is made.
    /// </summary>
    public sealed class ClientOptions : IDisposable
    {
        private static readonly Native.TokenEventFn EventTrampoline = OnTokenEvent;

        internal readonly OptionsHandle Handle;

        /// <summary>Options with the defaults: the "test" environment, ANAF's hosts, tokens in memory.</summary>
        public ClientOptions()
        {
            Handle = new OptionsHandle();
            Handle.Adopt(Native.anaf_options_new());
        }

        private ClientOptions Set(ErrorOnlyCall call)
        {
            Call.Run(call);
            return this;
        }

        /// <summary>"test" (ANAF's test API) or "prod".</summary>
        public ClientOptions SetEnvironment(string environment)
        {
            var v = Utf8.Required(environment, "environment");
            return Set((ref IntPtr e) => Native.anaf_options_set_environment(Handle, v, ref e));
        }

        /// <summary>One base URL for logincert, api and webservicesp (a sandbox, a proxy); plain HTTP only for loopback.</summary>
        public ClientOptions SetBaseUrl(string baseUrl)
        {
            var v = Utf8.Required(baseUrl, "baseUrl");
            return Set((ref IntPtr e) => Native.anaf_options_set_base_url(Handle, v, ref e));
        }

        /// <summary>The identity provider, API and public-services base URLs separately.</summary>
        public ClientOptions SetEndpoints(string oauthUrl, string apiUrl, string publicUrl)
        {
            var o = Utf8.Required(oauthUrl, "oauthUrl");
            var a = Utf8.Required(apiUrl, "apiUrl");
            var p = Utf8.Required(publicUrl, "publicUrl");
            return Set((ref IntPtr e) => Native.anaf_options_set_endpoints(Handle, o, a, p, ref e));
        }

        /// <summary>The application registered in ANAF's portal (the secret never appears in logs or errors).</summary>
        public ClientOptions SetApplication(string clientId, string clientSecret, string redirectUri)
        {
            var i = Utf8.Required(clientId, "clientId");
            var s = Utf8.Required(clientSecret, "clientSecret");
            var r = Utf8.Required(redirectUri, "redirectUri");
            return Set((ref IntPtr e) => Native.anaf_options_set_application(Handle, i, s, r, ref e));
        }

        /// <summary>Keeps the tokens in a file (owner-only, replaced atomically, locked during a refresh).</summary>
        public ClientOptions SetTokenFile(string path)
        {
            var v = Utf8.Required(path, "path");
            return Set((ref IntPtr e) => Native.anaf_options_set_token_file(Handle, v, ref e));
        }

        /// <summary>Keeps the tokens through <paramref name="store"/>'s delegates; clients made from these options share it.</summary>
        public ClientOptions SetTokenStore(TokenStore store)
        {
            if (store == null) throw new ArgumentNullException("store");
            return Set((ref IntPtr e) => Native.anaf_options_set_token_store(Handle, store.Handle, ref e));
        }

        /// <summary>
        /// Calls <paramref name="onEvent"/> with every token event as JSON without secrets
        /// (<c>{"event": "changed" | "saved" | "save_failed" | "login_required" | "cleared", ...}</c>),
        /// in order, on a library thread: it must be quick and must not call blocking anaf methods.
        /// Its exceptions are ignored. Null removes it. Clients made afterwards get it; the delegate
        /// stays reachable until the library releases it (the options and those clients disposed).
        /// </summary>
        public ClientOptions SetTokenEventCallback(Action<string> onEvent)
        {
            if (onEvent == null)
                return Set((ref IntPtr e) => Native.anaf_options_set_token_event_callback(Handle, null, null, IntPtr.Zero, ref e));
            IntPtr id = Registry.Add(onEvent);
            try
            {
                return Set((ref IntPtr e) => Native.anaf_options_set_token_event_callback(Handle, EventTrampoline, Registry.Release, id, ref e));
            }
            catch
            {
                Registry.Remove(id); // refused: released already or never taken
                throw;
            }
        }

        private static void OnTokenEvent(IntPtr userData, IntPtr eventJson)
        {
            try
            {
                var handler = Registry.Find<Action<string>>(userData);
                if (handler != null) handler(Utf8.Read(eventJson));
            }
            catch
            {
                // An event handler's exception must not unwind into the library.
            }
        }

        /// <summary>ANAF's per-minute budget the client keeps to (0: no limit of its own).</summary>
        public ClientOptions SetRequestsPerMinute(uint requestsPerMinute)
        {
            return Set((ref IntPtr e) => Native.anaf_options_set_requests_per_minute(Handle, requestsPerMinute, ref e));
        }

        /// <summary>Retries of idempotent calls (uploads never): attempts in all, backoff doubling up to a maximum.</summary>
        public ClientOptions SetRetry(uint maxAttempts, TimeSpan initialDelay, TimeSpan maxDelay)
        {
            ulong i = Call.Ms(initialDelay, "initialDelay"), m = Call.Ms(maxDelay, "maxDelay");
            return Set((ref IntPtr e) => Native.anaf_options_set_retry(Handle, maxAttempts, i, m, ref e));
        }

        /// <summary>The time limit of one request and of connecting (TimeSpan.Zero keeps the default).</summary>
        public ClientOptions SetTimeouts(TimeSpan request, TimeSpan connect)
        {
            ulong r = Call.Ms(request, "request"), c = Call.Ms(connect, "connect");
            return Set((ref IntPtr e) => Native.anaf_options_set_timeouts(Handle, r, c, ref e));
        }

        /// <summary>The User-Agent header.</summary>
        public ClientOptions SetUserAgent(string userAgent)
        {
            var v = Utf8.Required(userAgent, "userAgent");
            return Set((ref IntPtr e) => Native.anaf_options_set_user_agent(Handle, v, ref e));
        }

        /// <summary>An HTTP(S) proxy URL for every request.</summary>
        public ClientOptions SetProxy(string proxyUrl)
        {
            var v = Utf8.Required(proxyUrl, "proxyUrl");
            return Set((ref IntPtr e) => Native.anaf_options_set_proxy(Handle, v, ref e));
        }

        /// <summary>Trusts one more root certificate (PEM bytes).</summary>
        public ClientOptions AddRootCertificate(byte[] pem)
        {
            var v = Call.Bytes(pem, "pem");
            return Set((ref IntPtr e) => Native.anaf_options_add_root_certificate(Handle, v, Call.Length(v), ref e));
        }

        /// <summary>How long before expiry the access token is refreshed.</summary>
        public ClientOptions SetRefreshMargin(TimeSpan margin)
        {
            ulong m = Call.Ms(margin, "margin");
            return Set((ref IntPtr e) => Native.anaf_options_set_refresh_margin(Handle, m, ref e));
        }

        /// <summary>The largest answer accepted, in bytes.</summary>
        public ClientOptions SetMaxResponseBytes(ulong maxBytes)
        {
            return Set((ref IntPtr e) => Native.anaf_options_set_max_response_bytes(Handle, maxBytes, ref e));
        }

        /// <summary>How many status polls UploadAndWait may spend on one upload.</summary>
        public ClientOptions SetStatusPollBudget(uint polls)
        {
            return Set((ref IntPtr e) => Native.anaf_options_set_status_poll_budget(Handle, polls, ref e));
        }

        /// <summary>
        /// The state database: the submission journal of <c>EFactura.Submit</c> and the quota ledger
        /// that keeps every call under ANAF's daily limits, shared by every process and machine that
        /// opens it: a SQLite file path, or <c>postgres://user:password@host/database</c>. Opened now.
        /// </summary>
        public ClientOptions SetStateDatabase(string database)
        {
            var d = Utf8.Required(database, "database");
            return Set((ref IntPtr e) => Native.anaf_options_set_state_database(Handle, d, ref e));
        }

        /// <summary>
        /// Keeps the tokens in the state database (<see cref="SetStateDatabase"/>, set first) under
        /// <paramref name="name"/>: one login shared by every process and machine using that database,
        /// refreshed by one of them at a time. Instead of a token file or a token store.
        /// </summary>
        public ClientOptions SetDatabaseTokens(string name)
        {
            var n = Utf8.Required(name, "name");
            return Set((ref IntPtr e) => Native.anaf_options_set_database_tokens(Handle, n, ref e));
        }

        /// <summary>How long after an upload whose answer was lost Submit looks for it at ANAF before sending it again (default 30 minutes).</summary>
        public ClientOptions SetResendAfter(TimeSpan wait)
        {
            ulong ms = Call.Ms(wait, "wait");
            return Set((ref IntPtr e) => Native.anaf_options_set_resend_after(Handle, ms, ref e));
        }

        /// <summary>One daily limit for every counted call (0: ANAF's limits less 5%, the default).</summary>
        public ClientOptions SetDailyLimit(uint limit)
        {
            return Set((ref IntPtr e) => Native.anaf_options_set_daily_limit(Handle, limit, ref e));
        }

        /// <summary>Frees the options (clients made from them keep working).</summary>
        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>How <see cref="OAuthApi.LoginInteractive"/> reaches the user (anaf_login_options).</summary>
    public sealed class LoginOptions : IDisposable
    {
        private static readonly Native.TextCallback TextTrampoline = OnText;

        internal readonly LoginOptionsHandle Handle;

        /// <summary>The defaults: open the system browser, five minutes to log in.</summary>
        public LoginOptions()
        {
            Handle = new LoginOptionsHandle();
            Handle.Adopt(Native.anaf_login_options_new());
        }

        /// <summary>Whether to open the system browser (otherwise show the URL yourself).</summary>
        public LoginOptions SetOpenBrowser(bool openBrowser)
        {
            Call.Run((ref IntPtr e) => Native.anaf_login_options_set_open_browser(Handle, openBrowser ? 1 : 0, ref e));
            return this;
        }

        /// <summary>How long the user has to log in (TimeSpan.Zero: no limit).</summary>
        public LoginOptions SetTimeout(TimeSpan timeout)
        {
            ulong ms = Call.Ms(timeout, "timeout");
            Call.Run((ref IntPtr e) => Native.anaf_login_options_set_timeout(Handle, ms, ref e));
            return this;
        }

        /// <summary>
        /// Called (on a library thread) with the authorization URL; null removes it. The library
        /// gives no release notice for login hooks, so the delegate is kept for the rest of the process.
        /// </summary>
        public LoginOptions SetUrlCallback(Action<string> onUrl)
        {
            IntPtr id = onUrl == null ? IntPtr.Zero : Registry.Add(onUrl);
            Call.Run((ref IntPtr e) => Native.anaf_login_options_set_url_callback(Handle, onUrl == null ? null : TextTrampoline, id, ref e));
            return this;
        }

        /// <summary>Called (on a library thread) with the loopback listener's certificate (PEM); null removes it.</summary>
        public LoginOptions SetCertificateCallback(Action<string> onCertificate)
        {
            IntPtr id = onCertificate == null ? IntPtr.Zero : Registry.Add(onCertificate);
            Call.Run((ref IntPtr e) => Native.anaf_login_options_set_certificate_callback(Handle, onCertificate == null ? null : TextTrampoline, id, ref e));
            return this;
        }

        private static void OnText(IntPtr userData, IntPtr text)
        {
            try
            {
                var handler = Registry.Find<Action<string>>(userData);
                if (handler != null) handler(Utf8.Read(text));
            }
            catch
            {
                // Must not unwind into the library.
            }
        }

        /// <summary>Frees the login options.</summary>
        public void Dispose() { Handle.Dispose(); }
    }

    // =========================================================================================
    // The client

    /// <summary>
    /// A client of ANAF's APIs (anaf_client). Thread-safe. Calls are grouped as in the C API:
    /// <see cref="OAuth"/>, <see cref="EFactura"/>, <see cref="ETransport"/>, <see cref="Public"/>.
    /// Blocking methods must not be called from inside the library's callbacks (token store,
    /// token events, logs), which refuse them with InvalidInputException (field "thread").
    /// </summary>
    public sealed class AnafClient : IDisposable
    {
        internal readonly ClientHandle Handle;

        /// <summary>Makes a client from <paramref name="options"/> (copied: they may be disposed afterwards).</summary>
        public AnafClient(ClientOptions options)
        {
            if (options == null) throw new ArgumentNullException("options");
            Handle = Call.RunHandle(new ClientHandle(),
                (ref IntPtr c, ref IntPtr e) => Native.anaf_client_new(options.Handle, ref c, ref e));
            OAuth = new OAuthApi(this);
            EFactura = new EFacturaApi(this);
            ETransport = new ETransportApi(this);
            Public = new PublicApi(this);
        }

        /// <summary>OAuth at logincert.anaf.ro: codes, tokens, desktop login.</summary>
        public OAuthApi OAuth { get; private set; }
        /// <summary>RO e-Factura.</summary>
        public EFacturaApi EFactura { get; private set; }
        /// <summary>RO e-Transport.</summary>
        public ETransportApi ETransport { get; private set; }
        /// <summary>ANAF's public registries (no login).</summary>
        public PublicApi Public { get; private set; }

        /// <summary>ANAF's TestOauth service: checks that the login works. Result JSON: the greeting as a string.</summary>
        public AnafResult Hello(string name)
        {
            var n = Utf8.Required(name, "name");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_hello(Handle, n, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Hello"/>.</summary>
        public Task<AnafResult> HelloAsync(string name, CancellationToken ct = default(CancellationToken))
        {
            var n = Utf8.Required(name, "name");
            return Call.RunAsync((c, cb, u) => Native.anaf_hello_async(Handle, n, c, cb, u), ct);
        }

        /// <summary>
        /// Today's use of ANAF's daily limits as the quota ledger counts them (empty without a state database).
        /// Result JSON: an array of <c>{"counter", "scope", "key", "used", "limit", "remaining", "resets_at"}</c>.
        /// </summary>
        public AnafResult QuotaUsage()
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_quota_usage(Handle, ref r, ref e));
        }

        /// <summary>Async form of <see cref="QuotaUsage"/>.</summary>
        public Task<AnafResult> QuotaUsageAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_quota_usage_async(Handle, c, cb, u), ct);
        }

        /// <summary>Frees the client (calls still running finish normally). Safe to call twice.</summary>
        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>OAuth calls (anaf_oauth_*).</summary>
    public sealed class OAuthApi
    {
        private readonly AnafClient client;
        internal OAuthApi(AnafClient client) { this.client = client; }
        private ClientHandle H { get { return client.Handle; } }

        /// <summary>The authorization URL and the state to check on the redirect (no I/O). Result JSON: <c>{"url", "state"}</c>.</summary>
        /// <param name="state">null: a random one.</param>
        public AnafResult AuthorizationUrl(string state = null)
        {
            var s = Utf8.Optional(state, "state");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_authorization_url(H, s, ref r, ref e));
        }

        /// <summary>Exchanges an authorization code for tokens, which the client stores. Result JSON: token information without the tokens.</summary>
        public AnafResult ExchangeCode(string code)
        {
            var v = Utf8.Required(code, "code");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_exchange_code(H, v, ref r, ref e));
        }

        /// <summary>Async form of <see cref="ExchangeCode"/>.</summary>
        public Task<AnafResult> ExchangeCodeAsync(string code, CancellationToken ct = default(CancellationToken))
        {
            var v = Utf8.Required(code, "code");
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_exchange_code_async(H, v, c, cb, u), ct);
        }

        /// <summary>Completes a login from the redirected URL: checks the state, reads a refusal, exchanges the code.</summary>
        public AnafResult CompleteAuthorization(string redirectedUrl, string expectedState)
        {
            var url = Utf8.Required(redirectedUrl, "redirectedUrl");
            var st = Utf8.Required(expectedState, "expectedState");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_complete_authorization(H, url, st, ref r, ref e));
        }

        /// <summary>Async form of <see cref="CompleteAuthorization"/>.</summary>
        public Task<AnafResult> CompleteAuthorizationAsync(string redirectedUrl, string expectedState, CancellationToken ct = default(CancellationToken))
        {
            var url = Utf8.Required(redirectedUrl, "redirectedUrl");
            var st = Utf8.Required(expectedState, "expectedState");
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_complete_authorization_async(H, url, st, c, cb, u), ct);
        }

        /// <summary>Refreshes the tokens now (they refresh by themselves when needed).</summary>
        public AnafResult Refresh()
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_refresh(H, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Refresh"/>.</summary>
        public Task<AnafResult> RefreshAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_refresh_async(H, c, cb, u), ct);
        }

        /// <summary>Revokes the tokens and clears them. Result JSON: "confirmed" or "unconfirmed".</summary>
        public AnafResult Revoke()
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_revoke(H, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Revoke"/>.</summary>
        public Task<AnafResult> RevokeAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_revoke_async(H, c, cb, u), ct);
        }

        /// <summary>Where the login stands, without secrets. Result JSON: <c>{"logged_in": true, "tokens": {...} | null, "unsaved", "login_required", "generation"}</c>.</summary>
        public AnafResult TokenStatus()
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_token_status(H, ref r, ref e));
        }

        /// <summary>Async form of <see cref="TokenStatus"/>.</summary>
        public Task<AnafResult> TokenStatusAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_token_status_async(H, c, cb, u), ct);
        }

        /// <summary>The current tokens WITH their secrets (keep them secret), or null when there are none.</summary>
        public AnafResult Tokens()
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_tokens(H, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Tokens"/> (the task's result is null when there are none).</summary>
        public Task<AnafResult> TokensAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_tokens_async(H, c, cb, u), ct);
        }

        /// <summary>Replaces the tokens (JSON as <see cref="Tokens"/> gives) and saves them to the store.</summary>
        public void SetTokens(string tokensJson)
        {
            var v = Utf8.Required(tokensJson, "tokensJson");
            Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_set_tokens(H, v, ref r, ref e));
        }

        /// <summary>Async form of <see cref="SetTokens"/>.</summary>
        public Task SetTokensAsync(string tokensJson, CancellationToken ct = default(CancellationToken))
        {
            var v = Utf8.Required(tokensJson, "tokensJson");
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_set_tokens_async(H, v, c, cb, u), ct);
        }

        /// <summary>Saves, now, tokens the store refused earlier (<c>"unsaved": true</c> in the token status); the client also retries before its calls.</summary>
        public void SaveTokens()
        {
            Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_save_tokens(H, ref r, ref e));
        }

        /// <summary>Async form of <see cref="SaveTokens"/>.</summary>
        public Task SaveTokensAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_save_tokens_async(H, c, cb, u), ct);
        }

        /// <summary>Forgets the tokens here and in the store ("log out" without revoking).</summary>
        public void ClearTokens()
        {
            Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_clear_tokens(H, ref r, ref e));
        }

        /// <summary>Async form of <see cref="ClearTokens"/>.</summary>
        public Task ClearTokensAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_oauth_clear_tokens_async(H, c, cb, u), ct);
        }

        /// <summary>The whole desktop login (loopback listener, browser, code exchange). <paramref name="options"/> null: defaults.</summary>
        public AnafResult LoginInteractive(LoginOptions options = null)
        {
            return Call.WithOptional(options == null ? null : options.Handle, o =>
                Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_oauth_login_interactive(H, o, ref r, ref e)));
        }

        /// <summary>Async form of <see cref="LoginInteractive"/> (the options may be disposed once this returns).</summary>
        public Task<AnafResult> LoginInteractiveAsync(LoginOptions options = null, CancellationToken ct = default(CancellationToken))
        {
            var handle = options == null ? null : options.Handle;
            return Call.RunAsync((c, cb, u) =>
                Call.WithOptional(handle, o => Native.anaf_oauth_login_interactive_async(H, o, c, cb, u)), ct);
        }
    }

    /// <summary>RO e-Factura calls (anaf_efactura_*).</summary>
    public sealed class EFacturaApi
    {
        private readonly AnafClient client;
        internal EFacturaApi(AnafClient client) { this.client = client; }
        private ClientHandle H { get { return client.Handle; } }

        /// <summary>
        /// Uploads an invoice (the bytes are sent as they are) for the company <paramref name="cif"/>.
        /// Never retried. Result JSON: <c>{"upload_id": ..., "response_time": ..., ...}</c>.
        /// </summary>
        /// <param name="xml">The invoice.</param>
        /// <param name="cif">The company the upload is made for.</param>
        /// <param name="standard">"ubl" (null: the default), "cn", "cii", "rasp".</param>
        /// <param name="flags">Upload flags.</param>
        public AnafResult Upload(byte[] xml, string cif, string standard = null, UploadFlags flags = UploadFlags.None)
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_upload(H, x, Call.Length(x), c, s, (uint)flags, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Upload"/>. Cancelled after sending: the inner CancelledException has UploadOutcomeUnknown.</summary>
        public Task<AnafResult> UploadAsync(byte[] xml, string cif, string standard = null, UploadFlags flags = UploadFlags.None, CancellationToken ct = default(CancellationToken))
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_upload_async(H, x, Call.Length(x), c, s, (uint)flags, k, cb, u), ct);
        }

        /// <summary>
        /// Uploads an invoice at most once, through the state database (<see cref="ClientOptions.SetStateDatabase"/>).
        /// Result JSON, the submission: <c>{"key", "state", "upload_id", "invoice_number", "attempts", "last_error", ...}</c>;
        /// <c>state</c> "uploaded", or "unknown" (ANAF's answer was lost: never send it yourself; submit it again later
        /// or call <see cref="ResumeSubmissions"/>). A failure that left nothing at ANAF throws (and is recorded).
        /// </summary>
        public AnafResult Submit(byte[] xml, string cif, string standard = null, UploadFlags flags = UploadFlags.None)
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_submit(H, x, Call.Length(x), c, s, (uint)flags, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Submit"/>.</summary>
        public Task<AnafResult> SubmitAsync(byte[] xml, string cif, string standard = null, UploadFlags flags = UploadFlags.None, CancellationToken ct = default(CancellationToken))
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_submit_async(H, x, Call.Length(x), c, s, (uint)flags, k, cb, u), ct);
        }

        /// <summary>Moves on every unsettled submission (after a restart). Result JSON: an array of submissions.</summary>
        public AnafResult ResumeSubmissions()
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_resume_submissions(H, ref r, ref e));
        }

        /// <summary>Async form of <see cref="ResumeSubmissions"/>.</summary>
        public Task<AnafResult> ResumeSubmissionsAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_resume_submissions_async(H, k, cb, u), ct);
        }

        /// <summary>The journal's submissions, newest first. Result JSON: an array of submissions.</summary>
        /// <param name="cif">null: every company.</param>
        /// <param name="state">null, or "pending", "sending", "unknown", "uploaded", "failed".</param>
        /// <param name="limit">At most this many (0: 1000).</param>
        public AnafResult Submissions(string cif = null, string state = null, uint limit = 0)
        {
            var c = Utf8.Optional(cif, "cif");
            var s = Utf8.Optional(state, "state");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_submissions(H, c, s, limit, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Submissions"/>.</summary>
        public Task<AnafResult> SubmissionsAsync(string cif = null, string state = null, uint limit = 0, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Optional(cif, "cif");
            var s = Utf8.Optional(state, "state");
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_submissions_async(H, c, s, limit, k, cb, u), ct);
        }

        /// <summary>Uploads, then polls until the state is final. Result JSON: <c>{"receipt": {...}, "state": {...}}</c>.</summary>
        /// <param name="xml">The invoice.</param>
        /// <param name="cif">The company.</param>
        /// <param name="standard">null: "ubl".</param>
        /// <param name="flags">Upload flags.</param>
        /// <param name="timeout">How long to wait (TimeSpan.Zero: the default).</param>
        public AnafResult UploadAndWait(byte[] xml, string cif, string standard, UploadFlags flags, TimeSpan timeout)
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            ulong ms = Call.Ms(timeout, "timeout");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_upload_and_wait(H, x, Call.Length(x), c, s, (uint)flags, ms, ref r, ref e));
        }

        /// <summary>Async form of <see cref="UploadAndWait(byte[], string, string, UploadFlags, TimeSpan)"/>.</summary>
        public Task<AnafResult> UploadAndWaitAsync(byte[] xml, string cif, string standard, UploadFlags flags, TimeSpan timeout, CancellationToken ct = default(CancellationToken))
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            ulong ms = Call.Ms(timeout, "timeout");
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_upload_and_wait_async(H, x, Call.Length(x), c, s, (uint)flags, ms, k, cb, u), ct);
        }

        /// <summary>Uploads, then polls the state as <paramref name="wait"/> says (null: the defaults). Result JSON as <see cref="UploadAndWait(byte[], string, string, UploadFlags, TimeSpan)"/>, with <c>"polls"</c>.</summary>
        /// <param name="xml">The invoice.</param>
        /// <param name="cif">The seller's CIF.</param>
        /// <param name="standard">null: "ubl".</param>
        /// <param name="flags">Upload flags.</param>
        /// <param name="wait">Polling settings.</param>
        public AnafResult UploadAndWait(byte[] xml, string cif, string standard, UploadFlags flags, WaitOptions wait)
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            var w = wait ?? new WaitOptions();
            long timeout = Call.OptionalMs(w.Timeout, "Timeout"), first = Call.OptionalMs(w.FirstPoll, "FirstPoll");
            long interval = Call.OptionalMs(w.MaxInterval, "MaxInterval"), polls = w.MaxPolls ?? -1;
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_upload_and_wait_polling(H, x, Call.Length(x), c, s, (uint)flags, timeout, first, interval, polls, ref r, ref e));
        }

        /// <summary>Async form of <see cref="UploadAndWait(byte[], string, string, UploadFlags, WaitOptions)"/>.</summary>
        public Task<AnafResult> UploadAndWaitAsync(byte[] xml, string cif, string standard, UploadFlags flags, WaitOptions wait, CancellationToken ct = default(CancellationToken))
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            var s = Utf8.Optional(standard, "standard");
            var w = wait ?? new WaitOptions();
            long timeout = Call.OptionalMs(w.Timeout, "Timeout"), first = Call.OptionalMs(w.FirstPoll, "FirstPoll");
            long interval = Call.OptionalMs(w.MaxInterval, "MaxInterval"), polls = w.MaxPolls ?? -1;
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_upload_and_wait_polling_async(H, x, Call.Length(x), c, s, (uint)flags, timeout, first, interval, polls, k, cb, u), ct);
        }

        /// <summary>The state of an upload. Result JSON: <c>{"state": "in_progress" | "ok" | "nok" | "rejected_xml", "download_id": ... | null}</c>.</summary>
        public AnafResult Status(ulong uploadId)
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_status(H, uploadId, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Status"/>.</summary>
        public Task<AnafResult> StatusAsync(ulong uploadId, CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_status_async(H, uploadId, k, cb, u), ct);
        }

        /// <summary>Downloads an answer: <see cref="AnafResult.Bytes"/> is ANAF's ZIP; the JSON has "document", "signature", "error_report", "invoice_summary" (the invoice's main fields), ...</summary>
        public AnafResult Download(ulong downloadId)
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_download(H, downloadId, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Download"/>.</summary>
        public Task<AnafResult> DownloadAsync(ulong downloadId, CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_download_async(H, downloadId, k, cb, u), ct);
        }

        /// <summary>Opens a saved answer ZIP without I/O: the same result as <see cref="Download"/>.</summary>
        public AnafResult OpenArchive(byte[] zip)
        {
            var z = Call.Bytes(zip, "zip");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_open_archive(z, Call.Length(z), ref r, ref e));
        }

        /// <summary>The messages of the last <paramref name="days"/> days (1 to 60). Result JSON: an array of messages.</summary>
        /// <param name="cif">The company.</param>
        /// <param name="days">1 to 60.</param>
        /// <param name="filter">null (all), "sent", "received", "errors", "buyer_message".</param>
        public AnafResult ListMessages(string cif, uint days, string filter = null)
        {
            var c = Utf8.Required(cif, "cif");
            var f = Utf8.Optional(filter, "filter");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_list_messages(H, c, days, f, ref r, ref e));
        }

        /// <summary>Async form of <see cref="ListMessages"/>.</summary>
        public Task<AnafResult> ListMessagesAsync(string cif, uint days, string filter = null, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Required(cif, "cif");
            var f = Utf8.Optional(filter, "filter");
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_list_messages_async(H, c, days, f, k, cb, u), ct);
        }

        /// <summary>One page (from 1) of the messages between two times. Result JSON: <c>{"messages": [...], "page", "total_pages", ...}</c>.</summary>
        public AnafResult ListMessagesPage(string cif, DateTimeOffset start, DateTimeOffset end, uint page, string filter = null)
        {
            var c = Utf8.Required(cif, "cif");
            var f = Utf8.Optional(filter, "filter");
            long s = Call.UnixMs(start), t = Call.UnixMs(end);
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_list_messages_page(H, c, s, t, page, f, ref r, ref e));
        }

        /// <summary>Async form of <see cref="ListMessagesPage"/>.</summary>
        public Task<AnafResult> ListMessagesPageAsync(string cif, DateTimeOffset start, DateTimeOffset end, uint page, string filter = null, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Required(cif, "cif");
            var f = Utf8.Optional(filter, "filter");
            long s = Call.UnixMs(start), t = Call.UnixMs(end);
            return Call.RunAsync((k, cb, u) => Native.anaf_efactura_list_messages_page_async(H, c, s, t, page, f, k, cb, u), ct);
        }

        private static readonly Native.TextCallback ProgressTrampoline = OnProgress;

        private static void OnProgress(IntPtr userData, IntPtr json)
        {
            try
            {
                var handler = Registry.Find<Action<JsonNode>>(userData);
                if (handler != null) handler(JsonNode.Parse(Utf8.Read(json)));
            }
            catch
            {
                // Must not unwind into the library.
            }
        }

        /// <summary>
        /// Archives every message ANAF keeps for <paramref name="cif"/> (60 days, or from
        /// <paramref name="since"/>) into <paramref name="folder"/>, each downloaded once:
        /// <c>CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID/</c> with ANAF's ZIP, the invoice and signature,
        /// message.json and, with <paramref name="pdf"/>, ANAF's PDF. A message whose folder is there is
        /// not downloaded again: run it again to go on after a stop. <paramref name="onProgress"/> gets
        /// <c>{"listed", "total", "archived", "already_archived", "failed", "bytes"}</c> on a library
        /// thread while the sync runs. Result JSON: <c>{"progress", "folder", "window_start", "failures"}</c>.
        /// </summary>
        public AnafResult Sync(string cif, string folder, string filter = null, DateTimeOffset? since = null, bool pdf = false, Action<JsonNode> onProgress = null)
        {
            var c = Utf8.Required(cif, "cif");
            var d = Utf8.Required(folder, "folder");
            var f = Utf8.Optional(filter, "filter");
            long s = since.HasValue ? Call.UnixMs(since.Value) : 0;
            IntPtr id = onProgress == null ? IntPtr.Zero : Registry.Add(onProgress);
            try
            {
                return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_sync(H, c, d, f, s, pdf ? 1 : 0, onProgress == null ? null : ProgressTrampoline, id, ref r, ref e));
            }
            finally
            {
                // The library calls the hook only while the sync runs.
                if (onProgress != null) Registry.Remove(id);
            }
        }

        /// <summary>Async form of <see cref="Sync"/>.</summary>
        public async Task<AnafResult> SyncAsync(string cif, string folder, string filter = null, DateTimeOffset? since = null, bool pdf = false, Action<JsonNode> onProgress = null, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Required(cif, "cif");
            var d = Utf8.Required(folder, "folder");
            var f = Utf8.Optional(filter, "filter");
            long s = since.HasValue ? Call.UnixMs(since.Value) : 0;
            IntPtr id = onProgress == null ? IntPtr.Zero : Registry.Add(onProgress);
            try
            {
                return await Call.RunAsync((k, cb, u) => Native.anaf_efactura_sync_async(H, c, d, f, s, pdf ? 1 : 0, onProgress == null ? null : ProgressTrampoline, id, k, cb, u), ct).ConfigureAwait(false);
            }
            finally
            {
                if (onProgress != null) Registry.Remove(id);
            }
        }

        /// <summary>
        /// Every message from <paramref name="start"/> to <paramref name="end"/> (null: now, less the
        /// few seconds the library keeps clear of ANAF's clock), page
        /// after page (anaf_efactura_messages). No I/O until the first page is asked for.
        /// <c>using (var pages = client.EFactura.Messages(cif, from)) foreach (var page in pages) ...</c>
        /// reads every page; <see cref="MessageStream.NextAsync"/> reads them asynchronously.
        /// </summary>
        public MessageStream Messages(string cif, DateTimeOffset start, DateTimeOffset? end = null, string filter = null)
        {
            var c = Utf8.Required(cif, "cif");
            var f = Utf8.Optional(filter, "filter");
            long s = Call.UnixMs(start), t = end.HasValue ? Call.UnixMs(end.Value) : 0;
            var handle = Call.RunHandle(new MessageStreamHandle(),
                (ref IntPtr p, ref IntPtr e) => Native.anaf_efactura_messages(H, c, s, t, f, ref p, ref e));
            return new MessageStream(handle);
        }

        /// <summary>Validates an invoice with ANAF's public service. An invalid document is a result: <c>{"valid": false, "messages": [...]}</c>.</summary>
        /// <param name="xml">The document.</param>
        /// <param name="kind">"invoice" (null) or "credit_note".</param>
        public AnafResult Validate(byte[] xml, string kind = null)
        {
            var x = Call.Bytes(xml, "xml");
            var k = Utf8.Optional(kind, "kind");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_validate(H, x, Call.Length(x), k, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Validate"/>.</summary>
        public Task<AnafResult> ValidateAsync(byte[] xml, string kind = null, CancellationToken ct = default(CancellationToken))
        {
            var x = Call.Bytes(xml, "xml");
            var k = Utf8.Optional(kind, "kind");
            return Call.RunAsync((c, cb, u) => Native.anaf_efactura_validate_async(H, x, Call.Length(x), k, c, cb, u), ct);
        }

        /// <summary>Renders an invoice as PDF: <c>{"outcome": "pdf"}</c> with <see cref="AnafResult.Bytes"/>, or <c>{"outcome": "invalid", "report": {...}}</c>.</summary>
        /// <param name="xml">The document.</param>
        /// <param name="kind">"invoice" (null) or "credit_note".</param>
        /// <param name="validate">Validate first.</param>
        public AnafResult ToPdf(byte[] xml, string kind = null, bool validate = true)
        {
            var x = Call.Bytes(xml, "xml");
            var k = Utf8.Optional(kind, "kind");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_to_pdf(H, x, Call.Length(x), k, validate ? 1 : 0, ref r, ref e));
        }

        /// <summary>Async form of <see cref="ToPdf"/>.</summary>
        public Task<AnafResult> ToPdfAsync(byte[] xml, string kind = null, bool validate = true, CancellationToken ct = default(CancellationToken))
        {
            var x = Call.Bytes(xml, "xml");
            var k = Utf8.Optional(kind, "kind");
            return Call.RunAsync((c, cb, u) => Native.anaf_efactura_to_pdf_async(H, x, Call.Length(x), k, validate ? 1 : 0, c, cb, u), ct);
        }

        /// <summary>Checks ANAF's signature of a downloaded invoice. Result JSON: <c>{"valid": true, "message": "..."}</c>.</summary>
        public AnafResult VerifySignature(byte[] invoiceXml, byte[] signatureXml)
        {
            var i = Call.Bytes(invoiceXml, "invoiceXml");
            var s = Call.Bytes(signatureXml, "signatureXml");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_efactura_verify_signature(H, i, Call.Length(i), s, Call.Length(s), ref r, ref e));
        }

        /// <summary>Async form of <see cref="VerifySignature"/>.</summary>
        public Task<AnafResult> VerifySignatureAsync(byte[] invoiceXml, byte[] signatureXml, CancellationToken ct = default(CancellationToken))
        {
            var i = Call.Bytes(invoiceXml, "invoiceXml");
            var s = Call.Bytes(signatureXml, "signatureXml");
            return Call.RunAsync((c, cb, u) => Native.anaf_efactura_verify_signature_async(H, i, Call.Length(i), s, Call.Length(s), c, cb, u), ct);
        }
    }

    /// <summary>
    /// The pages of an interval's messages (anaf_message_stream): enumerate it (once) or call
    /// Next / NextAsync (one at a time), and dispose it (<c>using</c>) when done.
    /// </summary>
    public sealed class MessageStream : IEnumerable<AnafResult>, IDisposable
    {
        private readonly MessageStreamHandle handle;

        internal MessageStream(MessageStreamHandle handle) { this.handle = handle; }

        /// <summary>Where the stream really started (later than asked when ANAF refused an older start).</summary>
        public DateTimeOffset EffectiveStart
        {
            get { return DateTimeOffset.FromUnixTimeMilliseconds(Native.anaf_message_stream_effective_start(handle)); }
        }

        /// <summary>Where the stream's interval ends: the end asked for, or "now" fixed by the first page; null before it.</summary>
        public DateTimeOffset? EffectiveEnd
        {
            get
            {
                long end = Native.anaf_message_stream_effective_end(handle);
                return end == 0 ? (DateTimeOffset?)null : DateTimeOffset.FromUnixTimeMilliseconds(end);
            }
        }

        /// <summary>The next page (JSON as ListMessagesPage), or null after the last. A page may be empty while more follow.</summary>
        public AnafResult Next()
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_message_stream_next(handle, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Next"/> (null after the last page).</summary>
        public Task<AnafResult> NextAsync(CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((c, cb, u) => Native.anaf_message_stream_next_async(handle, c, cb, u), ct);
        }

        /// <summary>Every remaining page (calls <see cref="Next"/> until it gives null).</summary>
        public IEnumerator<AnafResult> GetEnumerator()
        {
            AnafResult page;
            while ((page = Next()) != null) yield return page;
        }

        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }

        /// <summary>Frees the stream (a pending NextAsync still completes). Safe to call twice.</summary>
        public void Dispose() { handle.Dispose(); }
    }

    /// <summary>RO e-Transport calls (anaf_etransport_*).</summary>
    public sealed class ETransportApi
    {
        private readonly AnafClient client;
        internal ETransportApi(AnafClient client) { this.client = client; }
        private ClientHandle H { get { return client.Handle; } }

        /// <summary>Declares a road transport for <paramref name="cif"/>. Never retried. Result JSON: <c>{"upload_id", "uit", ...}</c>.</summary>
        /// <param name="xml">The declaration.</param>
        /// <param name="cif">The declarant.</param>
        /// <param name="version">Schema version 2 (0 means 2) or 1.</param>
        public AnafResult Upload(byte[] xml, string cif, uint version = 2)
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_etransport_upload(H, x, Call.Length(x), c, version, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Upload"/>.</summary>
        public Task<AnafResult> UploadAsync(byte[] xml, string cif, uint version = 2, CancellationToken ct = default(CancellationToken))
        {
            var x = Call.Bytes(xml, "xml");
            var c = Utf8.Required(cif, "cif");
            return Call.RunAsync((k, cb, u) => Native.anaf_etransport_upload_async(H, x, Call.Length(x), c, version, k, cb, u), ct);
        }

        /// <summary>The state of a declaration. Result JSON: <c>{"state": "ok" | "nok" | "in_progress" | ..., ...}</c>.</summary>
        public AnafResult Status(ulong uploadId)
        {
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_etransport_status(H, uploadId, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Status"/>.</summary>
        public Task<AnafResult> StatusAsync(ulong uploadId, CancellationToken ct = default(CancellationToken))
        {
            return Call.RunAsync((k, cb, u) => Native.anaf_etransport_status_async(H, uploadId, k, cb, u), ct);
        }

        /// <summary>The declarations of the last <paramref name="days"/> days. Result JSON: an array.</summary>
        public AnafResult List(string cif, uint days)
        {
            var c = Utf8.Required(cif, "cif");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_etransport_list(H, c, days, ref r, ref e));
        }

        /// <summary>Async form of <see cref="List"/>.</summary>
        public Task<AnafResult> ListAsync(string cif, uint days, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Required(cif, "cif");
            return Call.RunAsync((k, cb, u) => Native.anaf_etransport_list_async(H, c, days, k, cb, u), ct);
        }

        /// <summary>What ANAF knows of an operator's transports, optionally narrowed (each null: not narrowed).</summary>
        public AnafResult Info(string operatorCif, string declarantCif = null, string uit = null, string reference = null)
        {
            var o = Utf8.Required(operatorCif, "operatorCif");
            var d = Utf8.Optional(declarantCif, "declarantCif");
            var t = Utf8.Optional(uit, "uit");
            var f = Utf8.Optional(reference, "reference");
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_etransport_info(H, o, d, t, f, ref r, ref e));
        }

        /// <summary>Async form of <see cref="Info"/>.</summary>
        public Task<AnafResult> InfoAsync(string operatorCif, string declarantCif = null, string uit = null, string reference = null, CancellationToken ct = default(CancellationToken))
        {
            var o = Utf8.Required(operatorCif, "operatorCif");
            var d = Utf8.Optional(declarantCif, "declarantCif");
            var t = Utf8.Optional(uit, "uit");
            var f = Utf8.Optional(reference, "reference");
            return Call.RunAsync((k, cb, u) => Native.anaf_etransport_info_async(H, o, d, t, f, k, cb, u), ct);
        }
    }

    /// <summary>ANAF's public registries (anaf_public_*; no login).</summary>
    public sealed class PublicApi
    {
        private readonly AnafClient client;
        internal PublicApi(AnafClient client) { this.client = client; }
        private ClientHandle H { get { return client.Handle; } }

        private static byte[] Date(DateTime? date)
        {
            return date.HasValue ? Utf8.Optional(date.Value.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), "date") : null;
        }

        /// <summary>Looks companies up in the VAT registry. Result JSON: <c>{"found": [...], "not_found": [...]}</c>.</summary>
        /// <param name="cifs">CIFs separated by commas, spaces or new lines.</param>
        /// <param name="date">The day asked about (null: today).</param>
        public AnafResult LookupTaxpayers(string cifs, DateTime? date = null)
        {
            var c = Utf8.Required(cifs, "cifs");
            var d = Date(date);
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_public_lookup_taxpayers(H, c, d, ref r, ref e));
        }

        /// <summary>Async form of <see cref="LookupTaxpayers"/>.</summary>
        public Task<AnafResult> LookupTaxpayersAsync(string cifs, DateTime? date = null, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Required(cifs, "cifs");
            var d = Date(date);
            return Call.RunAsync((k, cb, u) => Native.anaf_public_lookup_taxpayers_async(H, c, d, k, cb, u), ct);
        }

        /// <summary>Looks companies up in the RO e-Factura register (arguments and result as <see cref="LookupTaxpayers"/>).</summary>
        public AnafResult LookupEfacturaRegister(string cifs, DateTime? date = null)
        {
            var c = Utf8.Required(cifs, "cifs");
            var d = Date(date);
            return Call.Run((ref IntPtr r, ref IntPtr e) => Native.anaf_public_lookup_efactura_register(H, c, d, ref r, ref e));
        }

        /// <summary>Async form of <see cref="LookupEfacturaRegister"/>.</summary>
        public Task<AnafResult> LookupEfacturaRegisterAsync(string cifs, DateTime? date = null, CancellationToken ct = default(CancellationToken))
        {
            var c = Utf8.Required(cifs, "cifs");
            var d = Date(date);
            return Call.RunAsync((k, cb, u) => Native.anaf_public_lookup_efactura_register_async(H, c, d, k, cb, u), ct);
        }
    }

    // =========================================================================================
    // Sandbox

    /// <summary>
    /// The embedded ANAF sandbox on a loopback port (anaf_sandbox_*), for offline tests.
    /// Specs go in and answers come out as the JSON of the sandbox's admin API.
    /// </summary>
    public sealed class Sandbox : IDisposable
    {
        private readonly SandboxHandle handle;

        private Sandbox(SandboxHandle handle) { this.handle = handle; }

        /// <summary>Starts a sandbox. <paramref name="optionsJson"/>: null (ANAF's timings) or e.g. <c>{"instant": true}</c>.</summary>
        public static Sandbox Start(string optionsJson = null)
        {
            var o = Utf8.Optional(optionsJson, "optionsJson");
            return new Sandbox(Call.RunHandle(new SandboxHandle(),
                (ref IntPtr s, ref IntPtr e) => Native.anaf_sandbox_start(o, ref s, ref e)));
        }

        /// <summary><c>http://127.0.0.1:PORT</c>: the base URL for logincert, api and webservicesp alike.</summary>
        public string BaseUrl { get { return Utf8.Read(Native.anaf_sandbox_base_url(handle)); } }

        /// <summary>The base URL, default application and default identity, as JSON.</summary>
        public string Info()
        {
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_info(handle, ref t, ref e));
        }

        /// <summary>Points <paramref name="options"/> at the sandbox: its base URL and default application.</summary>
        public ClientOptions Configure(ClientOptions options)
        {
            if (options == null) throw new ArgumentNullException("options");
            Call.Run((ref IntPtr e) => Native.anaf_sandbox_configure(handle, options.Handle, ref e));
            return options;
        }

        /// <summary>Registers an application (<c>{"name", "redirect_uris", "services"}</c>); returns it with its credentials as JSON.</summary>
        public string RegisterApp(string specJson)
        {
            var s = Utf8.Required(specJson, "specJson");
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_register_app(handle, s, ref t, ref e));
        }

        /// <summary>Adds a user with SPV rights (<c>{"serial"?, "cifs", "services"}</c>); returns the identity as JSON.</summary>
        public string AddIdentity(string specJson)
        {
            var s = Utf8.Required(specJson, "specJson");
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_add_identity(handle, s, ref t, ref e));
        }

        /// <summary>Makes a company known with its registry facts (<c>{"cif", "name", ...}</c>).</summary>
        public void SetCompany(string specJson)
        {
            var s = Utf8.Required(specJson, "specJson");
            Call.Run((ref IntPtr e) => Native.anaf_sandbox_set_company(handle, s, ref e));
        }

        /// <summary>An authorization code without a browser (null: the default application and identity); exchange it within 60 s.</summary>
        public string Authorize(string requestJson = null)
        {
            var r = Utf8.Optional(requestJson, "requestJson");
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_authorize(handle, r, ref t, ref e));
        }

        /// <summary>Makes the next matching requests fail (<c>{"endpoint", "fault": {"kind", ...}, "times"}</c>).</summary>
        public void InjectFault(string faultJson)
        {
            var f = Utf8.Required(faultJson, "faultJson");
            Call.Run((ref IntPtr e) => Native.anaf_sandbox_inject_fault(handle, f, ref e));
        }

        /// <summary>Removes every injected fault.</summary>
        public void ClearFaults() { Native.anaf_sandbox_clear_faults(handle); }

        /// <summary>Moves the sandbox clock forward.</summary>
        public void AdvanceClock(TimeSpan by) { Native.anaf_sandbox_advance_clock(handle, Call.Ms(by, "by")); }

        /// <summary>Everything uploaded, for one CIF or all (null), oldest first, as a JSON array.</summary>
        public string Uploads(string cif = null)
        {
            var c = Utf8.Optional(cif, "cif");
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_uploads(handle, c, ref t, ref e));
        }

        /// <summary>The requests the sandbox answered (no secrets), oldest first, as a JSON array.</summary>
        public string Requests()
        {
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_requests(handle, ref t, ref e));
        }

        /// <summary>Creates received invoices (<c>{"cif", "count", "days_back"}</c>); returns their upload ids as a JSON array.</summary>
        public string SeedReceivedInvoices(string requestJson)
        {
            var r = Utf8.Required(requestJson, "requestJson");
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_seed_received_invoices(handle, r, ref t, ref e));
        }

        /// <summary>A valid CIUS-RO invoice XML from <paramref name="sellerCif"/> to <paramref name="buyerCif"/>, for tests.</summary>
        public static string SampleInvoice(string number, string sellerCif, string buyerCif)
        {
            var n = Utf8.Required(number, "number");
            var s = Utf8.Required(sellerCif, "sellerCif");
            var b = Utf8.Required(buyerCif, "buyerCif");
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_sample_invoice(n, s, b, ref t, ref e));
        }

        /// <summary>A valid e-Transport notification (schema v2) declared by <paramref name="declarantCif"/>, for tests.</summary>
        public static string SampleTransport(string declarantCif, string reference)
        {
            var d = Utf8.Required(declarantCif, "declarantCif");
            var r = Utf8.Required(reference, "reference");
            return Call.RunText((ref IntPtr t, ref IntPtr e) => Native.anaf_sandbox_sample_transport(d, r, ref t, ref e));
        }

        /// <summary>Stops the sandbox and frees it. Safe to call twice.</summary>
        public void Dispose() { handle.Dispose(); }
    }
}
