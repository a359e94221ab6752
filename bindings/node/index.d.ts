// The public API of the `anaf` package (hand-written; the native layer's generated
// declarations are in native.d.ts). Conventions:
// - ids (upload, download, e-Transport) are numbers: exact up to 2^53, which ANAF's ids
//   fit today by many orders of magnitude;
// - timestamps are `Date`s; calendar days (VAT registry dates) stay "YYYY-MM-DD" strings,
//   because a calendar day has no time zone and a Date would shift it;
// - durations are milliseconds, as elsewhere in Node;
// - every Promise method takes an optional last `{ signal }` to cancel it.

/// <reference types="node" />

/** An invoice or other XML document: text (UTF-8) or bytes. */
export type Xml = string | Buffer

export interface CallOptions {
  /** Cancels the call in the core; it rejects with `AnafError` code `cancelled` (the signal's reason as `cause`). */
  signal?: AbortSignal
}

/** A stable code per kind of error, the same in every language of the library. */
export type ErrorCode =
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited'
  | 'daily_limit'
  | 'no_cif_right'
  | 'no_cif_rights'
  | 'not_found'
  | 'download_expired'
  | 'duplicate_invoice'
  | 'waf_rejected'
  | 'invalid_input'
  | 'oauth'
  | 'timeout'
  | 'transport'
  | 'unexpected_response'
  | 'quota_exhausted'
  | 'cancelled'
  | 'internal'

/** Every error the client raises. `message` is a readable English text. */
export declare class AnafError extends Error {
  readonly name: 'AnafError'
  /** What kind of failure: decide what to do from this. */
  readonly code: ErrorCode
  /** The HTTP status of ANAF's answer, if there was one. */
  readonly status: number | undefined
  /** ANAF's original text (usually Romanian), e.g. "Nu exista factura cu id_incarcare= 15000". */
  readonly anafMessage: string | undefined
  /** Seconds to wait before trying again (rate limits). */
  readonly retryAfter: number | undefined
  /** The daily limit that was reached. */
  readonly limit: number | undefined
  /** What the daily limit counts: per `message`, per `cif` or per `user`. */
  readonly limitScope: 'message' | 'cif' | 'user' | undefined
  /** A cancelled or failed upload may have reached ANAF: look for it before sending it again. */
  readonly uploadOutcomeUnknown: boolean
  /** What to do about it, when the library knows. */
  readonly hint: string | undefined
  /** The argument or document part that was refused (`invalid_input`). */
  readonly field: string | undefined
  readonly cif: string | undefined
  /** The OAuth error code of the identity provider (`oauth`). */
  readonly oauthError: string | undefined
  /** For `duplicate_invoice`: the upload that already holds the invoice. */
  readonly previousUploadId: number | undefined
  /** An upload ANAF had accepted before the failure or cancellation. */
  readonly uploadId: number | undefined
  /** ANAF's support reference (WAF rejections). */
  readonly supportId: string | undefined
  /** Trying again later may work. */
  readonly transient: boolean
  /** The whole error as the core serialises it (snake_case keys). */
  readonly details: Record<string, unknown>
}

export interface ClientOptions {
  /** `test` (default) or `prod`. */
  environment?: 'test' | 'prod'
  /** Points every ANAF host at one base URL (a sandbox). */
  baseUrl?: string
  /** Your application as registered in ANAF's portal: give all three, or none. */
  clientId?: string
  clientSecret?: string
  redirectUri?: string
  /** Keep tokens in this JSON file (written atomically, shared safely between processes). */
  tokenFile?: string
  /**
   * Keep tokens in your own storage: `tokenLoad` returns the JSON `tokenSave` was given (or
   * null). Both may return Promises (then use the Promise API: a `...Sync` call cannot wait
   * for a Promise and fails with a clear error). `tokenSave` must be durable when it
   * returns: ANAF rotates the refresh token on every refresh.
   */
  tokenLoad?: () => string | null | undefined | Promise<string | null | undefined>
  tokenSave?: (tokensJson: string) => void | Promise<void>
  /** Called by `revoke` and `clearTokens`. */
  tokenClear?: () => void | Promise<void>
  /** Clients of this process with the same key share one token manager (one refresh at a time). */
  tokenSharingKey?: string
  /** Told about every change of the tokens (never their values). */
  onTokenEvent?: (event: TokenEvent) => void
  /** The client's own per-minute budget (default: ANAF's). */
  requestsPerMinute?: number
  /** `false` turns the client's own budget off. */
  limitRequests?: boolean
  /** Per-request timeout in milliseconds. */
  timeout?: number
  /** Connection timeout in milliseconds. */
  connectTimeout?: number
  userAgent?: string
  proxy?: string
  /** Retries of idempotent requests (0: none). */
  maxRetries?: number
  /**
   * The state database, shared by every process and machine that uses it: a SQLite file, or
   * `postgres://user:password@host/database`. It holds the journal of `submit` (each invoice
   * at most once) and the ledger that keeps calls under ANAF's daily limits. Opened (and its
   * schema made or upgraded) by the constructor.
   */
  stateDatabase?: string
  /** How long (milliseconds) a lost upload is looked for at ANAF before `submit` sends it again (default 30 minutes). */
  resendAfter?: number
  /** One daily limit for every counted call (default: ANAF's limits less 5%). */
  dailyLimit?: number
  /**
   * Keep the tokens in `stateDatabase` under this name (instead of `tokenFile` or token
   * callbacks): one login for every process and machine using that database, refreshed by
   * one of them at a time.
   */
  databaseTokens?: string
}

/** An invoice given to `submit`, and where it stands. */
export interface SubmissionRecord {
  /** The submission's identity: SHA-256 of the CIF, the upload options and the document. */
  key: string
  cif: string
  standard: string
  /** SHA-256 of the document. */
  sha256: string
  invoiceNumber: string | null
  issueDate: string | null
  /**
   * `uploaded` (with `uploadId`, its one upload index), `unknown` (ANAF's answer was lost: it is
   * looked for at ANAF by the next `submit` of it or `resumeSubmissions`; never send it
   * yourself), `sending` (another process is on it), `pending` or `failed` (see `lastError`).
   */
  state: 'pending' | 'sending' | 'unknown' | 'uploaded' | 'failed'
  uploadId: number | null
  /** How many times it was sent (more than one only after ANAF was shown not to hold it). */
  attempts: number
  /** The last failure, as `AnafError`'s fields. */
  lastError: Record<string, unknown> | null
  createdAt: Date
  updatedAt: Date
  sentAt: Date | null
}

export interface SubmissionQuery {
  cif?: string
  state?: SubmissionRecord['state']
  /** At most this many, newest first (default 1000). */
  limit?: number
}

/** Today's use of one of ANAF's daily limits, as the quota ledger counts it. */
export interface QuotaUsage {
  /** The Bucharest calendar day, `YYYY-MM-DD`. */
  day: string
  counter: 'upload_rasp' | 'status' | 'list' | 'list_paged' | 'download' | 'transport_status' | 'transport_list'
  scope: 'cif' | 'message' | 'user'
  /** The CIF, upload index or download id counted. */
  key: string
  used: number
  limit: number
  remaining: number
  /** Midnight in Bucharest. */
  resetsAt: Date
}

/** How far a sync is: counts since it started. */
export interface SyncProgress {
  cif: string
  /** Messages listed so far. */
  listed: number
  /** ANAF's count of messages in the window (known after the first page). */
  total: number
  /** Messages downloaded and written by this sync. */
  archived: number
  /** Messages whose folder was already there. */
  alreadyArchived: number
  /** Messages not archived this time (see `SyncReport.failures`). */
  failed: number
  /** Bytes of ZIP downloaded. */
  bytes: number
}

/** A message a sync could not archive; the next sync tries it again. */
export interface SyncFailure {
  downloadId: number
  uploadId: number
  /** The error as the core serialises it (kind, message, ANAF's text). */
  error: Record<string, unknown>
}

/** What a sync did. */
export interface SyncReport {
  progress: SyncProgress
  /** The archive's root folder. */
  folder: string
  /** The window listed: from (later than asked when ANAF no longer keeps older messages) ... */
  windowStart: Date
  /** ... to (null: now). */
  windowEnd: Date | null
  failures: SyncFailure[]
}

export interface SyncOptions extends CallOptions {
  /** Only one kind of message (default: all). */
  filter?: MessageFilter
  /** Messages from this time on (default: as far back as ANAF keeps them, 60 days). */
  since?: Date
  /** Also ask ANAF for each invoice's PDF. */
  pdf?: boolean
  /** Called after each page and each message, on the event loop; `sync`'s Promise settles after the last call. */
  onProgress?: (progress: SyncProgress) => void
}

export interface TokenInfo {
  expiresAt: Date
  refreshExpiresAt: Date | null
}

export interface TokenStatus {
  loggedIn: boolean
  tokens: TokenInfo | null
  /** The current tokens could not be saved yet: call `saveTokens()` before exiting. */
  unsaved: boolean
  /** Automatic refresh stopped: the user must log in again. */
  loginRequired: boolean
  generation: number
}

export type TokenEvent =
  | { event: 'changed'; change: 'login' | 'refresh' | 'set' | 'adopted'; saved: boolean; tokens: TokenInfo }
  | { event: 'save_failed'; error: Record<string, unknown> }
  | { event: 'login_required'; error: Record<string, unknown> }
  | { event: 'saved' }
  | { event: 'cleared' }

export interface AuthorizationRequest {
  url: string
  /** Check it against the `state` of the redirect (`completeAuthorization` does). */
  state: string
}

export interface LoginOptions extends CallOptions {
  /** Open the system browser (default true). */
  openBrowser?: boolean
  /** Milliseconds to wait for the user (default 5 minutes). */
  timeout?: number
  /** Told the URL to open (show it if no browser can be opened). */
  onUrl?: (url: string) => void
}

export interface UploadOptions extends CallOptions {
  /** `ubl` (default), `cn` (credit note), `cii` or `rasp` (a message to the seller). */
  standard?: 'ubl' | 'cn' | 'cii' | 'rasp'
  /** The buyer is outside Romania. */
  external?: boolean
  /** Self-billing (autofactura). */
  selfBilled?: boolean
  /** Sent by an enforcement officer (executare silita). */
  enforcement?: boolean
  /** An invoice to a consumer (B2C). */
  b2c?: boolean
}

export interface WaitOptions extends UploadOptions {
  /** Milliseconds to wait at most for the final state. */
  timeout?: number
  /** Milliseconds before the first status poll. */
  firstPoll?: number
  /** Longest pause between polls, in milliseconds. */
  maxInterval?: number
  maxPolls?: number
}

export interface UploadReceipt {
  uploadId: number
  /** ANAF's own timestamp text (YYYYMMDDhhmm, Bucharest time). */
  responseTime: string
}

/** The "stare" (state) of an upload; `downloadId` once it is `ok` or `nok`. */
export interface UploadState {
  state: 'in_progress' | 'ok' | 'nok' | 'rejected_xml'
  downloadId: number | null
}

export interface Submission {
  receipt: UploadReceipt
  state: UploadState
  polls: number
}

export type MessageFilter = 'sent' | 'received' | 'errors' | 'buyer_messages'

export interface Message {
  /** The download id. */
  id: number
  uploadId: number
  cif: string
  kind: 'sent' | 'received' | 'errors' | 'buyer_message' | string
  createdAt: Date | null
  details: string
  /** ANAF's original values. */
  rawKind: string
  rawCreatedAt: string
}

export interface MessagePage {
  messages: Message[]
  page: number
  totalPages: number
  totalMessages: number
  perPage: number
}

export interface ValidationReport {
  valid: boolean
  messages: string[]
  traceId: string | null
}

export interface SignatureVerdict {
  valid: boolean
  message: string
}

export interface TransportReceipt {
  uploadId: number
  /** The UIT (the transport's code), when ANAF issued one. */
  uit: string | null
  rawUit: string
  reference: string
  traceId: string | null
  warning: string | null
  responseTime: string
}

export interface TransportState {
  state: 'in_progress' | 'ok' | 'nok' | 'rejected_xml'
  errors: string[]
}

export interface TransportRecord {
  uploadId: number
  uit: string | null
  declarantCif: string
  reference: string | null
  kind: string | null
  state: string | null
  operation: string | null
  createdAt: Date | null
  vehicle: string | null
  messages: string[]
  /** ANAF's original record, keys as ANAF sent them. */
  raw: Record<string, unknown>
}

export interface Address {
  street: string
  number: string
  locality: string
  county: string
  countyCode: string
  countyLetters: string
  country: string
  details: string
  postalCode: string
}

/** A taxpayer of ANAF's VAT registry. Days are "YYYY-MM-DD" strings. */
export interface Taxpayer {
  cif: string
  date: string | null
  name: string
  address: string
  tradeRegisterNumber: string
  phone: string
  postalCode: string
  registrationState: string
  registeredOn: string | null
  caenCode: string
  iban: string
  vatPayer: boolean
  vatPeriods: { start: string | null; end: string | null; cancelled: string | null; message: string }[]
  vatOnCollection: boolean
  inactive: boolean
  inactiveSince: string | null
  reactivatedOn: string | null
  deregisteredOn: string | null
  splitVat: boolean
  efacturaRegistered: boolean
  efacturaRegisteredOn: string | null
  headOffice: Address
  fiscalAddress: Address
  raw: Record<string, unknown>
}

export interface TaxpayerLookup {
  found: Taxpayer[]
  notFound: string[]
}

export interface RegisterEntry {
  cif: string
  register: string
  category: string
  registeredOn: string | null
  renouncedOn: string | null
  deregisteredOn: string | null
  b2gSince: string | null
  state: string
  raw: Record<string, unknown>
}

export interface RegisterLookup {
  found: RegisterEntry[]
  notFound: string[]
}

/** What `toPdf` answers when ANAF would not render the document. */
export interface PdfRefusal {
  outcome: 'invalid'
  report: ValidationReport
}

/** An answer archive ("descarcare": download): the ZIP exactly as ANAF sent it. */
/** One party of an invoice. */
export interface PartySummary {
  /** The registration name. */
  name: string | null
  /** The VAT identifier as written, e.g. `RO12345678`. */
  vatId: string | null
  /** The legal registration identifier (a Romanian company's CUI or trade register number). */
  legalId: string | null
}

/** An invoice's main fields, read from its XML. Amounts stay decimal strings as written. */
export interface InvoiceSummary {
  /** `ubl_invoice`, `ubl_credit_note` or `cii_invoice`. */
  syntax: string
  number: string | null
  /** 380 invoice, 381 credit note, 384 corrected, 389 self-billed, 751. */
  typeCode: string | null
  /** "YYYY-MM-DD". */
  issueDate: string | null
  dueDate: string | null
  currency: string | null
  seller: PartySummary
  buyer: PartySummary
  netTotal: string | null
  vatTotal: string | null
  grossTotal: string | null
  payable: string | null
  lines: number
}

export declare class Archive {
  /** Opens a saved ZIP from its bytes. */
  static fromBuffer(zip: Buffer): Archive
  /** Opens a saved ZIP file. */
  static open(path: string): Archive
  /** The ZIP, byte for byte as received (store this). */
  readonly zip: Buffer
  readonly uploadId: number | undefined
  readonly documentName: string
  readonly signatureName: string
  /** The invoice, or ANAF's error document for a `nok`. */
  document(): Buffer
  /** ANAF's signature of the document. */
  signature(): Buffer
  /** ANAF's reasons for a `nok`, or null. */
  errorReport(): { uploadId: number | null; sellerCif: string | null; messages: string[] } | null
  /** The invoice's main fields (number, dates, parties, totals), or null for ANAF's error document. */
  invoiceSummary(): InvoiceSummary | null
  /** The error report as the AnafError it stands for (e.g. `duplicate_invoice` with `previousUploadId`), or null. */
  error(): AnafError | null
}

/** Every page of an interval: `for await (const page of client.messages(...))`. */
export declare class MessageStream implements AsyncIterable<MessagePage>, Iterable<MessagePage> {
  /** The next page, or undefined after the last. */
  nextPage(options?: CallOptions): Promise<MessagePage | undefined>
  nextPageSync(): MessagePage | undefined
  /** Where the listed interval really starts (ANAF keeps 60 days); final after the first page. */
  readonly effectiveStart: Date
  readonly effectiveEnd: Date | undefined
  [Symbol.asyncIterator](): AsyncIterator<MessagePage>
  [Symbol.iterator](): Iterator<MessagePage>
}

/**
 * The ANAF client: OAuth, RO e-Factura, RO e-Transport, TestOauth and the public registries.
 * Every operation returns a Promise and never blocks the event loop; the `...Sync` twins block
 * the thread (scripts, CLIs), like Node's `fs`.
 */
export declare class Client {
  constructor(options?: ClientOptions)

  /** The URL to send the user to, with a fresh `state` unless given. */
  authorizationUrl(state?: string): AuthorizationRequest
  /** Exchanges the authorization code of the redirect for tokens. */
  exchangeCode(code: string, options?: CallOptions): Promise<TokenInfo>
  exchangeCodeSync(code: string): TokenInfo
  /** Checks the redirect's `state` and exchanges its code. */
  completeAuthorization(redirectedUrl: string, expectedState: string, options?: CallOptions): Promise<TokenInfo>
  completeAuthorizationSync(redirectedUrl: string, expectedState: string): TokenInfo
  /** The desktop login: a loopback HTTPS listener and the system browser. */
  loginInteractive(options?: LoginOptions): Promise<TokenInfo>
  refresh(options?: CallOptions): Promise<TokenInfo>
  refreshSync(): TokenInfo
  revoke(options?: CallOptions): Promise<'confirmed' | 'unconfirmed'>
  revokeSync(): 'confirmed' | 'unconfirmed'
  tokenStatus(options?: CallOptions): Promise<TokenStatus>
  tokenStatusSync(): TokenStatus
  /** The tokens WITH their secrets, as the JSON a store saves (undefined when logged out). */
  tokensJson(options?: CallOptions): Promise<string | undefined>
  tokensJsonSync(): string | undefined
  setTokensJson(tokensJson: string, options?: CallOptions): Promise<void>
  setTokensJsonSync(tokensJson: string): void
  /** Retries saving tokens the store refused earlier. */
  saveTokens(options?: CallOptions): Promise<void>
  saveTokensSync(): void
  clearTokens(options?: CallOptions): Promise<void>
  clearTokensSync(): void
  /** ANAF's TestOauth: checks the login end to end. */
  hello(name: string, options?: CallOptions): Promise<string>
  helloSync(name: string): string

  /** Uploads an invoice (never retried: see `AnafError.uploadOutcomeUnknown`). */
  upload(xml: Xml, cif: string, options?: UploadOptions): Promise<UploadReceipt>
  uploadSync(xml: Xml, cif: string, options?: UploadOptions): UploadReceipt
  /**
   * Uploads an invoice at most once, through `stateDatabase`: recorded first; when ANAF's
   * answer is lost it is looked for in ANAF's list of sent invoices before it is ever sent
   * again. A failure that left nothing at ANAF rejects (and is recorded).
   */
  submit(xml: Xml, cif: string, options?: UploadOptions): Promise<SubmissionRecord>
  submitSync(xml: Xml, cif: string, options?: UploadOptions): SubmissionRecord
  /** Moves on every unsettled submission (call it once after a restart). */
  resumeSubmissions(options?: CallOptions): Promise<SubmissionRecord[]>
  resumeSubmissionsSync(): SubmissionRecord[]
  /** The journal, newest first. */
  submissions(query?: SubmissionQuery, options?: CallOptions): Promise<SubmissionRecord[]>
  submissionsSync(query?: SubmissionQuery): SubmissionRecord[]
  /** Today's use of ANAF's daily limits (empty without `stateDatabase`). */
  quotaUsage(options?: CallOptions): Promise<QuotaUsage[]>
  quotaUsageSync(): QuotaUsage[]
  /**
   * Archives every message ANAF keeps for `cif` into `folder`, each downloaded once:
   * `CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID/` with ANAF's ZIP, the invoice and signature,
   * `message.json` and, with `pdf`, ANAF's PDF. A message whose folder is there is not
   * downloaded again: run it again to go on after a stop. One message's failure is in
   * `failures`; a failure of every call (login, network, a daily limit) rejects.
   */
  sync(cif: string, folder: string, options?: SyncOptions): Promise<SyncReport>
  /** The blocking form: its `onProgress` calls arrive after it returns (queued on the event loop). */
  syncSync(cif: string, folder: string, options?: Omit<SyncOptions, 'signal'>): SyncReport
  /** Uploads and polls the state until it is final (or the wait options say stop). */
  uploadAndWait(xml: Xml, cif: string, options?: WaitOptions): Promise<Submission>
  uploadAndWaitSync(xml: Xml, cif: string, options?: WaitOptions): Submission
  status(uploadId: number, options?: CallOptions): Promise<UploadState>
  statusSync(uploadId: number): UploadState
  download(downloadId: number, options?: CallOptions): Promise<Archive>
  downloadSync(downloadId: number): Archive
  /** The messages of the last `days` days (1 to 60). */
  listMessages(cif: string, days: number, filter?: MessageFilter | null, options?: CallOptions): Promise<Message[]>
  listMessagesSync(cif: string, days: number, filter?: MessageFilter | null): Message[]
  listMessagesPage(
    cif: string,
    start: Date,
    end: Date,
    page: number,
    filter?: MessageFilter | null,
    options?: CallOptions,
  ): Promise<MessagePage>
  listMessagesPageSync(cif: string, start: Date, end: Date, page: number, filter?: MessageFilter | null): MessagePage
  /** Every page from `start` to `end` (now when omitted). */
  messages(cif: string, start: Date, end?: Date | null, filter?: MessageFilter | null, options?: CallOptions): MessageStream
  validate(xml: Xml, kind?: 'invoice' | 'credit_note' | null, options?: CallOptions): Promise<ValidationReport>
  validateSync(xml: Xml, kind?: 'invoice' | 'credit_note' | null): ValidationReport
  /** The PDF, or ANAF's validation report when it would not render the document. */
  toPdf(xml: Xml, kind?: 'invoice' | 'credit_note' | null, validate?: boolean | null, options?: CallOptions): Promise<Buffer | PdfRefusal>
  toPdfSync(xml: Xml, kind?: 'invoice' | 'credit_note' | null, validate?: boolean | null): Buffer | PdfRefusal
  verifySignature(invoiceXml: Xml, signatureXml: Xml, options?: CallOptions): Promise<SignatureVerdict>
  verifySignatureSync(invoiceXml: Xml, signatureXml: Xml): SignatureVerdict

  /** Uploads an e-Transport notification (schema version 2 by default). */
  etransportUpload(xml: Xml, cif: string, version?: 1 | 2 | null, options?: CallOptions): Promise<TransportReceipt>
  etransportUploadSync(xml: Xml, cif: string, version?: 1 | 2 | null): TransportReceipt
  etransportStatus(uploadId: number, options?: CallOptions): Promise<TransportState>
  etransportStatusSync(uploadId: number): TransportState
  etransportList(cif: string, days: number, options?: CallOptions): Promise<TransportRecord[]>
  etransportListSync(cif: string, days: number): TransportRecord[]
  /** ANAF's records about transports (raw, as ANAF sends them). */
  etransportInfo(
    operatorCif: string,
    filter?: { declarantCif?: string; uit?: string; reference?: string },
    options?: CallOptions,
  ): Promise<Record<string, unknown>[]>
  etransportInfoSync(operatorCif: string, filter?: { declarantCif?: string; uit?: string; reference?: string }): Record<string, unknown>[]

  /** The VAT registry (v9), batched by 100. `date`: a day ("YYYY-MM-DD" or a Date), today by default. */
  lookupTaxpayers(cifs: string[], date?: string | Date | null, options?: CallOptions): Promise<TaxpayerLookup>
  lookupTaxpayersSync(cifs: string[], date?: string | Date | null): TaxpayerLookup
  lookupEfacturaRegister(cifs: string[], date?: string | Date | null, options?: CallOptions): Promise<RegisterLookup>
  lookupEfacturaRegisterSync(cifs: string[], date?: string | Date | null): RegisterLookup
}

/** Settings of the embedded sandbox (all optional). */
export interface SandboxSettings {
  /** Uploads are final at once. */
  instant?: boolean
  port?: number
  processingDelayMs?: number
  indexingLagMs?: number
  perMinuteLimit?: number
  dailyLimits?: Record<string, number>
  codeLifetimeMs?: number
  accessTokenLifetimeMs?: number
  refreshTokenLifetimeMs?: number
  rotateRefreshTokens?: boolean
  publicRegistryPacing?: boolean
  defaultClientId?: string
  defaultClientSecret?: string
  defaultRedirectUris?: string[]
  workerThreads?: number
  [setting: string]: unknown
}

export interface SandboxApplication {
  name: string
  clientId: string
  clientSecret: string
  redirectUris: string[]
  services: string[]
  createdAt: Date
}

export interface SandboxIdentity {
  serial: string
  name: string
  cifs: string[]
  services: string[]
  [field: string]: unknown
}

/** An ANAF of your own on a loopback port, for your tests. Call `stop()` when done. */
export declare class Sandbox {
  constructor(settings?: SandboxSettings)
  readonly baseUrl: string
  info(): { baseUrl: string; application: SandboxApplication; identity: SandboxIdentity }
  /** Options for `new Client(...)` pointing at this sandbox with its default application. */
  clientOptions(): Required<Pick<ClientOptions, 'baseUrl' | 'clientId' | 'clientSecret' | 'redirectUri'>>
  /** An authorization code without a browser (default application and identity unless given). */
  authorize(request?: { clientId: string; redirectUri: string; serial: string; state?: string }): string
  registerApp(spec: { name: string; redirectUris: string[]; services: string[] }): SandboxApplication
  addIdentity(spec: { name: string; cifs: string[]; services: string[]; [field: string]: unknown }): SandboxIdentity
  setCompany(spec: Record<string, unknown>): void
  /** Makes the next `times` matching requests fail, e.g. `injectFault('hello', { kind: 'status', status: 500 }, 1)`. */
  injectFault(endpoint: string, fault: { kind: string; [field: string]: unknown }, times?: number | null): void
  clearFaults(): void
  /** Moves the sandbox's clock forward (expiry of codes, tokens, downloads). */
  advanceClock(seconds: number): void
  uploads(cif?: string | null): Record<string, unknown>[]
  requests(): Record<string, unknown>[]
  /** Adds `count` received invoices over the last `daysBack` days; returns their download ids. */
  seedReceivedInvoices(cif: string, count: number, daysBack?: number): number[]
  stop(): void
  /** A valid CIUS-RO invoice for tests. */
  static sampleInvoice(number: string, sellerCif: string, buyerCif: string): string
  /** A valid e-Transport notification for tests. */
  static sampleTransport(declarantCif: string, reference: string): string
}

/** Checks a CIF (CUI: a company's tax number), with or without "RO"; returns the digits. */
export declare function validateCif(text: string): string

export interface LogLine {
  level: 'error' | 'warn' | 'info' | 'debug' | 'trace'
  /** The module that logged, e.g. "anaf.transport". */
  target: string
  message: string
}

/** Sends the client's logs (never a token, secret or code) at `level` and above to `sink`; null stops. */
export declare function setLogger(sink: ((line: LogLine) => void) | null, level?: LogLine['level']): void

/** The version of the native addon. */
export declare const version: string
