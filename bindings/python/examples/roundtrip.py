"""An invoice's round trip through RO e-Factura, against the embedded sandbox (no network, no
certificate). Against ANAF itself only the client's options change:

    client = anaf.Client(environment="prod", client_id=..., client_secret=...,
                         redirect_uri="https://localhost:8443/callback", token_file="tokens.json")
    client.login_interactive()   # once: the user picks the certificate in the browser
"""

import anaf

with anaf.Sandbox(instant=True) as sandbox:
    # README: start
    client = anaf.Client(**sandbox.client_options())
    client.exchange_code(sandbox.authorize())  # the code the browser brings back

    xml = anaf.Sandbox.sample_invoice("F-2026-001", "8000000000", "12345674")
    try:
        submission = client.upload_and_wait(xml, "8000000000")
    except anaf.RateLimitedError as e:
        raise SystemExit(f"ANAF asks to wait {e.retry_after} s")
    except anaf.AnafError as e:
        # e.anaf_message is ANAF's own (Romanian) text; e.code is stable ("no_cif_right", ...)
        raise SystemExit(f"{e.code}: {e.anaf_message or e}")
    print("upload", submission.receipt.upload_id, "is", submission.state.state)

    if submission.state.download_id is not None:
        archive = client.download(submission.state.download_id)
        print("answer ZIP:", len(archive.zip), "bytes;", archive.document_name)
    for message in client.list_messages("8000000000", days=1):
        print(message.created_at, message.kind, message.details)
    # README: end
print("python example: round trip done")
