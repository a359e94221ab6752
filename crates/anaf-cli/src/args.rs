//! The command line: every command, its options and the examples its `--help` teaches with.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Work with ANAF (Romania's tax authority) from a terminal or a script: log in once with
/// your certificate, then send invoices to RO e-Factura, follow them, download what ANAF and
/// your suppliers sent, declare transports to RO e-Transport, and look companies up by CIF.
#[derive(Parser, Debug)]
#[command(
    name = "anaf",
    version,
    propagate_version = true,
    after_help = "\
First time here? `anaf demo` runs the whole round trip against a built-in copy of ANAF
(the sandbox) and explains every step and term.

Getting started with the real ANAF:
  anaf profile add firma --client-id ID --redirect-uri https://localhost:8443/callback
  export ANAF_CLIENT_SECRET=...     # or let anaf ask for it
  anaf login                         # your browser opens; pick the certificate
  anaf efactura upload factura.xml --cif RO12345678 --wait

Exit codes: 0 done, 1 failed (other), 2 usage error, 3 ANAF refused the document,
4 login or rights problem, 5 a limit was reached, 6 could not reach ANAF, 7 upload outcome
unknown (check before sending again). `--json` prints one JSON document per command."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The profile to use (a company and an environment); see `anaf profile`.
    #[arg(long, short = 'p', global = true, env = "ANAF_PROFILE")]
    pub profile: Option<String>,
    /// Print one JSON document (for scripts) instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print the library's logs to stderr (tokens and secrets are never logged).
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
    /// Color in the output: auto (only on a terminal), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The whole round trip against a built-in sandbox, each step and ANAF term explained.
    Demo,
    /// Run the sandbox (an offline copy of ANAF) for your own software to test against.
    #[command(after_help = "\
Examples:
  anaf sandbox                         # on http://127.0.0.1:8080, prints its application
  anaf sandbox --port 0 --json         # any free port; the startup information as JSON
  anaf sandbox --processing-delay 0 --indexing-lag 0 --no-daily-limits")]
    Sandbox(anaf_sandbox::cli::SandboxArgs),
    /// Profiles: one per company and environment, so one person can work for several.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Log in in the browser with your certificate (a code pasted back also works).
    #[command(after_help = "\
The browser opens ANAF's login page; after you pick the certificate, ANAF sends the browser
back to this computer (a local HTTPS address, so the browser may warn about its certificate).
Without a browser on this machine, open the printed address elsewhere and paste the address
you land on here.

Examples:
  anaf login
  anaf login --no-browser              # print the address instead of opening it
  anaf --profile firma-prod login")]
    Login(LoginArgs),
    /// The tokens of the profile: status, refresh, revoke, logout.
    #[command(subcommand)]
    Token(TokenCommand),
    /// ANAF's TestOauth "hello": checks the login end to end.
    #[command(after_help = "Examples:\n  anaf hello\n  anaf --profile firma-prod hello --json")]
    Hello {
        /// The name ANAF greets.
        #[arg(default_value = "anaf")]
        name: String,
    },
    /// CIF/CUI (a company's tax number): check digits, look companies up.
    #[command(subcommand)]
    Cif(CifCommand),
    /// Today's use of ANAF's daily limits, as this profile's ledger counts them.
    #[command(after_help = "\
ANAF limits some calls per day (Bucharest time): 100 status queries per upload, 10 downloads
per message, 1 500 simple and 100 000 paginated lists per company, 1 000 RASP uploads per
company. anaf counts them in the profile's state database and stops at 95% of each.

Examples:
  anaf quota
  anaf quota --json")]
    Quota,
    /// Archive every message ANAF keeps for a CIF (60 days) into a folder, each downloaded
    /// once: received and sent invoices, error reports, buyer messages.
    #[command(after_help = "\
Each message gets a folder CIF/KIND/YYYY-MM/YYYY-MM-DD_PARTNER_ID holding ANAF's ZIP as it
came, the invoice and the signature taken out of it, message.json (the list entry and the
invoice's main fields) and, with --pdf, ANAF's PDF. A message whose folder is there is not
downloaded again, so a sync stopped midway (or run every hour) goes on where it was. The
downloads count in the profile's daily-limit ledger.

Examples:
  anaf sync --cif RO12345678 --folder arhiva/
  anaf sync --cif RO12345678 --folder arhiva/ --filter received --pdf
  anaf sync --cif RO12345678 --folder arhiva/ --since 2026-11-01 --json")]
    Sync(SyncArgs),
    /// RO e-Factura: send, follow, download and list invoices.
    #[command(subcommand)]
    Efactura(EfacturaCommand),
    /// RO e-Transport: declare road transports of goods (UIT codes) and follow them.
    #[command(subcommand)]
    Etransport(EtransportCommand),
    /// Shell completions: `anaf completions bash > /etc/bash_completion.d/anaf`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Add or replace a profile.
    #[command(after_help = "\
The client ID and callback come from the application registered in ANAF's portal
(\"Gestionare aplicatii\"). The client secret is never stored: anaf reads it from the
environment variable the profile names (ANAF_CLIENT_SECRET unless told otherwise) or asks.

Examples:
  anaf profile add firma --client-id 8f3... --redirect-uri https://localhost:8443/callback
  anaf profile add firma-prod --environment prod --client-id 8f3... --redirect-uri ... \\
      --secret-env FIRMA_SECRET
  anaf profile add local --base-url http://127.0.0.1:8080 --client-id ... --redirect-uri ...")]
    Add(ProfileAdd),
    /// List the profiles.
    #[command(after_help = "Examples:\n  anaf profile list\n  anaf profile list --json")]
    List,
    /// Remove a profile and its saved tokens.
    Remove { name: String },
}

#[derive(Args, Debug)]
pub struct ProfileAdd {
    /// The profile's name (letters, digits, `-`, `_`).
    pub name: String,
    /// ANAF's test or production environment.
    #[arg(long, short = 'e', value_enum, default_value_t = EnvironmentArg::Test)]
    pub environment: EnvironmentArg,
    /// The application's client ID.
    #[arg(long)]
    pub client_id: String,
    /// The application's callback URL, as registered.
    #[arg(long)]
    pub redirect_uri: String,
    /// The environment variable holding the client secret.
    #[arg(long, default_value = "ANAF_CLIENT_SECRET")]
    pub secret_env: String,
    /// Another ANAF at this address, e.g. `anaf sandbox`'s (all three hosts at one base).
    #[arg(long)]
    pub base_url: Option<String>,
    /// The state database (the submission journal and the daily-limit ledger): a PostgreSQL
    /// URL shared by several machines, or a SQLite file. Default: a SQLite file of this
    /// profile in the configuration folder.
    #[arg(long)]
    pub database: Option<String>,
    /// Keep the login in the state database under this name instead of a token file: every
    /// machine whose profile names the same PostgreSQL database and name shares it (one
    /// refreshes at a time). Log in once, from any of them.
    #[arg(long, value_name = "NAME")]
    pub database_tokens: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentArg {
    Test,
    Prod,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Print the login address instead of opening the browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds you have to log in.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Whether you are logged in, and until when (exit 4 when not).
    #[command(after_help = "Examples:\n  anaf token status\n  anaf token status --json && echo logged in")]
    Status,
    /// Get new tokens now (ANAF rotates both; the new pair is saved).
    Refresh,
    /// Revoke the tokens at ANAF and forget them here.
    Revoke,
    /// Forget the tokens here (ANAF keeps them valid until they expire).
    Logout,
}

#[derive(Subcommand, Debug)]
pub enum CifCommand {
    /// Check CIFs' control digit (offline).
    #[command(after_help = "Examples:\n  anaf cif check RO12345674 8000000000")]
    Check {
        #[arg(required = true)]
        cifs: Vec<String>,
    },
    /// Look companies up in ANAF's public VAT registry (name, address, VAT, e-Factura).
    #[command(
        after_help = "Examples:\n  anaf cif lookup RO12345674\n  anaf cif lookup 12345674 8000000000 --date 2026-01-31 --json"
    )]
    Lookup {
        #[arg(required = true)]
        cifs: Vec<String>,
        /// The day to ask about (YYYY-MM-DD; default: today).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EfacturaCommand {
    /// Send invoices (UBL XML) for a seller's CIF.
    #[command(after_help = "\
Each file is sent once: after a timeout or a lost connection anaf does NOT send it again,
since ANAF may already have it; it says how to check instead (exit code 7).

Examples:
  anaf efactura upload factura-001.xml --cif RO12345678
  anaf efactura upload *.xml --cif RO12345678 --wait          # and wait for ANAF's verdict
  anaf efactura upload nota.xml --cif RO12345678 --standard cn
  anaf efactura upload f.xml --cif RO12345678 --b2c            # to a consumer")]
    Upload(UploadArgs),
    /// Send invoices at most once each: recorded in the profile's state database first, a
    /// lost answer looked for at ANAF before anything is sent again.
    #[command(after_help = "\
Each invoice is recorded before it is sent. When ANAF's answer is lost (a timeout, a
connection reset, the program stopped), anaf looks for the invoice in ANAF's list of sent
invoices and sends it again only once it is shown absent, 30 minutes later; running the same
command again, or `anaf efactura submissions --resume`, moves it on. A file already uploaded
is not sent again.

Examples:
  anaf efactura submit factura-001.xml --cif RO12345678
  anaf efactura submit luna-11/*.xml --cif RO12345678 --json")]
    Submit(DocumentArgs),
    /// The invoices given to `submit` and where each stands (pending, sending, unknown,
    /// uploaded, failed).
    #[command(after_help = "\
Examples:
  anaf efactura submissions
  anaf efactura submissions --resume                  # first move on what is unsettled
  anaf efactura submissions --cif RO12345678 --state unknown --json")]
    Submissions {
        /// Only this CIF's.
        #[arg(long)]
        cif: Option<String>,
        /// Only those in this state.
        #[arg(long)]
        state: Option<String>,
        /// First resume every unsettled submission (after a crash or a lost answer).
        #[arg(long)]
        resume: bool,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Where uploads stand ("stare"): in progress, ok, nok (refused), or XML refused.
    #[command(
        after_help = "Examples:\n  anaf efactura status 5001234567\n  anaf efactura status 5001234567 5001234568 --json"
    )]
    Status {
        #[arg(required = true)]
        upload_ids: Vec<u64>,
    },
    /// Download answers ("descarcare"): the ZIP ANAF keeps for 60 days.
    #[command(after_help = "\
Examples:
  anaf efactura download 3001234567                    # saves 3001234567.zip
  anaf efactura download 3001234567 --extract --pdf    # and the XML, signature and PDF
  anaf efactura download 3001234567 3001234568 --out arhiva/")]
    Download(DownloadArgs),
    /// List messages (sent, received, errors, buyer messages) of a CIF.
    #[command(after_help = "\
Examples:
  anaf efactura list --cif RO12345678                  # the last 60 days, first page
  anaf efactura list --cif RO12345678 --days 7 --filter received
  anaf efactura list --cif RO12345678 --from 2026-11-01 --to 2026-11-30 --all --json")]
    List(ListArgs),
    /// Check an invoice against ANAF's validator, without sending it.
    #[command(
        after_help = "Examples:\n  anaf efactura validate factura.xml\n  anaf efactura validate nota.xml --kind FCN"
    )]
    Validate {
        file: PathBuf,
        /// FACT1 (invoice) or FCN (credit note).
        #[arg(long, default_value = "FACT1")]
        kind: String,
    },
    /// Turn an invoice into ANAF's PDF.
    #[command(
        after_help = "Examples:\n  anaf efactura pdf factura.xml                   # writes factura.pdf\n  anaf efactura pdf factura.xml -o arhiva/f-001.pdf --no-validate"
    )]
    Pdf {
        file: PathBuf,
        #[arg(long, default_value = "FACT1")]
        kind: String,
        /// Where to write the PDF (default: the file's name with .pdf).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// Skip ANAF's validation first.
        #[arg(long)]
        no_validate: bool,
    },
    /// Check ANAF's signature of a downloaded invoice.
    #[command(
        after_help = "Examples:\n  anaf efactura verify 3001234567/5001234567.xml 3001234567/semnatura_5001234567.xml"
    )]
    Verify { invoice: PathBuf, signature: PathBuf },
    /// Show a saved answer ZIP: the invoice's main fields or ANAF's errors, the signature check.
    #[command(
        after_help = "Examples:\n  anaf efactura open 3001234567.zip\n  anaf efactura open 3001234567.zip --verify --json"
    )]
    Open {
        zip: PathBuf,
        /// Also check the signature at ANAF.
        #[arg(long)]
        verify: bool,
    },
}

/// The invoices and how they are sent: what `upload` and `submit` share.
#[derive(Args, Debug)]
pub struct DocumentArgs {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The seller's CIF (with or without RO).
    #[arg(long)]
    pub cif: String,
    /// ubl (invoice), cn (credit note), cii, rasp (a buyer's message; upload only).
    #[arg(long, default_value = "ubl")]
    pub standard: String,
    /// The buyer is outside Romania.
    #[arg(long = "extern")]
    pub external: bool,
    /// Self-billing: the buyer issues the invoice in the seller's name.
    #[arg(long)]
    pub self_billed: bool,
    /// Filed by an enforcement body on the debtor's behalf.
    #[arg(long)]
    pub enforcement: bool,
    /// An invoice to a consumer (B2C).
    #[arg(long)]
    pub b2c: bool,
}

#[derive(Args, Debug)]
pub struct UploadArgs {
    #[command(flatten)]
    pub document: DocumentArgs,
    /// Wait for ANAF's verdict (ok or nok) after each upload.
    #[arg(long)]
    pub wait: bool,
    /// Seconds to wait for the verdict, with --wait.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    #[arg(required = true)]
    pub download_ids: Vec<u64>,
    /// The folder to save into.
    #[arg(long, short = 'o', default_value = ".")]
    pub out: PathBuf,
    /// Also save the ZIP's invoice (or ANAF's error document) and signature.
    #[arg(long)]
    pub extract: bool,
    /// Also save ANAF's PDF of the invoice.
    #[arg(long)]
    pub pdf: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    pub cif: String,
    /// The last N days (1 to 60).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub days: Option<u32>,
    /// From this day (YYYY-MM-DD, Romanian time); uses the paginated list.
    #[arg(long)]
    pub from: Option<String>,
    /// Up to this day included (YYYY-MM-DD; default: now).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// sent, received, errors or buyer_messages (ANAF's T, P, E, R).
    #[arg(long)]
    pub filter: Option<String>,
    /// Every page, not only the first (with --from).
    #[arg(long, requires = "from")]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[arg(long)]
    pub cif: String,
    /// The archive's root folder (made if missing).
    #[arg(long)]
    pub folder: PathBuf,
    /// Only sent, received, errors or buyer_messages.
    #[arg(long)]
    pub filter: Option<String>,
    /// From this day (YYYY-MM-DD, Romanian time; default: as far back as ANAF keeps).
    #[arg(long)]
    pub since: Option<String>,
    /// Also ask ANAF for each invoice's PDF.
    #[arg(long)]
    pub pdf: bool,
}

#[derive(Subcommand, Debug)]
pub enum EtransportCommand {
    /// Declare a transport (e-Transport XML) for an operator's CIF; prints its UIT.
    #[command(after_help = "Examples:\n  anaf etransport upload aviz.xml --cif RO12345678")]
    Upload {
        file: PathBuf,
        #[arg(long)]
        cif: String,
        /// The e-Transport schema version (v2).
        #[arg(long = "schema", default_value = "v2")]
        schema: String,
    },
    /// Where a declaration stands.
    #[command(after_help = "Examples:\n  anaf etransport status 4001234567")]
    Status { upload_id: u64 },
    /// The declarations of a CIF over the last N days.
    #[command(after_help = "Examples:\n  anaf etransport list --cif RO12345678 --days 7")]
    List {
        #[arg(long)]
        cif: String,
        #[arg(long, default_value_t = 60)]
        days: u32,
    },
    /// The organiser's information about transports (ANAF's records, as JSON).
    #[command(after_help = "Examples:\n  anaf etransport info --cif RO12345678 --uit 99EUCQXV324EP040")]
    Info {
        /// The operator's CIF.
        #[arg(long)]
        cif: String,
        #[arg(long)]
        declarant_cif: Option<String>,
        #[arg(long)]
        uit: Option<String>,
        #[arg(long)]
        reference: Option<String>,
    },
}
