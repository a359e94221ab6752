// The C# binding's tests: a console program (no test framework) against an in-process
// sandbox, compiled together with Anaf.cs (run-tests). One line per passed test; the first
// failure prints why and exits with 1; the last line is exactly "dotnet tests: all passed".

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Anaf;

internal sealed class TestFailure : Exception
{
    public TestFailure(string message) : base(message) { }
}

internal static class AnafTests
{
    private const string Seller = "8000000000";
    private const string Buyer = "12345674";
    private const string Partner = "33333338"; // known to the sandbox, not the default identity's

    private static Sandbox sandbox;
    private static int passed;
    private static ulong blockingUploadId; // uploaded by the blocking round trip, listed by the async one

    // ---------------------------------------------------------------- assertions

    private static void Check(bool condition, string what)
    {
        if (!condition) throw new TestFailure(what);
    }

    private static void Equal<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
            throw new TestFailure(what + ": expected <" + expected + ">, got <" + actual + ">");
    }

    private static T Throws<T>(Action body, string what) where T : Exception
    {
        try
        {
            body();
        }
        catch (T e)
        {
            return e;
        }
        catch (Exception e)
        {
            throw new TestFailure(what + ": expected " + typeof(T).Name + ", got " + e.GetType().Name + ": " + e.Message);
        }
        throw new TestFailure(what + ": expected " + typeof(T).Name + ", nothing was thrown");
    }

    private static T ThrowsAsync<T>(Func<Task> body, string what) where T : Exception
    {
        return Throws<T>(() => body().GetAwaiter().GetResult(), what);
    }

    private static void Test(string name, Action body)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            body();
        }
        catch (Exception e)
        {
            Console.WriteLine("FAIL " + name + ": " + e);
            Console.Out.Flush();
            Environment.Exit(1);
        }
        passed++;
        Console.WriteLine("ok   " + name + " (" + watch.ElapsedMilliseconds + " ms)");
    }

    private static void WaitFor(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.ElapsedMilliseconds > 5000) throw new TestFailure("timed out waiting for " + what);
            Thread.Sleep(20);
        }
    }

    private static byte[] Utf8(string text) { return Encoding.UTF8.GetBytes(text); }

    // ---------------------------------------------------------------- helpers

    /// <summary>Options pointed at the sandbox, without retries (so injected faults surface at once).</summary>
    private static ClientOptions SandboxOptions()
    {
        return sandbox.Configure(new ClientOptions()).SetRetry(1, TimeSpan.Zero, TimeSpan.Zero);
    }

    /// <summary>A client logged in with a code from the sandbox (no browser).</summary>
    private static AnafClient LoggedInClient()
    {
        using (var options = SandboxOptions())
        {
            var client = new AnafClient(options);
            client.OAuth.ExchangeCode(sandbox.Authorize());
            return client;
        }
    }

    private static bool ListHas(JsonNode messages, ulong uploadId)
    {
        foreach (var message in messages.Items)
        {
            var id = message["upload_id"];
            if (id != null && !id.IsNull && id.AsString() == uploadId.ToString()) return true;
        }
        return false;
    }

    // ---------------------------------------------------------------- tests

    private static int Main()
    {
        Console.WriteLine("anaf library " + AnafLibrary.Version + ", binding " + AnafLibrary.BindingVersion
            + ", " + (Environment.Is64BitProcess ? "64" : "32") + "-bit process");

        Test("version matches the header", () => Equal(AnafLibrary.BindingVersion, AnafLibrary.Version, "anaf_version"));

        Test("JSON helper reads objects, arrays, odd keys, big numbers and UTF-8", () =>
        {
            var root = JsonNode.Parse("{\"a b\": 1, \"name\": \"\u0218tefan \u021a\u0103ran\", \"id\": 5001130147, \"list\": [true, null, {\"k\": \"v\"}], \"n\": -2.5}");
            Equal("object", root.Type, "type");
            Equal(1L, root["a b"].AsInt64(), "key with a space");
            Equal("\u0218tefan \u021a\u0103ran", root.GetString("name"), "diacritics");
            Equal(5001130147UL, root["id"].AsUInt64(), "big number");
            Equal(3, root["list"].Count, "array length");
            Check(root["list"][0].AsBoolean(), "boolean");
            Check(root["list"][1].IsNull, "null");
            Equal("v", root["list"][2].GetString("k"), "nested object");
            Equal(-2.5, root["n"].AsDouble(), "double");
            Check(root["missing"] == null, "absent key gives null");
            Equal("a b,name,id,list,n", string.Join(",", root.Keys.ToArray()), "keys in order");
        });

        Test("CIF check (anaf_cif_validate)", () =>
        {
            Equal(Seller, AnafLibrary.ValidateCif("RO" + Seller), "normalised CIF");
            var e = Throws<InvalidInputException>(() => AnafLibrary.ValidateCif("8000000001"), "bad check digit");
            Equal(AnafStatus.InvalidInput, e.Status, "status");
            Equal("invalid_input", e.Code, "code");
        });

        sandbox = Sandbox.Start("{\"instant\": true}");
        Test("sandbox starts and describes itself", () =>
        {
            Check(sandbox.BaseUrl.StartsWith("http://127.0.0.1:"), "base URL " + sandbox.BaseUrl);
            var info = JsonNode.Parse(sandbox.Info());
            Check(info.ToString().Contains(Seller), "default identity has " + Seller);
        });

        BlockingRoundTrip();
        AsyncRoundTrip();
        Cancellation();
        Errors();
        TokenStoreAndEvents();
        Misc();
        StateDatabase();

        Test("Dispose twice is safe; a disposed object refuses calls", () =>
        {
            var options = SandboxOptions();
            var client = new AnafClient(options);
            options.Dispose();
            options.Dispose();
            Check(client.OAuth.AuthorizationUrl()["url"] != null, "client works after its options were disposed");
            var stream = client.EFactura.Messages(Seller, DateTimeOffset.UtcNow.AddDays(-1));
            stream.Dispose();
            stream.Dispose();
            client.Dispose();
            client.Dispose();
            Throws<ObjectDisposedException>(() => client.Hello("x"), "call on a disposed client");
            Throws<ObjectDisposedException>(() => client.HelloAsync("x").GetAwaiter().GetResult(), "async call on a disposed client");
            var other = Sandbox.Start(null);
            other.Dispose();
            other.Dispose();
            var store = new TokenStore(() => null, json => { });
            store.Dispose();
            store.Dispose();
            var login = new LoginOptions().SetOpenBrowser(false).SetTimeout(TimeSpan.FromSeconds(1));
            login.Dispose();
            login.Dispose();
        });

        sandbox.Dispose();
        sandbox.Dispose();
        // No ShutdownRuntime here on purpose: the binding stops the library's threads when the
        // process exits (run-tests fails on a hang).
        Console.WriteLine("dotnet tests: all passed");
        return 0;
    }

    private static void BlockingRoundTrip()
    {
        AnafClient client = null;
        ulong uploadId = 0, downloadId = 0;
        const string number = "DN-BLOCK-1";
        Stopwatch sinceUpload = null;
        AnafResult download = null;

        Test("blocking: authorize without a browser, ExchangeCode, Hello with diacritics", () =>
        {
            using (var options = SandboxOptions())
            {
                client = new AnafClient(options);
            }
            var code = sandbox.Authorize();
            Check(!string.IsNullOrEmpty(code), "a code");
            var info = client.OAuth.ExchangeCode(code);
            Check(info["expires_at"] != null, "token info has expires_at: " + info.Json);
            Check(!info.Json.Contains("refresh_token\":\"ey"), "no secret in the exchange result");
            Check(client.OAuth.TokenStatus()["logged_in"].AsBoolean(), "token status: logged in");
            const string name = "\u0218tefan \u021a\u0103ran \u00ee\u00e2";
            var hello = client.Hello(name).Root.AsString();
            Check(hello.StartsWith("Hello, " + name), "UTF-8 both ways: " + hello);
        });

        Test("blocking: Upload an invoice, Status until ok", () =>
        {
            var xml = Utf8(Sandbox.SampleInvoice(number, Seller, Buyer));
            var receipt = client.EFactura.Upload(xml, Seller);
            sinceUpload = Stopwatch.StartNew();
            uploadId = receipt["upload_id"].AsUInt64();
            blockingUploadId = uploadId;
            Check(uploadId > 0, "upload id");
            for (int i = 0; i < 100; i++)
            {
                var state = client.EFactura.Status(uploadId);
                if (state.GetString("state") == "ok")
                {
                    downloadId = state["download_id"].AsUInt64();
                    break;
                }
                Check(state.GetString("state") == "in_progress", "unexpected state " + state.Json);
                Thread.Sleep(50);
            }
            Check(downloadId > 0, "state ok with a download id");
        });

        Test("blocking: Download gives the ZIP bytes and the document", () =>
        {
            download = client.EFactura.Download(downloadId);
            Check(download.Bytes != null && download.Bytes.Length > 100, "ZIP bytes");
            Equal((byte)'P', download.Bytes[0], "ZIP magic 1");
            Equal((byte)'K', download.Bytes[1], "ZIP magic 2");
            Check(download.GetString("document").Contains(number), "document contains the invoice number");
            Equal(number, download["invoice_summary"].GetString("number"), "the invoice's main fields: its number");
            Equal("238.00", download["invoice_summary"].GetString("payable"), "the invoice's main fields: to pay");
            var reopened = client.EFactura.OpenArchive(download.Bytes);
            Equal(download.GetString("document"), reopened.GetString("document"), "OpenArchive gives the same document");
            var verdict = client.EFactura.VerifySignature(Utf8(download.GetString("document")), Utf8(download.GetString("signature")));
            Check(verdict["valid"].AsBoolean(), "ANAF's signature verifies: " + verdict.Json);
        });

        Test("blocking: ListMessages finds the upload", () =>
        {
            var list = client.EFactura.ListMessages(Seller, 1);
            Equal("array", list.Root.Type, "list is an array");
            Check(ListHas(list.Root, uploadId), "upload " + uploadId + " in " + list.Json);
            var page = client.EFactura.ListMessagesPage(Seller, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow, 1);
            Check(ListHas(page["messages"], uploadId), "upload in page 1: " + page.Json);
        });

        Test("blocking: Messages stream iterates pages (510 seeded messages: 2 pages)", () =>
        {
            sandbox.SeedReceivedInvoices("{\"cif\": \"" + Buyer + "\", \"count\": 510, \"days_back\": 2}");
            int pages = 0, messages = 0;
            using (var stream = client.EFactura.Messages(Buyer, DateTimeOffset.UtcNow.AddDays(-3), null, "received"))
            {
                foreach (var page in stream)
                {
                    pages++;
                    messages += page["messages"].Count;
                    Equal(pages, (int)page["page"].AsInt64(), "page number");
                }
                Check(stream.Next() == null, "still at the end");
            }
            Equal(2, pages, "pages");
            Check(messages >= 500, "messages: " + messages);
        });

        Test("blocking: the Messages stream finds the upload once it is older than the stream's 5 s clock margin", () =>
        {
            long wait = 5500 - sinceUpload.ElapsedMilliseconds;
            if (wait > 0) Thread.Sleep((int)wait);
            bool found = false;
            using (var stream = client.EFactura.Messages(Seller, DateTimeOffset.UtcNow.AddDays(-1)))
            {
                foreach (var page in stream) found |= ListHas(page["messages"], uploadId);
                Check(stream.EffectiveStart <= DateTimeOffset.UtcNow.AddDays(-1).AddMinutes(1), "effective start as asked");
                Check(stream.EffectiveEnd.HasValue && stream.EffectiveEnd.Value <= DateTimeOffset.UtcNow, "effective end fixed by the first page");
            }
            Check(found, "the upload is in the stream");
        });

        Test("blocking: Validate and ToPdf", () =>
        {
            var xml = Utf8(Sandbox.SampleInvoice("DN-PDF-1", Seller, Buyer));
            Check(client.EFactura.Validate(xml)["valid"].AsBoolean(), "valid invoice");
            var pdf = client.EFactura.ToPdf(xml);
            Equal("pdf", pdf.GetString("outcome"), "outcome");
            Equal("%PDF", Encoding.ASCII.GetString(pdf.Bytes, 0, 4), "PDF magic");
            var bad = client.EFactura.Validate(Utf8("<Invoice/>"));
            Check(!bad["valid"].AsBoolean() && bad["messages"].Count > 0, "invalid document is a result: " + bad.Json);
        });

        Test("blocking: e-Transport upload, status, list; public registry", () =>
        {
            var xml = Utf8(Sandbox.SampleTransport(Seller, "DN-REF-1"));
            var receipt = client.ETransport.Upload(xml, Seller);
            Check(!string.IsNullOrEmpty(receipt.GetString("uit")), "a UIT: " + receipt.Json);
            var status = client.ETransport.Status(receipt["upload_id"].AsUInt64());
            Check(status.GetString("state") != null, "a state: " + status.Json);
            Equal("array", client.ETransport.List(Seller, 1).Root.Type, "list");
            var found = client.Public.LookupTaxpayers(Seller + ", " + Buyer);
            Equal(2, found["found"].Count, "both found: " + found.Json);
            Check(client.Public.LookupEfacturaRegister(Seller)["found"] != null, "register answer");
        });

        client.Dispose();
    }

    private static void AsyncRoundTrip()
    {
        Test("async: ExchangeCode, Hello, Upload, Status, Download, ListMessages, stream", () =>
            Task.Run(() => AsyncRoundTripBody()).GetAwaiter().GetResult());
    }

    private static async Task AsyncRoundTripBody()
    {
        const string number = "DN-ASYNC-1";
        using (var options = SandboxOptions())
        using (var client = new AnafClient(options))
        {
            var info = await client.OAuth.ExchangeCodeAsync(sandbox.Authorize());
            Check(info["expires_at"] != null, "token info");
            var hello = await client.HelloAsync("as\u0103");
            Check(hello.Root.AsString().StartsWith("Hello, as\u0103"), "hello");
            var receipt = await client.EFactura.UploadAsync(Utf8(Sandbox.SampleInvoice(number, Seller, Buyer)), Seller);
            ulong uploadId = receipt["upload_id"].AsUInt64(), downloadId = 0;
            for (int i = 0; i < 100 && downloadId == 0; i++)
            {
                var state = await client.EFactura.StatusAsync(uploadId);
                if (state.GetString("state") == "ok") downloadId = state["download_id"].AsUInt64();
                else await Task.Delay(50);
            }
            Check(downloadId > 0, "state ok");
            var download = await client.EFactura.DownloadAsync(downloadId);
            Check(download.Bytes[0] == 'P' && download.Bytes[1] == 'K', "ZIP bytes");
            Check(download.GetString("document").Contains(number), "document");
            var list = await client.EFactura.ListMessagesAsync(Seller, 1, "sent");
            Check(ListHas(list.Root, uploadId), "listed");
            using (var stream = client.EFactura.Messages(Seller, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddMinutes(1)))
            {
                bool found = false;
                int pages = 0;
                AnafResult page;
                while ((page = await stream.NextAsync()) != null)
                {
                    pages++;
                    found |= ListHas(page["messages"], blockingUploadId);
                }
                Check(pages >= 1 && found, "stream pages found the blocking round trip's upload");
                Check(stream.EffectiveStart > DateTimeOffset.UtcNow.AddDays(-2), "effective start");
            }
            var and = await client.EFactura.UploadAndWaitAsync(Utf8(Sandbox.SampleInvoice("DN-ASYNC-2", Seller, Buyer)),
                Seller, null, UploadFlags.None, TimeSpan.FromSeconds(30));
            Equal("ok", and["state"].GetString("state"), "upload and wait");
            var tokens = await client.OAuth.TokensAsync();
            Check(tokens != null && tokens.Json.Contains("refresh_token"), "tokens with secrets");
            await client.OAuth.ClearTokensAsync();
            Check(await client.OAuth.TokensAsync() == null, "no tokens after ClearTokensAsync");
            await client.OAuth.SetTokensAsync(tokens.Json);
            Check((await client.OAuth.TokenStatusAsync())["logged_in"].AsBoolean(), "tokens set back");
        }
    }

    private static void Cancellation()
    {
        AnafClient client = LoggedInClient();
        var xml = Utf8(Sandbox.SampleInvoice("DN-CANCEL-1", Seller, Buyer));
        ulong uploadId = client.EFactura.Upload(xml, Seller)["upload_id"].AsUInt64();

        Test("cancellation: a 5 s latency fault, token cancelled after 100 ms ends the task quickly", () =>
        {
            sandbox.InjectFault("{\"endpoint\":\"efactura.status\",\"fault\":{\"kind\":\"latency\",\"ms\":5000},\"times\":1}");
            using (var cts = new CancellationTokenSource())
            {
                var watch = Stopwatch.StartNew();
                var task = client.EFactura.StatusAsync(uploadId, cts.Token);
                cts.CancelAfter(100);
                var e = ThrowsAsync<OperationCanceledException>(() => task, "cancelled status");
                long ms = watch.ElapsedMilliseconds;
                Check(ms < 2000, "ended in " + ms + " ms");
                Check(task.IsCanceled, "task state is Canceled, not " + task.Status);
                Equal(cts.Token, e.CancellationToken, "the caller's token");
                var inner = e.InnerException as CancelledException;
                Check(inner != null, "InnerException is CancelledException: " + e.InnerException);
                Equal(AnafStatus.Cancelled, inner.Status, "status");
                Equal("cancelled", inner.Code, "code");
            }
            sandbox.ClearFaults();
        });

        Test("cancellation: an already cancelled token starts nothing", () =>
        {
            var task = client.EFactura.StatusAsync(uploadId, new CancellationToken(true));
            Check(task.IsCanceled, "canceled at once, state " + task.Status);
        });

        Test("cancellation: an upload cancelled after sending reports its outcome as unknown", () =>
        {
            sandbox.InjectFault("{\"endpoint\":\"efactura.upload\",\"fault\":{\"kind\":\"latency\",\"ms\":5000},\"times\":1}");
            using (var cts = new CancellationTokenSource(300))
            {
                var task = client.EFactura.UploadAsync(Utf8(Sandbox.SampleInvoice("DN-CANCEL-2", Seller, Buyer)), Seller, null, UploadFlags.None, cts.Token);
                var e = ThrowsAsync<OperationCanceledException>(() => task, "cancelled upload");
                var inner = (CancelledException)e.InnerException;
                Check(inner.UploadOutcomeUnknown, "UploadOutcomeUnknown: " + inner.Json);
            }
            sandbox.ClearFaults();
        });

        Test("cancellation: a token that is never cancelled changes nothing", () =>
        {
            using (var cts = new CancellationTokenSource())
            {
                var state = client.EFactura.StatusAsync(uploadId, cts.Token).GetAwaiter().GetResult();
                Equal("ok", state.GetString("state"), "state");
            }
        });
        client.Dispose();
    }

    private static void Errors()
    {
        AnafClient client = LoggedInClient();

        Test("error: ANAF's Romanian text reaches C# byte for byte (verify signature, HTTP 400)", () =>
        {
            var e = Throws<InvalidInputException>(() => client.EFactura.VerifySignature(Utf8("<x/>"), Utf8("<y/>")), "bad documents");
            Equal(AnafStatus.InvalidInput, e.Status, "status");
            Equal("invalid_input", e.Code, "code");
            Equal(400, e.HttpStatus, "HTTP status");
            const string expected = "Eroare tehnic\u0103: request incorect. Cauza: cel pu\u021bin unul din documente NU a fost \u00eenc\u0103rcat sau NU este un fisier de tip XML specific facturii electronice.";
            Check(Utf8(expected).SequenceEqual(Utf8(e.AnafMessage ?? "")), "exact text, got <" + e.AnafMessage + ">");
            Check(e.Message.Contains("cel pu\u021bin"), "the message quotes it: " + e.Message);
            Check(JsonNode.Parse(e.Json).GetString("anaf_message") == expected, "the error JSON has it: " + e.Json);
            Check(e.RetryAfterMs == -1 && e.Limit == -1 && !e.UploadOutcomeUnknown, "other fields unset");
        });

        Test("error: unknown upload id is NotFoundException with ANAF's text", () =>
        {
            var e = Throws<NotFoundException>(() => client.EFactura.Status(4999999999), "unknown upload");
            Equal(AnafStatus.NotFound, e.Status, "status");
            Check(e.AnafMessage != null && e.AnafMessage.Contains("4999999999"), "ANAF's text: " + e.AnafMessage);
        });

        Test("error: async errors arrive as the same typed exception", () =>
        {
            var e = ThrowsAsync<NotFoundException>(() => client.EFactura.StatusAsync(4999999999), "unknown upload, async");
            Check(e.AnafMessage != null, "ANAF's text");
        });

        Test("error: typed exceptions per kind (403, 429, WAF, reset, no CIF right, OAuth, 500)", () =>
        {
            sandbox.InjectFault("{\"endpoint\":\"efactura.status\",\"fault\":{\"kind\":\"status\",\"status\":403},\"times\":1}");
            Equal(403, Throws<ForbiddenException>(() => client.EFactura.Status(1), "403").HttpStatus, "403 status");

            sandbox.InjectFault("{\"endpoint\":\"efactura.list\",\"fault\":{\"kind\":\"status\",\"status\":429},\"times\":1}");
            var limited = Throws<RateLimitedException>(() => client.EFactura.ListMessages(Seller, 1), "429");
            Equal(429, limited.HttpStatus, "429 status");

            sandbox.InjectFault("{\"endpoint\":\"efactura.status\",\"fault\":{\"kind\":\"waf_block\"},\"times\":1}");
            Throws<WafRejectedException>(() => client.EFactura.Status(1), "WAF block page");

            sandbox.InjectFault("{\"endpoint\":\"efactura.upload\",\"fault\":{\"kind\":\"reset\"},\"times\":1}");
            var reset = Throws<TransportException>(() => client.EFactura.Upload(Utf8(Sandbox.SampleInvoice("DN-RESET-1", Seller, Buyer)), Seller), "reset");
            Check(reset.UploadOutcomeUnknown, "a reset upload's outcome is unknown");

            sandbox.InjectFault("{\"endpoint\":\"efactura.upload\",\"fault\":{\"kind\":\"status\",\"status\":500},\"times\":1}");
            var server = Throws<AnafException>(() => client.EFactura.Upload(Utf8(Sandbox.SampleInvoice("DN-500-1", Seller, Buyer)), Seller), "500");
            Equal(500, server.HttpStatus, "500 status");

            Throws<NoCifRightException>(() => client.EFactura.ListMessages(Partner, 1), "a CIF the user does not represent");

            using (var fresh = new AnafClient(SandboxOptions()))
            {
                Throws<OAuthException>(() => fresh.OAuth.ExchangeCode("not-a-code"), "bad code");
                Throws<UnauthorizedException>(() => fresh.Hello("x"), "not logged in");
            }
            sandbox.ClearFaults();
        });

        Test("invalid input: null arguments throw ArgumentNullException before the call; bad values InvalidInputException", () =>
        {
            Equal("name", Throws<ArgumentNullException>(() => client.Hello(null), "null name").ParamName, "param");
            Equal("xml", Throws<ArgumentNullException>(() => client.EFactura.Upload(null, Seller), "null xml").ParamName, "param");
            Equal("cif", Throws<ArgumentNullException>(() => client.EFactura.ListMessagesAsync(null, 1), "null cif, async, thrown at once").ParamName, "param");
            Throws<ArgumentException>(() => client.Hello("a\0b"), "embedded NUL");
            var filter = Throws<InvalidInputException>(() => client.EFactura.ListMessages(Seller, 1, "bogus"), "unknown filter");
            // (The library names the field "code" here, not "filter": reported, not asserted.)
            Check(filter.Message.Contains("bogus") && filter.HttpStatus == 0, "refused before any request: " + filter.Message);
            var days = Throws<InvalidInputException>(() => client.EFactura.ListMessages(Seller, 61), "61 days");
            Check(days.Message.Length > 0, "a message");
            var flags = Throws<InvalidInputException>(() => client.EFactura.Upload(Utf8("<x/>"), Seller, null, (UploadFlags)64), "unknown flag");
            Equal("flags", flags.Field, "field");
            var asyncBad = ThrowsAsync<InvalidInputException>(() => client.EFactura.UploadAsync(Utf8("<x/>"), Seller, null, (UploadFlags)64), "bad argument, async");
            Equal("flags", asyncBad.Field, "async field");
            Throws<InvalidInputException>(() => sandbox.InjectFault("{not json"), "bad sandbox JSON");
            Throws<ArgumentNullException>(() => new ClientOptions().SetBaseUrl(null), "null base URL");
            Throws<InvalidInputException>(() => new ClientOptions().SetEnvironment("staging"), "unknown environment");
        });
        client.Dispose();
    }

    private static void TokenStoreAndEvents()
    {
        string saved = null;
        int saves = 0, loads = 0, clears = 0;
        var events = new List<string>();
        var refusals = new List<string>();
        AnafClient probe = null;

        Test("token store: save is called with the tokens after ExchangeCode", () =>
        {
            var store = new TokenStore(
                () => { Interlocked.Increment(ref loads); return saved; },
                json => { saved = json; Interlocked.Increment(ref saves); })
                .SetClear(() => { saved = null; Interlocked.Increment(ref clears); })
                .SetSharingKey("dotnet-tests:first");
            using (var options = SandboxOptions().SetTokenStore(store))
            {
                options.SetTokenEventCallback(json =>
                {
                    lock (events) events.Add(json);
                    // A blocking call from a library thread is refused, not deadlocked.
                    if (probe != null)
                    {
                        try { probe.OAuth.TokenStatus(); lock (refusals) refusals.Add("allowed"); }
                        catch (InvalidInputException e) { lock (refusals) refusals.Add(e.Field); }
                    }
                    throw new InvalidOperationException("an exception in a callback must not reach native code");
                });
                store.Dispose(); // the options keep what they need
                using (var client = new AnafClient(options))
                {
                    probe = client;
                    client.OAuth.ExchangeCode(sandbox.Authorize());
                    Check(saves >= 1, "save called");
                    Check(saved != null && saved.Contains("refresh_token"), "saved JSON has refresh_token");
                    client.Hello("store");
                    WaitFor(() => { lock (refusals) return refusals.Count > 0; }, "a token event");
                    probe = null;
                }
            }
        });

        Test("token events: JSON events arrive; a blocking call inside one is refused (field \"thread\")", () =>
        {
            lock (events)
            {
                Check(events.Count >= 1, "events");
                Check(events.All(e => JsonNode.Parse(e).GetString("event") != null), "each has an event name: " + string.Join(" ", events));
                Check(events.All(e => !e.Contains("refresh_token\":\"")), "no secrets in events");
            }
            lock (refusals) Equal("thread", refusals[0], "refusal field");
        });

        Test("token store: a second client from the same store loads the tokens", () =>
        {
            int before = loads;
            var store = new TokenStore(() => { Interlocked.Increment(ref loads); return saved; }, json => { saved = json; });
            using (var options = SandboxOptions().SetTokenStore(store))
            using (var client = new AnafClient(options))
            {
                Check(client.Hello("again").Root.AsString().StartsWith("Hello, again"), "logged in from the store");
                Check(loads > before, "load called");
                client.OAuth.ClearTokens();
                Check(clears == 0, "the second store has no clear callback");
            }
        });

        Test("token store: a throwing save becomes a save_failed event, not a crash", () =>
        {
            var failed = new List<string>();
            var store = new TokenStore(() => null, json => { throw new InvalidOperationException("disk full"); });
            using (var options = SandboxOptions().SetTokenStore(store).SetTokenEventCallback(json => { lock (failed) failed.Add(json); }))
            using (var client = new AnafClient(options))
            {
                try { client.OAuth.ExchangeCode(sandbox.Authorize()); }
                catch (AnafException) { /* a failed save may be reported by the call itself */ }
                WaitFor(() => { lock (failed) return failed.Any(e => e.Contains("save_failed")); }, "a save_failed event");
            }
        });

        Test("upload and wait: the polling settings are followed, the upload sent once", () =>
        {
            using (var slow = Sandbox.Start("{\"processing_delay_ms\": 60000}"))
            using (var options = slow.Configure(new ClientOptions()))
            using (var client = new AnafClient(options))
            {
                client.OAuth.ExchangeCode(slow.Authorize());
                var wait = new WaitOptions { FirstPoll = TimeSpan.Zero, MaxInterval = TimeSpan.FromMilliseconds(50), MaxPolls = 2 };
                var result = client.EFactura.UploadAndWait(Utf8(Sandbox.SampleInvoice("DN-POLL-1", Seller, Buyer)), Seller, null, UploadFlags.None, wait);
                Equal("in_progress", result["state"].GetString("state"), "still processing");
                Check(result.Json.Contains("\"polls\":2"), "two polls: " + result.Json);
                Check(slow.Uploads(Seller).Split(new[] { "\"upload_id\"" }, StringSplitOptions.None).Length == 2, "sent once");
                var asyncResult = client.EFactura.UploadAndWaitAsync(Utf8(Sandbox.SampleInvoice("DN-POLL-2", Seller, Buyer)), Seller, null, UploadFlags.None,
                    new WaitOptions { FirstPoll = TimeSpan.Zero, MaxPolls = 1 }).GetAwaiter().GetResult();
                Check(asyncResult.Json.Contains("\"polls\":1"), "one poll: " + asyncResult.Json);
            }
        });

        Test("token store: SaveTokens saves the pair a refused save kept in memory", () =>
        {
            bool refuse = true;
            string stored = null;
            var store = new TokenStore(() => stored, json => { if (refuse) throw new InvalidOperationException("database down"); stored = json; });
            using (var options = SandboxOptions().SetTokenStore(store))
            using (var client = new AnafClient(options))
            {
                try { client.OAuth.ExchangeCode(sandbox.Authorize()); }
                catch (InternalException) { /* the refused save is reported by the call */ }
                Check(client.OAuth.TokenStatus().Root["unsaved"].AsBoolean(), "unsaved after a refused save");
                refuse = false;
                client.OAuth.SaveTokens();
                Check(stored != null && stored.Contains("refresh_token"), "saved by SaveTokens");
                Check(!client.OAuth.TokenStatus().Root["unsaved"].AsBoolean(), "nothing unsaved");
            }
        });
    }

    private static void StateDatabase()
    {
        Test("Submit sends an invoice once and settles a lost answer; the quota ledger refuses over the limit", () =>
        {
            // A sandbox of its own: the shared one's clock was moved by an earlier test, and the
            // search for a lost answer reads ANAF's list up to now.
            using (var own = Sandbox.Start("{\"instant\": true}"))
            using (var options = own.Configure(new ClientOptions()).SetStateDatabase("sqlite::memory:"))
            using (var client = new AnafClient(options))
            {
                client.OAuth.ExchangeCode(own.Authorize());
                // ANAF stores it, then the answer is lost.
                own.InjectFault("{\"endpoint\": \"efactura.upload\", \"fault\": {\"kind\": \"accept_then_drop\"}, \"times\": 1}");
                var xml = Utf8(Sandbox.SampleInvoice("DN-SUBMIT-1", Seller, Buyer));
                Equal("unknown", client.EFactura.Submit(xml, Seller).Root.GetString("state"), "the answer was lost");
                var record = client.EFactura.SubmitAsync(xml, Seller).GetAwaiter().GetResult().Root;
                Equal("uploaded", record.GetString("state"), "found in ANAF's list");
                Equal(1L, record["attempts"].AsInt64(), "sent once");
                var copies = 0;
                foreach (var upload in JsonNode.Parse(own.Uploads(Seller)).Items)
                {
                    if (upload.GetString("document_number") == "DN-SUBMIT-1") copies++;
                }
                Equal(1, copies, "one copy at ANAF");
                Equal(1, client.EFactura.Submissions(Seller, "uploaded").Root.Count, "the journal");
                Equal(0, client.EFactura.ResumeSubmissionsAsync().GetAwaiter().GetResult().Root.Count, "nothing unsettled");
                Check(client.QuotaUsage().Json.Contains("\"counter\":\"list_paged\""), "the search was counted");
            }
            using (var options = SandboxOptions().SetStateDatabase("sqlite::memory:").SetDailyLimit(1))
            using (var client = new AnafClient(options))
            {
                client.OAuth.ExchangeCode(sandbox.Authorize());
                client.EFactura.ListMessages(Seller, 1);
                var e = Throws<QuotaExhaustedException>(() => client.EFactura.ListMessages(Seller, 1), "over the ledger's limit");
                Equal(1L, e.Limit, "limit");
                Check(e.RetryAfterMs > 0, "time to midnight in Bucharest");
            }
            using (var client = LoggedInClient())
            {
                var e = Throws<InvalidInputException>(() => client.EFactura.Submit(Utf8("<x/>"), Seller), "no state database");
                Equal("state", e.Field, "field");
            }
        });

        Test("Sync archives every message once into a folder, with progress", () =>
        {
            var folder = Path.Combine(Path.GetTempPath(), "anaf-dotnet-archive-" + Guid.NewGuid().ToString("N"));
            using (var own = Sandbox.Start("{\"instant\": true}"))
            using (var options = own.Configure(new ClientOptions()))
            using (var client = new AnafClient(options))
            {
                client.OAuth.ExchangeCode(own.Authorize());
                own.SeedReceivedInvoices("{\"cif\": \"" + Seller + "\", \"count\": 7, \"days_back\": 3}");
                var seen = new List<long>();
                var report = client.EFactura.Sync(Seller, folder, "received", null, false, p => { lock (seen) seen.Add(p["archived"].AsInt64()); }).Root;
                Equal(7L, report["progress"]["archived"].AsInt64(), "archived");
                Equal(0, report["failures"].Count, "no failures");
                Check(seen.Count >= 8 && seen[seen.Count - 1] == 7L, "progress: " + string.Join(",", seen));
                var received = Directory.GetDirectories(Path.Combine(folder, Seller, "received"), "*", SearchOption.AllDirectories)
                    .Count(d => File.Exists(Path.Combine(d, "message.json")));
                Equal(7, received, "one folder per message");
                var again = client.EFactura.SyncAsync(Seller, folder).GetAwaiter().GetResult().Root;
                Equal(0L, again["progress"]["archived"].AsInt64(), "nothing downloaded again");
                Equal(7L, again["progress"]["already_archived"].AsInt64(), "already archived");
            }
            Directory.Delete(folder, true);
        });

        Test("Tokens in the state database are one login for every program that opens it", () =>
        {
            var path = Path.Combine(Path.GetTempPath(), "anaf-dotnet-tokens-" + Guid.NewGuid().ToString("N") + ".db");
            using (var options = SandboxOptions().SetStateDatabase(path).SetDatabaseTokens("company-42"))
            using (var client = new AnafClient(options))
            {
                client.OAuth.ExchangeCode(sandbox.Authorize());
            }
            // A program started later (or on another machine, with postgres://) logs in by itself.
            using (var options = SandboxOptions().SetStateDatabase(path).SetDatabaseTokens("company-42"))
            using (var client = new AnafClient(options))
            {
                Check(client.Hello("later").Root.AsString().StartsWith("Hello, later"), "the stored login works");
            }
            using (var options = new ClientOptions().SetDatabaseTokens("company-42"))
            {
                Throws<InvalidInputException>(() => new AnafClient(options), "no state database");
            }
            foreach (var suffix in new[] { "", "-wal", "-shm", "-tokens.lock" })
            {
                File.Delete(path + suffix);
            }
        });
    }

    private static void Misc()
    {
        Test("log callback receives lines and can be switched off", () =>
        {
            var lines = new List<string>();
            AnafLibrary.SetLogCallback(AnafLogLevel.Debug, (level, target, message) =>
            {
                lock (lines) lines.Add(level + " " + target + " " + message);
                throw new Exception("ignored");
            });
            using (var client = new AnafClient(SandboxOptions()))
            {
                client.OAuth.AuthorizationUrl("st");
                try { client.EFactura.Status(1); } catch (AnafException) { }
            }
            WaitFor(() => { lock (lines) return lines.Count > 0; }, "a log line");
            AnafLibrary.SetLogCallback(AnafLogLevel.Off, null);
            lock (lines) Check(lines.All(l => !l.Contains("Bearer")), "no tokens in logs");
        });

        Test("callback registrations are released when the library is done with them", () =>
        {
            int before = Registry.Count;
            var store = new TokenStore(() => null, json => { });
            var options = SandboxOptions().SetTokenStore(store).SetTokenEventCallback(json => { });
            var client = new AnafClient(options);
            client.OAuth.ExchangeCode(sandbox.Authorize());
            Equal(before + 2, Registry.Count, "store and event callback registered");
            store.Dispose();
            options.Dispose();
            Equal(before + 2, Registry.Count, "still used by the client");
            client.Dispose();
            WaitFor(() => Registry.Count == before, "the library's release calls");
        });

        Test("desktop login: URL and certificate callbacks fire; cancelling ends it", () =>
        {
            string url = null, pem = null;
            using (var client = new AnafClient(SandboxOptions()))
            using (var cts = new CancellationTokenSource())
            {
                Task<AnafResult> task;
                using (var login = new LoginOptions().SetOpenBrowser(false).SetTimeout(TimeSpan.FromSeconds(30))
                    .SetUrlCallback(u => url = u).SetCertificateCallback(p => pem = p))
                {
                    task = client.OAuth.LoginInteractiveAsync(login, cts.Token);
                }
                WaitFor(() => url != null || task.IsCompleted, "the authorization URL");
                Check(url != null && url.StartsWith(sandbox.BaseUrl) && url.Contains("response_type=code"), "URL: " + url + " " + task.Status);
                Check(pem != null && pem.StartsWith("-----BEGIN CERTIFICATE-----"), "listener certificate");
                cts.Cancel();
                ThrowsAsync<OperationCanceledException>(() => task, "cancelled login");
            }
        });

        Test("runtime shutdown, then calls start it again", () =>
        {
            using (var client = LoggedInClient())
            {
                AnafLibrary.ShutdownRuntime(TimeSpan.FromSeconds(5));
                Check(client.Hello("again").Root.AsString().StartsWith("Hello, again"), "blocking call after shutdown");
                Check(client.HelloAsync("async").GetAwaiter().GetResult().Root.AsString().StartsWith("Hello, async"), "async call after shutdown");
                Throws<InvalidInputException>(() => AnafLibrary.ConfigureRuntime(4), "configure once running");
            }
        });

        Test("AuthorizationUrl has no I/O and keeps the state", () =>
        {
            using (var client = new AnafClient(SandboxOptions()))
            {
                var url = client.OAuth.AuthorizationUrl("\u0219tate-1");
                Equal("\u0219tate-1", url.GetString("state"), "state round trip");
                Check(url.GetString("url").StartsWith(sandbox.BaseUrl), "URL at the sandbox");
            }
        });

        Test("sandbox admin: uploads, requests, seeding, identities, clock", () =>
        {
            Check(JsonNode.Parse(sandbox.Uploads(Seller)).Count >= 2, "uploads recorded");
            Check(JsonNode.Parse(sandbox.Requests()).Count > 0, "requests recorded");
            var ids = JsonNode.Parse(sandbox.SeedReceivedInvoices("{\"cif\": \"" + Buyer + "\", \"count\": 3, \"days_back\": 2}"));
            Equal(3, ids.Count, "seeded");
            var identity = JsonNode.Parse(sandbox.AddIdentity("{\"name\": \"Ana Ionescu\", \"cifs\": [\"" + Partner + "\"], \"services\": [\"efactura\"]}"));
            Check(identity.GetString("serial") != null, "identity serial: " + identity);
            var app = JsonNode.Parse(sandbox.RegisterApp("{\"name\": \"Aplica\u021bie\", \"redirect_uris\": [\"https://localhost:9443/cb\"], \"services\": [\"efactura\"]}"));
            Check(app.GetString("client_id") != null, "app client id");
            sandbox.SetCompany("{\"cif\": \"" + Partner + "\", \"name\": \"Firm\u0103 \u0218I \u021aARA SRL\"}");
            var found = new AnafClient(SandboxOptions()).Public.LookupTaxpayers(Partner);
            Check(found.Json.Contains("Firm\u0103 \u0218I \u021aARA SRL"), "company name round trip: " + found.Json);
            sandbox.AdvanceClock(TimeSpan.FromSeconds(1));
        });
    }
}
