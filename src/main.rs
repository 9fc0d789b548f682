//! The `vestibule` binary: parses flags, loads the configuration, builds the
//! runtime and hands a shutdown signal to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vestibule::config::{self, Config};

/// Exit code for a bad configuration (EX_USAGE... sysexits' EX_USAGE is 64).
const EXIT_CONFIG: u8 = 64;
/// Exit code when start-up fails (cannot bind, unreadable secret).
const EXIT_START: u8 = 71;

#[derive(Parser)]
#[command(name = "vestibule", version, about = "A virtual waiting-room reverse proxy")]
struct Cli {
    /// Configuration file.
    #[arg(long, short, global = true, default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (the default).
    Run,
    /// Validate the configuration: print every problem and exit non-zero, or a summary and exit 0.
    Check,
    /// Run a demo: a built-in registration site behind a room of capacity 2.
    Demo {
        /// Public address of the demo.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Admin address of the demo (metrics).
        #[arg(long, default_value = "127.0.0.1:9090")]
        admin_listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Check => {
            init_tracing(config::LogFormat::Text);
            check(&cli.config)
        }
        Command::Run => match Config::load(&cli.config) {
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
            Ok(cfg) => {
                init_tracing(cfg.log.format);
                // Checked before anything starts, like the file itself:
                // instances that cannot read each other's cookies must
                // not serve.
                if let Some(problem) = vestibule::secrets::missing_shared_secret(&cfg) {
                    eprintln!("{}: {problem}", cli.config.display());
                    return ExitCode::from(EXIT_CONFIG);
                }
                let workers = cfg.server.workers;
                let opts = vestibule::Options {
                    config_path: Some(cli.config.clone()),
                    sighup: true,
                    ..vestibule::Options::default()
                };
                block_on(workers, async move {
                    // A second SIGTERM/SIGINT during the drain cuts it short.
                    vestibule::run(cfg, opts, shutdown_signal(), shutdown_signal).await
                })
            }
        },
        Command::Demo { listen, admin_listen } => {
            init_tracing(config::LogFormat::Text);
            block_on(None, demo(listen, admin_listen))
        }
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(cfg) if !vestibule::secrets::preflight(&cfg).is_empty() => {
            let problems = vestibule::secrets::preflight(&cfg);
            eprintln!(
                "{}: {} problem(s) with files the configuration names",
                path.display(),
                problems.len()
            );
            for p in problems {
                eprintln!("  - {p}");
            }
            ExitCode::from(EXIT_CONFIG)
        }
        Ok(cfg) => {
            let rooms: Vec<String> = cfg
                .rooms
                .iter()
                .map(|r| {
                    let rate = r.admit_per_minute.map_or(String::new(), |a| format!(", {a}/min"));
                    format!("{} (capacity {}{rate}, {})", r.name, r.capacity, r.paths.join(" "))
                })
                .collect();
            let state = match (&cfg.store, &cfg.persistence.state_file) {
                (config::StoreConfig::Memory, Some(f)) => format!("memory, saved to {}", f.display()),
                (config::StoreConfig::Memory, None) => "memory, not saved".into(),
                (config::StoreConfig::Redis(r), _) => {
                    format!("redis {} (on failure: {})", r.url, r.on_failure.as_str())
                }
            };
            println!(
                "{}: ok: {} room(s): {}; upstream {}; store {state}",
                path.display(),
                cfg.rooms.len(),
                if rooms.is_empty() {
                    "none".into()
                } else {
                    rooms.join("; ")
                },
                cfg.server.upstream
            );
            for s in &cfg.sites {
                let hosts: Vec<String> = s.hosts.iter().map(ToString::to_string).collect();
                println!("site {}: {} -> {}", s.name, hosts.join(" "), s.upstream);
            }
            if let Some(t) = &cfg.server.tls {
                let redirect = if t.redirect_http { ", plain HTTP redirected" } else { "" };
                let hsts = match &t.hsts {
                    Some(v) => format!(", Strict-Transport-Security: {}", v.to_str().unwrap_or_default()),
                    None => String::new(),
                };
                println!("TLS on {}{redirect}{hsts}:", t.listen);
                if let Ok(certs) = vestibule::tls::Certs::load(t) {
                    let now = vestibule::tls::now_unix();
                    for p in certs.pairs() {
                        println!(
                            "  {}: {} (valid until {}, {} days left)",
                            p.cert_file.display(),
                            p.info.names.join(" "),
                            vestibule::tls::date(p.info.not_after),
                            p.info.days_left(now)
                        );
                        if let Some(w) = p.info.warning(now) {
                            eprintln!("warning: {}: the certificate {w}", p.cert_file.display());
                        }
                    }
                }
            }
            if cfg.server.upstream_tls.insecure_skip_verify {
                eprintln!("warning: upstream_insecure_skip_verify: https upstreams' certificates are not checked");
            }
            // preflight built the catalog already; it builds again here.
            if let Ok(c) = vestibule::lang::Catalog::load(&vestibule::lang::Settings::of(&cfg)) {
                let langs: Vec<String> = c
                    .languages()
                    .iter()
                    .map(|l| {
                        let default = if l.tag() == c.default_language().tag() {
                            ", default"
                        } else {
                            ""
                        };
                        format!("{} ({}{default})", l.tag(), l.name())
                    })
                    .collect();
                println!("languages: {}", langs.join(", "));
            }
            let now = vestibule::Clock::system().now_ms();
            for r in cfg.rooms.iter().filter(|r| !r.events.is_empty()) {
                println!("room {} events:", r.name);
                for line in vestibule::schedule::describe(&r.events, now) {
                    println!("  {line}");
                }
            }
            if matches!(cfg.store, config::StoreConfig::Memory) && cfg.persistence.state_file.is_none() {
                eprintln!(
                    "warning: no [store] state_file: a restart of this process loses every place in line \
                     and every session (fine for a try; set state_file in production)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

async fn demo(listen: SocketAddr, admin: SocketAddr) -> Result<(), vestibule::StartError> {
    let site = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|source| vestibule::StartError::Bind {
            addr: "127.0.0.1:0".parse().expect("valid"),
            source,
        })?;
    let site_addr = site
        .local_addr()
        .map_err(|source| vestibule::StartError::Bind { addr: listen, source })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let site_task = tokio::spawn(vestibule::demo::serve_site(site, stop_rx));
    let cfg = vestibule::demo::config(listen, admin, site_addr);
    let opts = vestibule::Options {
        keys: Some(vestibule::token::Keys::random()),
        extra_listeners: vestibule::demo::extra_listeners(listen),
        ..vestibule::Options::default()
    };
    let stop = shutdown_signal();
    let running = vestibule::spawn(cfg, opts).await?;
    println!("vestibule demo: a registration room of capacity 2 in front of a tiny site.");
    for a in &running.addrs {
        println!("  open http://{a}/register");
    }
    println!("  metrics: http://{}/metrics", running.admin_addr);
    println!("Each address is its own cookie jar, so each is a separate visitor: the third one waits in line.");
    println!("Press Ctrl-C to stop.");
    stop.await;
    println!("vestibule demo: stopping (letting requests in progress finish)...");
    running.shutdown().await;
    let _ = stop_tx.send(true);
    let _ = site_task.await;
    println!("vestibule demo: stopped.");
    Ok(())
}

fn block_on(
    workers: Option<usize>,
    fut: impl std::future::Future<Output = Result<(), vestibule::StartError>>,
) -> ExitCode {
    // One worker: a current-thread runtime runs every task on the thread
    // that drives it, with no hand-off between the main thread and a
    // worker and no work-stealing bookkeeping (measured in
    // docs/BENCHMARKS.md). Otherwise the multi-thread runtime, which
    // honours TOKIO_WORKER_THREADS when `workers` is unset.
    let env_workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut b = if workers.or(env_workers) == Some(1) {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(w) = workers {
            b.worker_threads(w);
        }
        b
    };
    b.enable_all();
    let rt = match b.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(EXIT_START);
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vestibule: {e}");
            ExitCode::from(EXIT_START)
        }
    }
}

/// The process log, on standard error (the access log has standard
/// output). `RUST_LOG` sets the level, `info` by default.
fn init_tracing(format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour only on a terminal: journald and log files get plain text.
        config::LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object a line, the event's fields at the top level, for
        // Loki, Elasticsearch or Vector.
        config::LogFormat::Json => log.json().flatten_event(true).with_current_span(false).init(),
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when the future is first polled: `run` logs "vestibule
/// started" before it polls the future, and a SIGTERM sent on that line
/// found the default action still in place, which kills the process
/// without a drain or a save (seen once in `tests/restart.rs`).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            let recv = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = recv(term) => {}
                _ = recv(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
