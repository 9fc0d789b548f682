//! Surge simulator: virtual visitors against a real `vestibule` process.
//!
//! ```text
//! cargo bench --bench surge                       # the broadcast scenario (about 2 minutes)
//! cargo bench --bench surge -- --rate 1000 --arrive-for 20 --capacity 300 --flow 10
//! cargo bench --bench surge -- --opens-after 20   # an announced event: its pre-queue, then the doors
//! cargo bench --bench surge -- --opens-after 20 --shuffle   # ... whose places are drawn at the opening
//! ```
//!
//! It starts a backend (in this process) that counts concurrent distinct
//! visitors, and the release `vestibule` binary in front of it (one room,
//! `capacity`). Visitors arrive at `rate` per second for `arrive_for`
//! seconds, each with its own cookies over shared keep-alive connections
//! (as behind a CDN). A visitor who is queued polls `/_vestibule/status` as
//! the answer tells it; once admitted it runs a registration flow (GET the
//! form, POST it, GET the confirmation, `flow` seconds in all) and leaves
//! through `/_vestibule/leave`. Arrivals stop after `arrive_for`; the run
//! stops `drain` seconds later, whoever is still waiting.
//!
//! Reported: peak concurrent visitors at the backend against capacity,
//! FIFO inversions (a visitor told "queued" after someone with a later
//! ticket was admitted), wait p50/p90/p99 of those admitted, the error of
//! the estimated wait shown at arrival against the actual wait, requests
//! per second through the proxy, and the proxy's CPU time and peak RSS.
//!
//! With `--opens-after S` the room has an event whose line opens with the
//! run and whose doors open S seconds in: it also reports who arrived
//! before the opening and how many of them got in, anyone admitted before
//! it (which fails the run), and the proxy's CPU and RSS at the opening.
//! With `--shuffle` too, the pre-queue is drawn at the opening: its
//! tickets have no order to invert among themselves (inversions count
//! pairs with a ticket from after the opening), and it reports how many
//! of the drawn block got in, each once, and the rank correlation between
//! arrival and admission inside the block (near 0 for a fair draw, near 1
//! for arrival order).
//!
//! `VESTIBULE_BIN=path` runs that binary instead of the one cargo built.
//!
//! It exits 1 if the cap or the order was broken, nobody was admitted,
//! over 1 % of requests failed to connect, or the proxy did not exit 0 on
//! SIGTERM. Under `cargo test` (which runs benches as smoke tests) it
//! plays a tiny scenario.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use vestibule::token::Keys;

const SECRET: &str = "surge-simulator-secret-0123456789abcdef0123456789";
const ROOM: &str = "registration";

#[derive(Debug, Clone)]
struct Scenario {
    /// New visitors per second.
    rate: u64,
    /// Seconds of arrivals.
    arrive_for: u64,
    /// Room capacity.
    capacity: u64,
    /// Seconds an admitted visitor spends in the registration flow.
    flow: f64,
    /// Seconds the run continues after arrivals stop.
    drain: u64,
    /// Keep-alive connections the visitors share.
    connections: usize,
    /// Proxy worker threads.
    workers: usize,
    /// An announced event: the line opens with the run and the doors this
    /// many seconds later (`--opens-after`); `None`: no event.
    opens_after: Option<u64>,
    /// The event draws the pre-queue's places at the opening (`--shuffle`).
    shuffle: bool,
}

impl Scenario {
    /// The default: a real broadcast (5,000 new visitors a second for a
    /// minute, a backend that serves 2,000, a 30 s registration).
    fn broadcast() -> Scenario {
        Scenario {
            rate: 5000,
            arrive_for: 60,
            capacity: 2000,
            flow: 30.0,
            drain: 60,
            connections: 256,
            workers: 1,
            opens_after: None,
            shuffle: false,
        }
    }

    /// A few seconds, for `cargo test`.
    fn smoke() -> Scenario {
        Scenario {
            rate: 100,
            arrive_for: 3,
            capacity: 20,
            flow: 1.0,
            drain: 12,
            connections: 16,
            workers: 1,
            opens_after: None,
            shuffle: false,
        }
    }

    fn from_args(args: &[String]) -> Scenario {
        let mut s = Scenario::broadcast();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || {
                it.next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or_else(|| usage(a))
            };
            match a.as_str() {
                "--rate" => s.rate = val() as u64,
                "--arrive-for" => s.arrive_for = val() as u64,
                "--capacity" => s.capacity = val() as u64,
                "--flow" => s.flow = val(),
                "--drain" => s.drain = val() as u64,
                "--connections" => s.connections = val() as usize,
                "--workers" => s.workers = val() as usize,
                "--opens-after" => s.opens_after = Some(val() as u64),
                "--shuffle" => s.shuffle = true,
                "--bench" => {}
                _ => usage(a),
            }
        }
        s
    }
}

fn usage(arg: &str) -> ! {
    eprintln!(
        "surge: bad argument {arg:?}\nusage: cargo bench --bench surge -- [--rate N] [--arrive-for S] \
         [--capacity N] [--flow S] [--drain S] [--connections N] [--workers N] [--opens-after S] [--shuffle]"
    );
    std::process::exit(2)
}

/// The backend: counts visitors between their first gated request and
/// their goodbye.
///
/// A visitor who stops sending requests without saying goodbye (a client
/// error, the end of the run) stops counting after the proxy's session
/// TTL, as the proxy's own session does.
#[derive(Default)]
struct Backend {
    active: Mutex<HashMap<u64, Instant>>,
    peak: AtomicU64,
    requests: AtomicU64,
}

impl Backend {
    /// Forgets visitors idle longer than `ttl` (run every second).
    fn prune(&self, ttl: Duration) {
        let mut a = self.active.lock().unwrap_or_else(|e| e.into_inner());
        a.retain(|_, seen| seen.elapsed() < ttl);
    }

    fn handle(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let uid = req
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("uid="))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(uid) = uid {
            let mut a = self.active.lock().unwrap_or_else(|e| e.into_inner());
            if req.uri().path() == "/bye" {
                a.remove(&uid);
            } else if a.insert(uid, Instant::now()).is_none() {
                self.peak.fetch_max(a.len() as u64, Ordering::Relaxed);
            }
        }
        let mut r = Response::new(Full::new(Bytes::from_static(b"{\"backend\":true}")));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r
    }
}

async fn serve_backend(backend: Arc<Backend>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind backend");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            let _ = s.set_nodelay(true);
            let b = backend.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let r = b.handle(&req);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    addr
}

/// What one visitor saw.
#[derive(Debug, Clone, Default)]
struct Record {
    ticket: Option<u64>,
    arrived: f64,
    /// Estimated wait shown at arrival (None: "measuring").
    eta: Option<f64>,
    admitted: Option<f64>,
    /// Last time it was told "queued".
    last_queued: f64,
    direct: bool,
    /// Its ticket became void (it did not check in within the window, its
    /// requests being too slow) and it joined again with a new one.
    lost: bool,
}

struct Sim {
    client: Client<HttpConnector, Full<Bytes>>,
    /// Requests in flight at once (the shared connections), as a CDN or
    /// load balancer in front would multiplex visitors.
    in_flight: tokio::sync::Semaphore,
    errors_by_status: AtomicU64,
    proxy: SocketAddr,
    keys: Keys,
    start: Instant,
    stop_at: Instant,
    flow: f64,
    requests: AtomicU64,
    errors: AtomicU64,
    records: Mutex<Vec<Record>>,
    /// The highest ticket handed out in the pre-queue: with `--shuffle`,
    /// the drawn block is the tickets up to here.
    prequeue_hi: AtomicU64,
}

struct Reply {
    /// When the request was sent: a "queued" answer was decided after this.
    sent: f64,
    status: u16,
    json: serde_json::Value,
    backend: bool,
}

impl Sim {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    async fn send(&self, jar: &mut Vec<(String, String)>, method: Method, path: &str) -> Option<Reply> {
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.proxy))
            .header("accept", "application/json")
            .header("cookie", cookie)
            .body(Full::new(Bytes::new()))
            .ok()?;
        let _permit = self.in_flight.acquire().await.ok()?;
        let sent = self.now();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = match self.client.request(req).await {
            Ok(r) => r,
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        for sc in resp.headers().get_all(http::header::SET_COOKIE) {
            let Ok(s) = sc.to_str() else { continue };
            let nv = s.split(';').next().unwrap_or("");
            if let Some((k, v)) = nv.split_once('=') {
                jar.retain(|(name, _)| name != k);
                if !s.contains("Max-Age=0") {
                    jar.push((k.to_string(), v.to_string()));
                }
            }
        }
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let backend = json.get("backend").is_some();
        Some(Reply {
            sent,
            status,
            json,
            backend,
        })
    }

    fn ticket_of(&self, jar: &[(String, String)]) -> Option<u64> {
        let raw = jar.iter().find(|(k, _)| k == "vst_registration")?.1.as_str();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis() as u64;
        self.keys.verify(ROOM, raw, now_ms).ok().map(|t| t.number)
    }

    async fn sleep(&self, secs: f64) -> bool {
        let until = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
        if until >= self.stop_at {
            tokio::time::sleep_until(self.stop_at.into()).await;
            return false;
        }
        tokio::time::sleep_until(until.into()).await;
        true
    }

    async fn visitor(self: Arc<Self>, uid: u64) {
        let mut jar = vec![("uid".to_string(), uid.to_string())];
        let mut rec = Record {
            arrived: self.now(),
            ..Record::default()
        };
        let mut reply = self.send(&mut jar, Method::GET, "/register").await;
        let admitted = loop {
            let Some(r) = reply else {
                // Refused or failed: retry like a browser would, a bit later.
                if !self.sleep(2.0).await {
                    break false;
                }
                reply = self.send(&mut jar, Method::GET, "/register").await;
                continue;
            };
            if r.backend {
                rec.direct = rec.ticket.is_none();
                break true;
            }
            if r.json["state"] == "admitted" {
                break true;
            }
            if r.json["state"] == "queued" || r.json["state"] == "prequeue" {
                if rec.ticket.is_none() {
                    rec.eta = r.json["eta_seconds"].as_f64();
                }
                rec.ticket = self.ticket_of(&jar);
                if r.json["state"] == "prequeue" {
                    self.prequeue_hi.fetch_max(rec.ticket.unwrap_or(0), Ordering::Relaxed);
                }
                // The send time: the proxy decided "queued" after it, so an
                // inversion counted against it is real, not an answer that
                // sat in this process's queue while someone else's came in.
                rec.last_queued = r.sent;
            } else if r.status == 503 {
                self.errors_by_status.fetch_add(1, Ordering::Relaxed);
            } else {
                // The ticket is void (not checked in within the window):
                // join again, as a browser's next page load would.
                rec.lost = true;
                jar.retain(|(k, _)| k == "uid");
                reply = self.send(&mut jar, Method::GET, "/register").await;
                continue;
            }
            let wait = r.json["poll_after_seconds"].as_f64().unwrap_or(2.0);
            if !self.sleep(wait).await {
                break false;
            }
            reply = self
                .send(&mut jar, Method::GET, "/_vestibule/status?room=registration")
                .await;
        };
        if admitted {
            rec.admitted = Some(self.now());
            self.records.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
            // The registration: form, submit, confirmation, then leave.
            let step = self.flow / 3.0;
            for (m, p) in [
                (Method::GET, "/register/form"),
                (Method::POST, "/register"),
                (Method::GET, "/register/done"),
            ] {
                if !self.sleep(step).await {
                    return;
                }
                self.send(&mut jar, m, p).await;
            }
            self.send(
                &mut jar,
                Method::GET,
                "/_vestibule/leave?room=registration&return_to=/bye",
            )
            .await;
            self.send(&mut jar, Method::GET, "/bye").await;
        } else {
            self.records.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
        }
    }
}

/// The room's session TTL: three registrations long, at least a minute.
fn session_ttl(s: &Scenario) -> u64 {
    (s.flow * 3.0).ceil().max(60.0) as u64
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The proxy process: `vestibule --config ...`.
fn start_proxy(
    dir: &std::path::Path,
    backend: SocketAddr,
    s: &Scenario,
    opens_at: Option<std::time::SystemTime>,
) -> (Child, SocketAddr) {
    let port = free_port();
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:0\"\nupstream = \"http://{backend}\"\n\
         workers = {}\ntick = \"1s\"\n\n[[room]]\nname = \"{ROOM}\"\npaths = [\"/register\"]\ncapacity = {}\n\
         session_ttl = \"{}s\"\nclaim_grace = \"30s\"\ncheckin_window = \"15s\"\n",
        s.workers,
        s.capacity,
        session_ttl(s)
    );
    if let Some(t) = opens_at {
        // The line opens now; the doors at `t`.
        let rfc = |t| humantime::format_rfc3339_seconds(t).to_string();
        cfg.push_str(&format!(
            "[[room.event]]\nname = \"surge\"\nprequeue_from = \"{}\"\nopens_at = \"{}\"\nafter = \"queue\"\nshuffle = {}\n",
            rfc(std::time::SystemTime::now() - Duration::from_secs(1)),
            rfc(t),
            s.shuffle
        ));
    }
    let path = dir.join("surge.toml");
    std::fs::write(&path, cfg).expect("write config");
    // VESTIBULE_BIN runs another build (scripts/build-pgo trains an
    // instrumented one with this scenario).
    let bin = std::env::var_os("VESTIBULE_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_vestibule").into());
    let child = Command::new(bin)
        .arg("--config")
        .arg(&path)
        .env("VESTIBULE_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start vestibule");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "vestibule did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, addr)
}

/// (CPU seconds, peak RSS in KiB) of a process, from /proc.
fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (ticks / 100.0, hwm)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Pairs (a, b), ticket a < ticket b, where a was told "queued" after b
/// was admitted: b overtook a. Tickets up to `drawn` (a drawn block, 0 for
/// none) have no order among themselves, only ahead of every later one.
fn inversions(records: &[Record], drawn: u64) -> u64 {
    let mut admitted: Vec<(u64, f64)> = records.iter().filter_map(|r| Some((r.ticket?, r.admitted?))).collect();
    admitted.sort_by_key(|a| a.0);
    let mut n = 0;
    for r in records {
        let Some(t) = r.ticket else { continue };
        let later = admitted.partition_point(|(bt, _)| *bt <= t.max(drawn));
        n += admitted[later..]
            .iter()
            .filter(|(_, at)| *at < r.last_queued - 0.001)
            .count() as u64;
    }
    n
}

/// Spearman's rank correlation of the pairs' two values (ties: mean rank).
fn spearman(pairs: &[(f64, f64)]) -> f64 {
    fn ranks(v: Vec<f64>) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for k in &idx[i..=j] {
                r[*k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let x = ranks(pairs.iter().map(|p| p.0).collect());
    let y = ranks(pairs.iter().map(|p| p.1).collect());
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(&y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test` runs benches without `--bench`: a quick smoke run then.
    let smoke = !args.iter().any(|a| a == "--bench");
    let s = if smoke {
        Scenario::smoke()
    } else {
        Scenario::from_args(&args)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let ok = rt.block_on(run(s, smoke));
    if !ok {
        std::process::exit(1);
    }
}

async fn run(s: Scenario, smoke: bool) -> bool {
    eprintln!("surge: {s:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = Arc::new(Backend::default());
    let backend_addr = serve_backend(backend.clone()).await;
    let opens = s.opens_after.map(|o| {
        (
            std::time::SystemTime::now() + Duration::from_secs(o),
            Instant::now() + Duration::from_secs(o),
        )
    });
    let (mut proxy, proxy_addr) = start_proxy(dir.path(), backend_addr, &s, opens.map(|o| o.0));
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(s.connections)
        .build(http);
    let start = Instant::now();
    let total = Duration::from_secs(s.arrive_for + s.drain);
    let ttl = Duration::from_secs(session_ttl(&s));
    let pruner = {
        let b = backend.clone();
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_secs(1));
            loop {
                iv.tick().await;
                b.prune(ttl);
            }
        })
    };
    let sim = Arc::new(Sim {
        client,
        in_flight: tokio::sync::Semaphore::new(s.connections),
        errors_by_status: AtomicU64::new(0),
        proxy: proxy_addr,
        keys: Keys::from_text(SECRET).expect("secret"),
        start,
        stop_at: start + total,
        flow: s.flow,
        requests: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        records: Mutex::new(Vec::new()),
        prequeue_hi: AtomicU64::new(0),
    });
    let (cpu0, _) = proc_usage(proxy.id());
    // The proxy's CPU and RSS every 250 ms: what the opening second costs.
    let samples: Arc<Mutex<Vec<(f64, f64, u64)>>> = Arc::default();
    let sampler = {
        let (samples, pid) = (samples.clone(), proxy.id());
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(Duration::from_millis(250));
            loop {
                iv.tick().await;
                let (cpu, rss) = proc_usage(pid);
                samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((start.elapsed().as_secs_f64(), cpu, rss));
            }
        })
    };

    // Arrivals, evenly spaced, in 10 ms batches.
    let mut uid = 0u64;
    let arrivals = s.rate * s.arrive_for;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut tasks = tokio::task::JoinSet::new();
    let mut next_report = Duration::from_secs(10);
    while uid < arrivals {
        tick.tick().await;
        let due = ((start.elapsed().as_secs_f64() * s.rate as f64) as u64).min(arrivals);
        while uid < due {
            uid += 1;
            tasks.spawn(sim.clone().visitor(uid));
        }
        if start.elapsed() >= next_report {
            next_report += Duration::from_secs(10);
            eprintln!(
                "surge: t={:.0}s arrived={uid} requests={} backend peak={}",
                start.elapsed().as_secs_f64(),
                sim.requests.load(Ordering::Relaxed),
                backend.peak.load(Ordering::Relaxed)
            );
        }
    }
    while tasks.join_next().await.is_some() {}
    pruner.abort();
    sampler.abort();
    let elapsed = start.elapsed().as_secs_f64();
    let (cpu1, rss_kib) = proc_usage(proxy.id());
    let exit = stop_proxy(&mut proxy);

    let records = sim.records.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let admitted: Vec<&Record> = records.iter().filter(|r| r.admitted.is_some()).collect();
    let direct = admitted.iter().filter(|r| r.direct).count();
    let mut waits: Vec<f64> = admitted
        .iter()
        .filter(|r| !r.direct)
        .filter_map(|r| Some(r.admitted? - r.arrived))
        .collect();
    waits.sort_by(f64::total_cmp);
    let mut eta_err: Vec<f64> = admitted
        .iter()
        .filter(|r| !r.direct)
        .filter_map(|r| {
            let actual = r.admitted? - r.arrived;
            (actual >= 1.0).then_some((r.eta? - actual).abs() / actual)
        })
        .collect();
    eta_err.sort_by(f64::total_cmp);
    // Signed: positive when the estimate was too long.
    let mut eta_bias: Vec<f64> = admitted
        .iter()
        .filter(|r| !r.direct)
        .filter_map(|r| {
            let actual = r.admitted? - r.arrived;
            (actual >= 1.0).then_some((r.eta? - actual) / actual)
        })
        .collect();
    eta_bias.sort_by(f64::total_cmp);
    let eta_measuring = admitted.iter().filter(|r| !r.direct && r.eta.is_none()).count();
    let drawn = if s.shuffle {
        sim.prequeue_hi.load(Ordering::Relaxed)
    } else {
        0
    };
    let inv = inversions(&records, drawn);
    let peak = backend.peak.load(Ordering::Relaxed);
    let reqs = sim.requests.load(Ordering::Relaxed);

    println!(
        "## surge: {} visitors/s for {} s, capacity {}, flow {} s, stop after {} s",
        s.rate,
        s.arrive_for,
        s.capacity,
        s.flow,
        s.arrive_for + s.drain
    );
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| visitors arrived | {} |", records.len());
    println!(
        "| admitted (directly / from the line) | {} ({direct} / {}) |",
        admitted.len(),
        admitted.len() - direct
    );
    println!("| still waiting at the stop | {} |", records.len() - admitted.len());
    println!(
        "| peak concurrent visitors at the backend / capacity | {peak} / {} |",
        s.capacity
    );
    println!("| FIFO inversions (pairs) | {inv} |");
    println!(
        "| wait p50 / p90 / p99 (admitted from the line) | {:.1} s / {:.1} s / {:.1} s |",
        percentile(&waits, 0.5),
        percentile(&waits, 0.9),
        percentile(&waits, 0.99)
    );
    println!(
        "| estimated-wait error at arrival, median / p90 | {:.0} % / {:.0} % ({} shown \"measuring\") |",
        percentile(&eta_err, 0.5) * 100.0,
        percentile(&eta_err, 0.9) * 100.0,
        eta_measuring
    );
    println!(
        "| estimated-wait bias at arrival, median (+ = too long) | {:+.0} % |",
        percentile(&eta_bias, 0.5) * 100.0
    );
    println!(
        "| requests through the proxy | {reqs} ({:.0}/s) |",
        reqs as f64 / elapsed
    );
    println!(
        "| client errors (connection) | {} |",
        sim.errors.load(Ordering::Relaxed)
    );
    println!(
        "| \"please wait\" answers (503) | {} |",
        sim.errors_by_status.load(Ordering::Relaxed)
    );
    println!(
        "| visitors whose ticket went void (too slow to check in) | {} |",
        records.iter().filter(|r| r.lost).count()
    );
    println!("| backend requests | {} |", backend.requests.load(Ordering::Relaxed));
    println!(
        "| proxy CPU | {:.1} s ({:.0} µs per request) |",
        cpu1 - cpu0,
        (cpu1 - cpu0) * 1e6 / reqs.max(1) as f64
    );
    println!("| proxy peak RSS | {:.1} MiB |", rss_kib as f64 / 1024.0);
    println!("| wall time | {elapsed:.0} s |");
    let mut early = 0;
    if let Some((_, at)) = opens {
        let opening = at.saturating_duration_since(start).as_secs_f64();
        let before: Vec<&Record> = records.iter().filter(|r| r.arrived < opening).collect();
        early = records
            .iter()
            .filter(|r| r.admitted.is_some_and(|a| a < opening))
            .count();
        let admitted_of = before.iter().filter(|r| r.admitted.is_some()).count();
        let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // CPU a second over [from, from + 1), from the samples around it.
        let cpu_at = |from: f64| {
            let at = |t: f64| {
                samples
                    .iter()
                    .find(|s| s.0 >= t)
                    .or(samples.last())
                    .map_or(0.0, |s| s.1)
            };
            at(from + 1.0) - at(from)
        };
        let rss_at = samples.iter().find(|s| s.0 >= opening).map_or(0, |s| s.2);
        let busiest = (0..elapsed as u64).map(|t| cpu_at(t as f64)).fold(0.0, f64::max);
        println!(
            "| pre-queue: arrived before the opening ({opening:.0} s) / admitted | {} / {admitted_of} |",
            before.len()
        );
        println!("| admitted before the doors opened | {early} |");
        println!(
            "| proxy CPU in the opening second / in the second before / busiest second | {:.2} s / {:.2} s / {:.2} s |",
            cpu_at(opening),
            cpu_at(opening - 1.0),
            busiest
        );
        println!("| proxy RSS at the opening | {:.1} MiB |", rss_at as f64 / 1024.0);
        if s.shuffle {
            // The drawn block: visitors whose (last) ticket is in it.
            let block: Vec<&Record> = records
                .iter()
                .filter(|r| r.ticket.is_some_and(|t| t <= drawn))
                .collect();
            let mut tickets: Vec<u64> = block
                .iter()
                .filter(|r| r.admitted.is_some())
                .filter_map(|r| r.ticket)
                .collect();
            let let_in = tickets.len();
            tickets.sort_unstable();
            tickets.dedup();
            let pairs: Vec<(f64, f64)> = block
                .iter()
                .filter_map(|r| Some((r.ticket? as f64, r.admitted?)))
                .collect();
            println!(
                "| drawn block: tickets / visitors holding one / let in (distinct tickets) | {drawn} / {} / {let_in} ({}) |",
                block.len(),
                tickets.len()
            );
            println!(
                "| drawn block: rank correlation of arrival and admission | {:+.3} |",
                spearman(&pairs)
            );
        }
    }

    // Besides the cap and the order: a proxy that died, admitted nobody,
    // or dropped connections would pass those two by doing nothing.
    let errors = sim.errors.load(Ordering::Relaxed);
    let mut failed = Vec::new();
    if peak > s.capacity {
        failed.push(format!("the cap was broken ({peak} > {})", s.capacity));
    }
    if inv > 0 {
        failed.push(format!("the order was broken ({inv} inversions)"));
    }
    if admitted.is_empty() {
        failed.push("nobody was admitted".to_string());
    }
    if early > 0 {
        failed.push(format!("{early} admitted before the doors opened"));
    }
    if errors * 100 > reqs.max(1) {
        failed.push(format!("{errors} client errors in {reqs} requests"));
    }
    if let Err(why) = exit {
        failed.push(why);
    }
    if !failed.is_empty() {
        eprintln!("surge: FAILED: {}", failed.join("; "));
    } else if smoke {
        eprintln!("surge: smoke run ok");
    }
    failed.is_empty()
}

/// Stops the proxy with SIGTERM, as an orchestrator would, and checks that
/// it drained and exited cleanly (within a minute; killed otherwise).
fn stop_proxy(proxy: &mut Child) -> Result<(), String> {
    let _ = Command::new("kill").arg(proxy.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match proxy.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("the proxy exited with {st} after SIGTERM")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                let _ = proxy.kill();
                let _ = proxy.wait();
                return Err("the proxy did not exit within 60 s of SIGTERM".to_string());
            }
        }
    }
}
