//! The emulator as a command: the options of `anaf-sandbox` and of `anaf sandbox`, and the
//! loop that serves until interrupted.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::{DailyLimits, Sandbox, SandboxOptions};

/// The emulator's settings as command-line options, shared by `anaf-sandbox` and the `anaf
/// sandbox` command (one set of options, one behaviour).
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. Keep it on loopback: the sandbox has no authentication of its own.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Seconds an upload stays "in prelucrare".
    #[arg(long, default_value_t = 2.0)]
    pub processing_delay: f64,
    /// Seconds between processing and the message appearing in the lists.
    #[arg(long, default_value_t = 1.0)]
    pub indexing_lag: f64,
    /// Requests per minute before HTTP 429.
    #[arg(long, default_value_t = 1000)]
    pub per_minute_limit: u32,
    /// Turn ANAF's daily limits off (for load tests of your own software).
    #[arg(long)]
    pub no_daily_limits: bool,
    /// Turn off the public registries' pace of one request per second (for load tests).
    #[arg(long)]
    pub no_registry_pacing: bool,
    /// Most bytes of uploaded documents kept in memory; the oldest are dropped past it.
    #[arg(long, default_value_t = crate::DEFAULT_MAX_STORED_BYTES)]
    pub max_stored_bytes: u64,
    /// Seconds a connection may take to send its request headers (and stay idle).
    #[arg(long, default_value_t = 30.0)]
    pub header_read_timeout: f64,
    /// Fixed client ID for the default application (random when absent).
    #[arg(long)]
    pub client_id: Option<String>,
    /// Fixed client secret for the default application (random when absent).
    #[arg(long)]
    pub client_secret: Option<String>,
    /// Callback URL(s) of the default application.
    #[arg(long = "redirect-uri", default_value = crate::DEFAULT_REDIRECT_URI)]
    pub redirect_uris: Vec<String>,
    /// Print the startup information as JSON (for scripts).
    #[arg(long)]
    pub json: bool,
}

impl SandboxArgs {
    /// The sandbox these options describe.
    pub fn options(&self) -> SandboxOptions {
        // Out-of-range seconds (negative, NaN, beyond the clock) fall back to zero, not a panic.
        let seconds = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or_default();
        let mut options = SandboxOptions::default()
            .bind(SocketAddr::new(self.bind, self.port))
            .processing_delay(seconds(self.processing_delay))
            .indexing_lag(seconds(self.indexing_lag))
            .per_minute_limit(self.per_minute_limit)
            .daily_limits(if self.no_daily_limits {
                DailyLimits::unlimited()
            } else {
                DailyLimits::default()
            })
            .default_redirect_uris(self.redirect_uris.clone())
            .public_registry_pacing(!self.no_registry_pacing)
            .max_stored_bytes(self.max_stored_bytes)
            .header_read_timeout(
                Duration::try_from_secs_f64(self.header_read_timeout.clamp(0.001, 86_400.0))
                    .unwrap_or(Duration::from_secs(30)),
            );
        if let Some(id) = &self.client_id {
            options = options.default_client_id(id.clone());
        }
        if let Some(secret) = &self.client_secret {
            options = options.default_client_secret(secret.clone());
        }
        options
    }
}

/// Starts the sandbox, prints how to reach it (`program` names the command in the text) and
/// serves until SIGINT or SIGTERM. The error is the start's (e.g. the port is taken).
pub fn serve(args: &SandboxArgs, program: &str) -> Result<(), crate::SandboxError> {
    let sandbox = Sandbox::start(args.options())?;
    let info = sandbox.info();
    if args.json {
        println!("{}", serde_json::to_string(&info).unwrap_or_default());
    } else {
        println!("{program} listening on {}", info.base_url);
        println!("  base URL (logincert, api, webservicesp): {}", info.base_url);
        println!("  application:   {}", info.application.name);
        println!("    client_id:     {}", info.application.client_id);
        println!("    client_secret: {}", info.application.client_secret);
        println!("    redirect_uri:  {}", info.application.redirect_uris.join(", "));
        println!(
            "  identity:      {} (serial {})",
            info.identity.name, info.identity.serial
        );
        let cifs: Vec<&str> = info.identity.cifs.iter().map(String::as_str).collect();
        println!("    CIFs:          {}", cifs.join(", "));
        println!("  admin API:     {}/_sandbox/", info.base_url);
        println!("Press Ctrl-C to stop.");
    }
    // Block until interrupted; the server runs on the sandbox's own threads.
    let (tx, rx) = std::sync::mpsc::channel();
    let _ = ctrlc_channel(tx);
    let _ = rx.recv();
    drop(sandbox);
    Ok(())
}

/// Waits for SIGINT/SIGTERM on a small runtime and signals the main thread.
fn ctrlc_channel(tx: std::sync::mpsc::Sender<()>) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
        });
        let _ = tx.send(());
    });
    Ok(())
}
