// An invoice's round trip through RO e-Factura with the C# binding, against the embedded
// sandbox (no network, no certificate): log in with a code, upload, wait for ANAF's answer,
// download it, list the messages. Against ANAF itself, only the options change:
//     new ClientOptions().SetEnvironment("prod")
//         .SetApplication(clientId, clientSecret, "https://localhost:8443/callback")
//         .SetTokenFile("anaf-tokens.json")
// and the code comes from client.OAuth.LoginInteractive() (the user picks the certificate).

using System;
using System.Text;
using System.Threading;
using Anaf;

public static class RoundTrip
{
    public static int Main()
    {
        const string cif = "8000000000";    // the seller, represented by the sandbox's user
        const string buyer = "12345674";

        using (var sandbox = Sandbox.Start("{\"instant\": true}"))
        using (var options = sandbox.Configure(new ClientOptions()))
        using (var client = new AnafClient(options))
        {
            Console.WriteLine("sandbox at " + sandbox.BaseUrl);
            client.OAuth.ExchangeCode(sandbox.Authorize());
            Console.WriteLine("logged in: " + client.Hello("vendor").Root.AsString().Split('\n')[0]);

            byte[] xml = Encoding.UTF8.GetBytes(Sandbox.SampleInvoice("FCT-0001", cif, buyer));
            try
            {
                AnafResult receipt = client.EFactura.Upload(xml, cif);
                ulong uploadId = receipt["upload_id"].AsUInt64();
                Console.WriteLine("uploaded: upload_id " + uploadId);

                AnafResult state = client.EFactura.Status(uploadId);
                while (state.GetString("state") == "in_progress")
                {
                    Thread.Sleep(1000);
                    state = client.EFactura.Status(uploadId);
                }
                Console.WriteLine("state: " + state.GetString("state"));

                if (state.GetString("state") == "ok")
                {
                    AnafResult answer = client.EFactura.Download(state["download_id"].AsUInt64());
                    Console.WriteLine("downloaded: " + answer.Bytes.Length + " bytes of ZIP, " + answer.GetString("document_name"));
                }
            }
            catch (AnafException e)
            {
                Console.WriteLine(e.Code + ": " + e.Message + " (ANAF: " + e.AnafMessage + ")");
                if (e.UploadOutcomeUnknown)
                    Console.WriteLine("the invoice may be at ANAF: look for it before sending it again");
                return 1;
            }

            foreach (JsonNode message in client.EFactura.ListMessages(cif, 1).Root.Items)
                Console.WriteLine("message " + message.GetString("id") + ": " + message.GetString("details"));
        }
        Console.WriteLine("example: round trip done");
        return 0;
    }
}
