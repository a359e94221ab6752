{ roundtrip.dpr: the Delphi binding against the embedded sandbox, end to end.

  Login without a browser, TestOauth, an e-Factura upload, its state, the answer ZIP, the
  message list and stream, a token store kept in Pascal variables, and ANAF's errors as typed
  exceptions with ANAF's Romanian text. One line per step; any failed check prints why and
  exits with code 1. The last line is "delphi example: round trip done".

  Free Pascal: fpc -Mdelphi -Fu<dir of Anaf.pas> -Fl<dir of libanaf.so> roundtrip.dpr
  Delphi: add ..\Anaf.pas to the project, put anaf.dll (of the program's bitness) next to the
  .exe. }
program roundtrip;

{$IFDEF FPC}
  {$MODE DELPHIUNICODE}
{$ENDIF}
{$IFDEF MSWINDOWS}
  {$APPTYPE CONSOLE}
{$ENDIF}

uses
  // The library calls back on its own threads: Free Pascal on Unix needs its thread manager
  // (cthreads, first) and, for AnsiString conversions such as Exception.Message, cwstring.
  {$IFDEF UNIX}
  cthreads,
  cwstring,
  {$ENDIF}
  {$IFDEF MSWINDOWS}
  Windows,
  {$ENDIF}
  SysUtils,
  SyncObjs,
  {$IFDEF FPC}
  fpjson,
  jsonparser,
  {$ELSE}
  System.JSON,
  {$ENDIF}
  Anaf;

const
  SellerCif = '8000000000';
  BuyerCif = '12345674';

// ---------------------------------------------------------------------------------------
// Checks and output.
// ---------------------------------------------------------------------------------------

procedure Fail(const Why: string);
begin
  Writeln('delphi example: FAILED: ', Why);
  Halt(1);
end;

procedure Check(Condition: Boolean; const Why: string);
begin
  if not Condition then
    Fail(Why);
end;

procedure Step(const Name, Detail: string);
begin
  Writeln(Format('%-22s %s', [Name, Detail]));
end;

// ---------------------------------------------------------------------------------------
// JSON: fpjson with Free Pascal, System.JSON with Delphi; paths like 'state.download_id' or
// '[0].upload_id' ('' is the root).
// ---------------------------------------------------------------------------------------

type
  {$IFDEF FPC}
  TJsonNode = TJSONData;
  {$ELSE}
  TJsonNode = TJSONValue;
  {$ENDIF}

function ParseJson(const Text: string): TJsonNode;
begin
  {$IFDEF FPC}
  Result := GetJSON(UTF8Encode(Text));
  {$ELSE}
  Result := TJSONObject.ParseJSONValue(Text);
  {$ENDIF}
  if Result = nil then
    Fail('not JSON: ' + Text);
end;

function FindNode(Root: TJsonNode; const Path: string): TJsonNode;
begin
  if Path = '' then
    Exit(Root);
  {$IFDEF FPC}
  Result := Root.FindPath(UTF8Encode(Path));
  if (Result <> nil) and (Result.JSONType = jtNull) then
    Result := nil;
  {$ELSE}
  Result := Root.FindValue(Path);
  if Result is TJSONNull then
    Result := nil;
  {$ENDIF}
end;

// The text of a string (or number) at Path, '' when absent or null.
function JsonText(Root: TJsonNode; const Path: string): string;
var
  Node: TJsonNode;
begin
  Node := FindNode(Root, Path);
  if Node = nil then
    Exit('');
  {$IFDEF FPC}
  Result := UTF8Decode(Node.AsString);
  {$ELSE}
  Result := Node.Value;
  {$ENDIF}
end;

// The integer at Path, -1 when absent or null.
function JsonInt(Root: TJsonNode; const Path: string): Int64;
var
  Node: TJsonNode;
begin
  Node := FindNode(Root, Path);
  if Node = nil then
    Exit(-1);
  {$IFDEF FPC}
  Result := Node.AsInt64;
  {$ELSE}
  Result := (Node as TJSONNumber).AsInt64;
  {$ENDIF}
end;

// The length of the array at Path, -1 when it is not an array.
function JsonCount(Root: TJsonNode; const Path: string): Integer;
var
  Node: TJsonNode;
begin
  Node := FindNode(Root, Path);
  {$IFDEF FPC}
  if (Node = nil) or (Node.JSONType <> jtArray) then
    Exit(-1);
  Result := Node.Count;
  {$ELSE}
  if not (Node is TJSONArray) then
    Exit(-1);
  Result := TJSONArray(Node).Count;
  {$ENDIF}
end;

// Parses, reads one value, frees.
function JsonTextOf(const Text, Path: string): string;
var
  Root: TJsonNode;
begin
  Root := ParseJson(Text);
  try
    Result := JsonText(Root, Path);
  finally
    Root.Free;
  end;
end;

function JsonIntOf(const Text, Path: string): Int64;
var
  Root: TJsonNode;
begin
  Root := ParseJson(Text);
  try
    Result := JsonInt(Root, Path);
  finally
    Root.Free;
  end;
end;

// The UTF-8 bytes of S, as hex ("C4 83 ...").
function Utf8Hex(const S: string): string;
var
  B: TBytes;
  I: Integer;
begin
  B := AnafUtf8Bytes(S);
  Result := '';
  for I := 0 to High(B) do
  begin
    if I > 0 then
      Result := Result + ' ';
    Result := Result + IntToHex(B[I], 2);
  end;
end;

// ---------------------------------------------------------------------------------------
// A token store that keeps the tokens' JSON in a Pascal variable. Its methods run on the
// library's threads, so everything they touch is guarded by a critical section.
// ---------------------------------------------------------------------------------------

type
  TMemoryTokens = class
  private
    FLock: TCriticalSection;
    FJson: string;
    FLoads: Integer;
    FSaves: Integer;
    FClears: Integer;
  public
    constructor Create;
    destructor Destroy; override;
    function Load(out TokensJson: string): Boolean;
    procedure Save(const TokensJson: string);
    procedure Clear;
    function Json: string;
    function Loads: Integer;
    function Saves: Integer;
  end;

constructor TMemoryTokens.Create;
begin
  inherited Create;
  FLock := TCriticalSection.Create;
end;

destructor TMemoryTokens.Destroy;
begin
  FLock.Free;
  inherited;
end;

function TMemoryTokens.Load(out TokensJson: string): Boolean;
begin
  FLock.Enter;
  try
    Inc(FLoads);
    TokensJson := FJson;
    Result := FJson <> '';
  finally
    FLock.Leave;
  end;
end;

procedure TMemoryTokens.Save(const TokensJson: string);
begin
  FLock.Enter;
  try
    Inc(FSaves);
    FJson := TokensJson;
  finally
    FLock.Leave;
  end;
end;

procedure TMemoryTokens.Clear;
begin
  FLock.Enter;
  try
    Inc(FClears);
    FJson := '';
  finally
    FLock.Leave;
  end;
end;

function TMemoryTokens.Json: string;
begin
  FLock.Enter;
  try
    Result := FJson;
  finally
    FLock.Leave;
  end;
end;

function TMemoryTokens.Loads: Integer;
begin
  FLock.Enter;
  try
    Result := FLoads;
  finally
    FLock.Leave;
  end;
end;

function TMemoryTokens.Saves: Integer;
begin
  FLock.Enter;
  try
    Result := FSaves;
  finally
    FLock.Leave;
  end;
end;

// ---------------------------------------------------------------------------------------
// Log lines, received on the library's threads (several at once).
// ---------------------------------------------------------------------------------------

type
  TLogLines = class
  private
    FLock: TCriticalSection;
    FCount: Integer;
    FText: string;
  public
    constructor Create;
    procedure Add(Level: Integer; const Target, Text: string);
    function Count: Integer;
    function Contains(const Part: string): Boolean;
  end;

constructor TLogLines.Create;
begin
  inherited Create;
  FLock := TCriticalSection.Create;
end;

type
  // The archive sync's progress (one sync at a time calls it, from a library thread).
  TSyncProgress = class
  public
    Calls: Integer;
    Last: string;
    procedure Seen(const Text: string);
  end;

procedure TSyncProgress.Seen(const Text: string);
begin
  Inc(Calls);
  Last := Text;
end;

// Removes a folder and everything in it.
procedure RemoveTree(const Dir: string);
var
  Found: TSearchRec;
begin
  if FindFirst(IncludeTrailingPathDelimiter(Dir) + '*', faAnyFile or faDirectory, Found) = 0 then
  begin
    repeat
      if (Found.Name = '.') or (Found.Name = '..') then
        Continue;
      if (Found.Attr and faDirectory) <> 0 then
        RemoveTree(IncludeTrailingPathDelimiter(Dir) + Found.Name)
      else
        DeleteFile(IncludeTrailingPathDelimiter(Dir) + Found.Name);
    until FindNext(Found) <> 0;
    FindClose(Found);
  end;
  RemoveDir(Dir);
end;

procedure TLogLines.Add(Level: Integer; const Target, Text: string);
begin
  FLock.Enter;
  try
    Inc(FCount);
    FText := FText + IntToStr(Level) + ' ' + Target + ': ' + Text + #10;
  finally
    FLock.Leave;
  end;
end;

function TLogLines.Count: Integer;
begin
  FLock.Enter;
  try
    Result := FCount;
  finally
    FLock.Leave;
  end;
end;

function TLogLines.Contains(const Part: string): Boolean;
begin
  FLock.Enter;
  try
    Result := Pos(Part, FText) > 0;
  finally
    FLock.Leave;
  end;
end;

// ---------------------------------------------------------------------------------------
// The README's snippet: bindings/delphi/README.md quotes this function, and run-tests (like
// scripts/check-snippets) checks that the quote is still part of this file.
// ---------------------------------------------------------------------------------------

// Logs in, uploads one invoice and waits for ANAF's verdict; returns the result's JSON.
function UploadOneInvoice(Sandbox: TAnafSandbox): string;
var
  Options: TAnafOptions;
  Client: TAnafClient;
  Xml: TBytes;
begin
  Options := TAnafOptions.Create;
  try
    // Production: Options.SetEnvironment('prod') and Options.SetApplication(ClientId,
    // ClientSecret, RedirectUri) with the application registered in ANAF's portal.
    Sandbox.Configure(Options);
    Client := TAnafClient.Create(Options);
    try
      // Production: Client.LoginInteractive (the user picks the certificate in a browser).
      Client.ExchangeCode(Sandbox.Authorize);
      Xml := AnafUtf8Bytes(TAnafSandbox.SampleInvoice('README-1', '8000000000', '12345674'));
      try
        Result := Client.EFacturaUploadAndWait(Xml, '8000000000').Json;
      except
        on E: EAnafRateLimited do
          raise Exception.CreateFmt('try again in %d ms', [E.RetryAfterMs]);
        on E: EAnafError do
          // E.AnafMessage: ANAF's own words (Romanian); E.Code: "no_cif_right", ...
          raise Exception.Create(E.Code + ': ' + E.AnafMessage);
      end;
    finally
      Client.Free;
    end;
  finally
    Options.Free;
  end;
end;

// ---------------------------------------------------------------------------------------
// The round trip.
// ---------------------------------------------------------------------------------------

var
  Sandbox: TAnafSandbox;
  Memory: TMemoryTokens;
  Logs: TLogLines;
  Store, Store2: TAnafTokenStore;
  Options, Options2: TAnafOptions;
  Client, Client2: TAnafClient;
  Stream: TAnafMessageStream;
  Answer, Page: TAnafResult;
  Root: TJsonNode;
  Xml: TBytes;
  Text, State, Document, Signature, Romanian, AccessToken, RefreshedToken, TokensDb, ArchiveDir: string;
  Progress: TSyncProgress;
  UploadId, DownloadId, Total, Oldest: Int64;
  Polls, I, Found, Pages, Kinds: Integer;

begin
  // Print UTF-8 whatever the locale or the console says.
  {$IFDEF MSWINDOWS}
  SetConsoleOutputCP(CP_UTF8);
  {$ENDIF}
  SetTextCodePage(Output, CP_UTF8);

  // The library's logs, from its threads, to a Pascal object (kept until the end).
  Logs := TLogLines.Create;
  AnafSetLogHandler(ANAF_LOG_DEBUG, Logs.Add);

  Step('library', 'anaf ' + AnafVersion + ' (header ' + ANAF_VERSION_STRING + ')');
  Check(AnafVersion = ANAF_VERSION_STRING, 'the library is not the version of Anaf.pas');

  // The sandbox: ANAF's services on a loopback port; "instant": uploads are final at once.
  Sandbox := TAnafSandbox.Start('{"instant": true}');
  Check(Pos('http://127.0.0.1:', Sandbox.BaseUrl) = 1, 'base URL ' + Sandbox.BaseUrl);
  Root := ParseJson(Sandbox.Info);
  try
    Check(JsonCount(Root, 'identity.cifs') > 0, 'sandbox info without identity: ' + Sandbox.Info);
    Step('sandbox', Sandbox.BaseUrl + ', application ' +
      Copy(JsonText(Root, 'application.client_id'), 1, 8) + '...');
  finally
    Root.Free;
  end;

  // Options from the sandbox, tokens kept by the host through callbacks.
  Memory := TMemoryTokens.Create;
  Store := TAnafTokenStore.Create(Memory.Load, Memory.Save, Memory.Clear);
  Options := TAnafOptions.Create;
  Sandbox.Configure(Options);
  Options.SetTokenStore(Store);
  Client := TAnafClient.Create(Options);
  Step('client', 'options from the sandbox, callback token store');

  // Login: the sandbox gives a code as if the user had picked a certificate.
  Text := Sandbox.Authorize;
  Check(Text <> '', 'no authorization code');
  Answer := Client.ExchangeCode(Text);
  Check(JsonTextOf(Answer.Json, 'expires_at') <> '', 'exchange: ' + Answer.Json);
  Step('exchange code', 'access token until ' + JsonTextOf(Answer.Json, 'expires_at'));

  // The callback store saved the new tokens.
  Check(Memory.Saves >= 1, 'the token store''s save was not called');
  AccessToken := JsonTextOf(Memory.Json, 'access_token');
  Check(AccessToken <> '', 'saved tokens: no access_token');
  Step('token store save', IntToStr(Memory.Saves) + ' save(s), ' +
    IntToStr(Length(Memory.Json)) + ' characters kept in a Pascal string');

  // TestOauth.
  Answer := Client.Hello('Delphi');
  Text := JsonTextOf(Answer.Json, '');
  Check(Pos('Hello, Delphi', Text) = 1, 'hello: ' + Answer.Json);
  Step('hello', Copy(Text, 1, Pos(#10, Text) - 1));

  // The README's snippet: login, upload and wait, in a few lines.
  Text := UploadOneInvoice(Sandbox);
  Check(JsonTextOf(Text, 'state.state') = 'ok', 'upload and wait: ' + Text);
  Step('readme snippet', 'upload ' + JsonTextOf(Text, 'receipt.upload_id') + ': ok');

  // An upload, step by step.
  Xml := AnafUtf8Bytes(TAnafSandbox.SampleInvoice('DELPHI-1', SellerCif, BuyerCif));
  Answer := Client.EFacturaUpload(Xml, SellerCif);
  UploadId := JsonIntOf(Answer.Json, 'upload_id');
  Check(UploadId > 0, 'upload: ' + Answer.Json);
  Step('upload', 'invoice DELPHI-1 from ' + SellerCif + ' to ' + BuyerCif + ': upload ' +
    IntToStr(UploadId));

  // Its state, until final.
  Polls := 0;
  repeat
    Inc(Polls);
    Answer := Client.EFacturaStatus(UploadId);
    State := JsonTextOf(Answer.Json, 'state');
    if State = 'in_progress' then
      Sleep(200);
  until (State <> 'in_progress') or (Polls >= 50);
  Check(State = 'ok', 'status: ' + Answer.Json);
  DownloadId := JsonIntOf(Answer.Json, 'download_id');
  Check(DownloadId > 0, 'status without download_id: ' + Answer.Json);
  Step('status', State + ' after ' + IntToStr(Polls) + ' poll(s), download ' +
    IntToStr(DownloadId));

  // ANAF's answer: a ZIP (bytes exactly as received) and its contents as JSON.
  Answer := Client.EFacturaDownload(DownloadId);
  Check((Length(Answer.Bytes) > 4) and (Answer.Bytes[0] = Ord('P')) and
    (Answer.Bytes[1] = Ord('K')), 'download: not a ZIP');
  Root := ParseJson(Answer.Json);
  try
    Document := JsonText(Root, 'document');
    Signature := JsonText(Root, 'signature');
    Check(Pos('DELPHI-1', Document) > 0, 'download: the invoice is not in the ZIP');
    Check(Signature <> '', 'download: no signature');
    // The invoice's main fields, read by the library (fpjson and Delphi's JSON both take
    // dotted paths).
    Check(JsonText(Root, 'invoice_summary.number') = 'DELPHI-1', 'download: no invoice summary');
    Check(JsonText(Root, 'invoice_summary.seller.vat_id') <> '', 'download: no seller in the summary');
    Step('download', IntToStr(Length(Answer.Bytes)) + ' bytes of ZIP (PK...): ' +
      JsonText(Root, 'document_name') + ', ' + JsonText(Root, 'signature_name'));
  finally
    Root.Free;
  end;

  // The same ZIP opened again, without I/O.
  Answer := TAnafClient.EFacturaOpenArchive(Answer.Bytes);
  Check(JsonTextOf(Answer.Json, 'document') = Document, 'open archive: another document');
  Step('open archive', 'the saved ZIP gives the same invoice');

  // Upload and wait with its polling settings: no pause before the first poll, one poll.
  Answer := Client.EFacturaUploadAndWaitPolling(AnafUtf8Bytes(TAnafSandbox.SampleInvoice('DELPHI-POLL',
    SellerCif, BuyerCif)), SellerCif, '', 0, -1, 0, -1, 1);
  Check(JsonIntOf(Answer.Json, 'polls') = 1, 'upload and wait polling: ' + Answer.Json);
  Check(JsonTextOf(Answer.Json, 'state.state') = 'ok', 'upload and wait polling: ' + Answer.Json);
  Step('upload and wait', 'one poll, as asked: ' + JsonTextOf(Answer.Json, 'state.state'));

  // ANAF's signature check: its verdict is Romanian text with diacritics.
  Answer := Client.EFacturaVerifySignature(AnafUtf8Bytes(Document), AnafUtf8Bytes(Signature));
  Text := JsonTextOf(Answer.Json, 'message');
  Check(SameText(JsonTextOf(Answer.Json, 'valid'), 'true'), 'verify signature: ' + Answer.Json);
  // "Fișierele" (ș is U+0219, in UTF-8 C8 99).
  Check(Pos('Fi'#$0219'ierele', Text) = 1, 'verify signature: diacritics lost: ' + Text);
  Step('verify signature', 'valid: ' + Copy(Text, 1, 40) + '...');

  // The message list has the upload.
  Answer := Client.EFacturaListMessages(SellerCif, 1);
  Root := ParseJson(Answer.Json);
  try
    Found := 0;
    for I := 0 to JsonCount(Root, '') - 1 do
      if JsonInt(Root, Format('[%d].upload_id', [I])) = UploadId then
        Inc(Found);
    Check(Found = 1, 'list messages: upload ' + IntToStr(UploadId) + ' not there: ' +
      Answer.Json);
    Step('list messages', IntToStr(JsonCount(Root, '')) + ' message(s), upload ' +
      IntToStr(UploadId) + ' among them');
  finally
    Root.Free;
  end;

  // A stream of pages: 510 received invoices seeded over the last 30 days (ANAF serves 500
  // a page). Start 0 is clamped to ANAF's 60 days; end 0 is now, less a margin for clocks.
  Text := Sandbox.SeedReceivedInvoices('{"cif": "' + SellerCif + '", "count": 510, ' +
    '"days_back": 30}');
  Root := ParseJson(Text);
  try
    Check(JsonCount(Root, '') = 510, 'seed: ' + Copy(Text, 1, 200));
    UploadId := JsonInt(Root, '[0]');
  finally
    Root.Free;
  end;
  Stream := Client.EFacturaMessages(SellerCif, 0, 0, 'received');
  try
    Found := 0;
    Pages := 0;
    Total := -1;
    while Stream.Next(Page) do
    begin
      Inc(Pages);
      Root := ParseJson(Page.Json);
      try
        Inc(Found, JsonCount(Root, 'messages'));
        Total := JsonInt(Root, 'total_messages');
        for I := 0 to JsonCount(Root, 'messages') - 1 do
          if JsonInt(Root, Format('messages[%d].upload_id', [I])) = UploadId then
            Oldest := UploadId;
      finally
        Root.Free;
      end;
    end;
    Check(Pages >= 2, 'message stream: ' + IntToStr(Pages) + ' page(s)');
    Check((Found = Total) and (Found >= 500), 'message stream: ' + IntToStr(Found) +
      ' messages, ANAF counts ' + IntToStr(Total));
    Check(Oldest = UploadId, 'message stream: the oldest seeded invoice is missing');
    Check(Stream.EffectiveStart > 0, 'message stream: no effective start');
    Check(Stream.EffectiveEnd > Stream.EffectiveStart, 'message stream: no effective end');
    Step('message stream', IntToStr(Pages) + ' pages, ' + IntToStr(Found) +
      ' received invoices, the oldest among them');
  finally
    Stream.Free;
  end;

  // A second client, from other options and another store object over the same Pascal
  // variable: it loads the tokens the first one saved, and needs no login.
  Store2 := TAnafTokenStore.Create(Memory.Load, Memory.Save, Memory.Clear);
  Options2 := TAnafOptions.Create;
  Sandbox.Configure(Options2);
  Options2.SetTokenStore(Store2);
  Client2 := TAnafClient.Create(Options2);
  I := Memory.Loads;
  Answer := Client2.Hello('second client');
  Check(Pos('Hello, second client', JsonTextOf(Answer.Json, '')) = 1,
    'second client: ' + Answer.Json);
  Check(Memory.Loads > I, 'the second client did not load the tokens');
  Step('token store load', 'a second client loaded the saved tokens (' +
    IntToStr(Memory.Loads) + ' load(s))');
  // Everything is saved: SaveTokens has nothing to do, and must not fail.
  Client2.SaveTokens;
  // Logging out the second client clears the saved tokens through the store's OnClear.
  Client2.ClearTokens;
  Check(Memory.Json = '', 'clear: the tokens are still kept');
  Check(Client2.Tokens.IsNull, 'clear: the second client still has tokens');
  Step('token store clear', 'the second client logged out: the Pascal string is empty');
  Client2.Free;
  Options2.Free;
  Store2.Free;

  // The first client still holds its tokens: a refresh saves a new pair.
  I := Memory.Saves;
  Answer := Client.Refresh;
  Check(Memory.Saves > I, 'refresh: the new tokens were not saved');
  RefreshedToken := JsonTextOf(Memory.Json, 'access_token');
  Check((RefreshedToken <> '') and (RefreshedToken <> AccessToken), 'refresh: the same token');
  Answer := Client.TokenStatus;
  Check(SameText(JsonTextOf(Answer.Json, 'logged_in'), 'true'), 'token status: ' + Answer.Json);
  Step('refresh', 'a new pair, saved through the store (' + IntToStr(Memory.Saves) +
    ' saves)');

  // ANAF's public services: validation and PDF rendering, no login.
  Xml := AnafUtf8Bytes(TAnafSandbox.SampleInvoice('DELPHI-2', SellerCif, BuyerCif));
  Answer := Client.EFacturaValidate(Xml);
  Check(SameText(JsonTextOf(Answer.Json, 'valid'), 'true'), 'validate: ' + Answer.Json);
  Answer := Client.EFacturaToPdf(Xml, '', True);
  Check(JsonTextOf(Answer.Json, 'outcome') = 'pdf', 'to pdf: ' + Answer.Json);
  Check((Length(Answer.Bytes) > 4) and (Answer.Bytes[0] = Ord('%')) and
    (Answer.Bytes[1] = Ord('P')), 'to pdf: not a PDF');
  Step('validate, pdf', 'DELPHI-2 valid; PDF of ' + IntToStr(Length(Answer.Bytes)) + ' bytes');

  // RO e-Transport: a declaration, its state, the list.
  Answer := Client.ETransportUpload(AnafUtf8Bytes(TAnafSandbox.SampleTransport(SellerCif,
    'DELPHI-T1')), SellerCif);
  UploadId := JsonIntOf(Answer.Json, 'upload_id');
  Text := JsonTextOf(Answer.Json, 'uit');
  Check((UploadId > 0) and (Text <> ''), 'e-Transport upload: ' + Answer.Json);
  Answer := Client.ETransportStatus(UploadId);
  Check(JsonTextOf(Answer.Json, 'state') = 'ok', 'e-Transport status: ' + Answer.Json);
  Answer := Client.ETransportList(SellerCif, 1);
  Check(JsonIntOf(Answer.Json, '[0].upload_id') = UploadId, 'e-Transport list: ' + Answer.Json);
  Check(Pos('"DELPHI-T1"', Sandbox.Uploads(SellerCif)) > 0, 'sandbox uploads: no DELPHI-T1');
  Step('e-transport', 'declaration ' + IntToStr(UploadId) + ', UIT ' + Text + ': ok, listed');

  // ANAF's public VAT registry.
  Answer := Client.LookupTaxpayers(SellerCif);
  Check(JsonTextOf(Answer.Json, 'found[0].cif') = SellerCif, 'lookup: ' + Answer.Json);
  Step('lookup taxpayers', SellerCif + ': ' + JsonTextOf(Answer.Json, 'found[0].name'));

  // ANAF's Romanian text, kept: the signature service refuses documents that are not XML with
  // "Eroare tehnică: request incorect. Cauza: cel puțin unul din documente ...".
  Kinds := 0;
  try
    Client.EFacturaVerifySignature(AnafUtf8Bytes('not xml'), AnafUtf8Bytes('not xml'));
    Fail('verify signature accepted two texts that are not XML');
  except
    on E: EAnafInvalidInput do
    begin
      Romanian := E.AnafMessage;
      Check(E.Status = ANAF_INVALID_INPUT, 'invalid input: status ' + IntToStr(E.Status));
      Check(E.Code = 'invalid_input', 'invalid input: code ' + E.Code);
      Check(E.HttpStatus = 400, 'invalid input: HTTP ' + IntToStr(E.HttpStatus));
      Check(Pos('"anaf_message"', E.Json) > 0, 'invalid input: JSON ' + E.Json);
      Inc(Kinds);
    end;
  end;
  // "tehnică": ă is U+0103, C4 83 in UTF-8; "puțin": ț is U+021B, C8 9B.
  Check(Pos('Eroare tehnic'#$0103, Romanian) = 1, 'ANAF''s text: ' + Romanian);
  Check(Pos('pu'#$021B'in', Romanian) > 0, 'ANAF''s text: ' + Romanian);
  Check(Pos('74 65 68 6E 69 63 C4 83', Utf8Hex(Romanian)) > 0,
    'the UTF-8 bytes of ANAF''s text changed: ' + Utf8Hex(Romanian));
  Step('anaf message', Romanian);
  Step('', 'EAnafInvalidInput, UTF-8 kept: "tehnic' + #$0103 + '" = 74 65 68 6E 69 63 C4 83');

  // More kinds, each its own exception class.
  try
    Client.EFacturaStatus(1);
    Fail('the status of upload 1 did not fail');
  except
    on E: EAnafNotFound do
    begin
      Check(Pos('Nu exista factura', E.AnafMessage) = 1, 'not found: ' + E.AnafMessage);
      Step('not found', 'EAnafNotFound: ' + E.AnafMessage);
      Inc(Kinds);
    end;
  end;

  try
    Client.EFacturaListMessages(SellerCif, 61);
    Fail('a list of 61 days did not fail');
  except
    on E: EAnafInvalidInput do
    begin
      Check(E.Field = 'zile', 'days: field ' + E.Field);
      Step('invalid input', 'EAnafInvalidInput (' + E.Field + '): ' + E.Message);
      Inc(Kinds);
    end;
  end;

  Options2 := TAnafOptions.Create;
  Sandbox.Configure(Options2);
  Client2 := TAnafClient.Create(Options2);
  try
    Client2.Hello('nobody');
    Fail('a client without tokens said hello');
  except
    on E: EAnafUnauthorized do
    begin
      Step('unauthorized', 'EAnafUnauthorized: ' + E.Message);
      Inc(Kinds);
    end;
  end;
  Client2.Free;
  Options2.Free;

  Sandbox.InjectFault('{"endpoint": "efactura.status", "fault": {"kind": "status", ' +
    '"status": 429}}');
  try
    try
      Client.EFacturaStatus(UploadId);
      Fail('a status answered 429 did not fail');
    except
      on E: EAnafRateLimited do
      begin
        Check(E.HttpStatus = 429, 'rate limited: HTTP ' + IntToStr(E.HttpStatus));
        Step('rate limited', 'EAnafRateLimited: HTTP 429, retry after ' +
          IntToStr(E.RetryAfterMs) + ' ms');
        Inc(Kinds);
      end;
    end;
  finally
    Sandbox.ClearFaults;
  end;

  // Any kind is also an EAnafError.
  try
    Client.EFacturaStatus(2);
  except
    on E: EAnafError do
    begin
      Check(E is EAnafNotFound, 'EAnafError: ' + E.ClassName);
      Inc(Kinds);
    end;
  end;
  Check(Kinds = 6, 'not every error was caught by its class');
  Step('typed exceptions', IntToStr(Kinds) + ' errors, each caught by its own class');

  // Never an invoice twice: EFacturaSubmit through a state database (in memory here; a file
  // or a postgres:// URL in real use). ANAF stores the invoice and the answer is lost: Submit
  // says "unknown", and the next Submit finds it in ANAF's list instead of sending it again.
  Options2 := TAnafOptions.Create;
  Sandbox.Configure(Options2);
  Options2.SetStateDatabase('sqlite::memory:');
  Client2 := TAnafClient.Create(Options2);
  Client2.ExchangeCode(Sandbox.Authorize);
  Sandbox.InjectFault('{"endpoint": "efactura.upload", "fault": {"kind": "accept_then_drop"}, ' +
    '"times": 1}');
  Xml := AnafUtf8Bytes(TAnafSandbox.SampleInvoice('DELPHI-SUBMIT', SellerCif, BuyerCif));
  Answer := Client2.EFacturaSubmit(Xml, SellerCif);
  Check(Pos('"state":"unknown"', Answer.Json) > 0, 'submit: ' + Answer.Json);
  Answer := Client2.EFacturaSubmit(Xml, SellerCif);
  Check(Pos('"state":"uploaded"', Answer.Json) > 0, 'submit again: ' + Answer.Json);
  Check(Pos('"attempts":1', Answer.Json) > 0, 'submit: sent more than once: ' + Answer.Json);
  Check(Pos('DELPHI-SUBMIT', Client2.EFacturaSubmissions(SellerCif, 'uploaded').Json) > 0,
    'submissions');
  Check(Pos('"counter":"list_paged"', Client2.QuotaUsage.Json) > 0, 'quota usage');
  Client2.Free;
  Options2.Free;
  Step('submit', 'the answer was lost; found in ANAF''s list, sent once');

  // Tokens in the state database: a program started later (or on another machine, with a
  // postgres:// URL) uses the login of the first one.
  TokensDb := GetTempDir(False) + 'anaf-delphi-tokens-' + FormatDateTime('hhnnsszzz', Now) + '.db';
  for I := 0 to 1 do
  begin
    Options2 := TAnafOptions.Create;
    Sandbox.Configure(Options2);
    Options2.SetStateDatabase(TokensDb);
    Options2.SetDatabaseTokens('company-42');
    Client2 := TAnafClient.Create(Options2);
    if I = 0 then
      Client2.ExchangeCode(Sandbox.Authorize)
    else
      Check(Pos('Hello, later', JsonTextOf(Client2.Hello('later').Json, '')) = 1,
        'the login kept in the database');
    Client2.Free;
    Options2.Free;
  end;
  DeleteFile(TokensDb);
  DeleteFile(TokensDb + '-wal');
  DeleteFile(TokensDb + '-shm');
  DeleteFile(TokensDb + '-tokens.lock');
  Step('database tokens', 'a second program used the login kept in the database');

  // The archive sync: every message ANAF keeps for a CIF, each downloaded once into a folder
  // (CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID/), the progress told as it goes.
  Sandbox.SeedReceivedInvoices('{"cif": "' + BuyerCif + '", "count": 5, "days_back": 2}');
  ArchiveDir := GetTempDir(False) + 'anaf-delphi-archive-' + FormatDateTime('hhnnsszzz', Now);
  Progress := TSyncProgress.Create;
  Answer := Client.EFacturaSync(BuyerCif, ArchiveDir, 'received', 0, False, Progress.Seen);
  Check(Pos('"failures":[]', Answer.Json) > 0, 'sync: ' + Answer.Json);
  Total := JsonIntOf(Answer.Json, 'progress.archived');
  Check(Total >= 5, 'sync archived too few: ' + Answer.Json);
  Check(Progress.Calls > Total, 'sync progress: ' + IntToStr(Progress.Calls) + ' calls');
  Check(JsonIntOf(Progress.Last, 'archived') = Total, 'sync progress: ' + Progress.Last);
  Answer := Client.EFacturaSync(BuyerCif, ArchiveDir, 'received');
  Check(JsonIntOf(Answer.Json, 'progress.archived') = 0, 'sync again: ' + Answer.Json);
  Check(JsonIntOf(Answer.Json, 'progress.already_archived') = Total, 'sync again: ' + Answer.Json);
  Progress.Free;
  RemoveTree(ArchiveDir);
  Step('sync', IntToStr(Total) + ' messages archived with their progress, none downloaded twice');

  // The CIF check, without I/O.
  Check(AnafCifValidate('RO' + SellerCif) = SellerCif, 'CIF check');
  try
    AnafCifValidate('8000000001');
    Fail('a wrong check digit passed');
  except
    on E: EAnafInvalidInput do
      Step('cif', 'RO' + SellerCif + ' valid, 8000000001 refused');
  end;

  // The logs came from the library's threads, without the access token.
  Check(Logs.Count > 0, 'no log line arrived');
  Check(not Logs.Contains(AccessToken) and not Logs.Contains(RefreshedToken),
    'an access token is in the logs');
  Check(Logs.Contains('efactura'), 'the logs do not mention e-Factura');
  Step('logs', IntToStr(Logs.Count) + ' lines at debug level, no access token in them');

  // Revoke: ANAF confirms, and the store's OnClear empties the Pascal string. Then free:
  // clients before the store they use, the sandbox last.
  Check(Memory.Json <> '', 'revoke: nothing saved before it');
  Answer := Client.Revoke;
  Check(JsonTextOf(Answer.Json, '') = 'confirmed', 'revoke: ' + Answer.Json);
  Check(Memory.Json = '', 'revoke: the tokens are still kept');
  Client.Free;
  Options.Free;
  Store.Free;
  Memory.Free;
  Sandbox.Free;
  AnafSetLogHandler(ANAF_LOG_OFF, nil);
  Step('revoke, cleanup', 'revoked, cleared through the store, everything freed');

  Writeln('delphi example: round trip done');
end.
