//! The Redis store: several vestibule instances share one line and one cap.
//!
//! Every decision is one call of one Lua script (`room.lua`, loaded once
//! and called by SHA), so it is atomic in Redis: two instances can never
//! both take the last slot, and tickets are numbered in one global order.
//! The script mirrors the memory store, which is the reference; one test
//! suite runs against both.
//!
//! **One advance per tick, no coordinator.** Every instance runs the
//! scheduler. The tick script first claims the tick period, by its start
//! time (`now` rounded down to the tick; a start time, not an index, so a
//! changed tick length compares correctly) in the room's hash: the first instance to call it
//! in a period expires and advances; the others find the period taken and
//! only read the state. Because claim and advance are one script, an
//! instance that stalls or dies mid-tick either advanced completely or not
//! at all, and the next period is claimed by whichever instance comes
//! first. Instances' clocks only decide *when* a period starts (keep them
//! NTP-synced); skew cannot cause two advances in one period.
//!
//! **Keys.** All of a room's keys share the hash tag `{vst:<room>}`, so
//! they live in one Redis Cluster slot and each script touches one slot;
//! with `[store] cluster = true` the cluster client routes each call to
//! the node that owns its room.
//! Every key gets an idle expiry (7 days) refreshed at each tick: a room
//! nobody uses any more disappears on its own. Transient entries (sessions,
//! reservations, returners, revocations, the issue log) are expired by the
//! tick itself, by score.
//!
//! **Epochs.** Arrivals and visits report the room's epoch; when Redis was
//! restarted empty, the gate sees a new one and refreshes its view before
//! signing any cookie ([`Store::seen_epoch`]).
//!
//! **Timeouts.** A multiplexed connection that reconnects by itself; each
//! call is bounded by `[store] timeout`. A call that timed out may still
//! run in Redis later; what it did is then undone by the usual expiries
//! (an unclaimed direct session after `claim_grace`, an unreturned ticket
//! after `checkin_window`). A failed call is
//! [`StoreError::Unavailable`]; what the gate then does is the failure
//! policy ([`crate::config::FailurePolicy`]).

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Value;

use super::{Arrival, Draw, Limits, Overrides, Snapshot, Store, StoreError, TickReport, Visit};
use crate::clock::Millis;
use crate::config::RoomMode;

const SCRIPT: &str = include_str!("room.lua");
/// A room untouched this long is dropped by Redis.
const IDLE_EXPIRY_MS: u64 = 7 * 24 * 3600 * 1000;
const KEY_SUFFIXES: [&str; 12] = [
    "meta", "sess", "prov", "resv", "ret", "retdl", "lapsed", "revoked", "mwords", "mbits", "log", "ends",
];

/// A connection to one Redis (or a replica set's primary) or to a Redis
/// Cluster, which routes each script by its keys' slot.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

/// The shared store.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    /// The room state generation each room's last reply carried.
    epochs: std::sync::Arc<dashmap::DashMap<String, u32>>,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl RedisStore {
    /// Connects as `[store]` says: one server, or a cluster given by a
    /// comma-separated list of its nodes.
    pub async fn open(cfg: &crate::config::RedisConfig) -> Result<RedisStore, StoreError> {
        let store = if cfg.cluster {
            let nodes: Vec<String> = cfg.url.split(',').map(|n| n.trim().to_string()).collect();
            RedisStore::connect_cluster(&nodes, &cfg.prefix, cfg.timeout).await
        } else {
            RedisStore::connect(&cfg.url, &cfg.prefix, cfg.timeout).await
        }?;
        tracing::info!(url = %cfg.url, prefix = %cfg.prefix, on_failure = cfg.on_failure.as_str(), "shared store: redis");
        Ok(store)
    }

    /// Connects to `url` (`redis://[:password@]host:port[/db]`). The first
    /// connection is made here, so a wrong address fails start-up; later
    /// the connection is re-established on its own. Keys start with
    /// `prefix` (tests use one per run).
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(timeout * 4, ConnectionManager::new_with_config(client, cfg))
            .await
            .map_err(|_| unavailable(format!("no answer from {url} within {:?}", timeout * 4)))?
            .map_err(unavailable)?;
        Ok(RedisStore::with(Conn::Single(conn), prefix, timeout))
    }

    /// Connects to a Redis Cluster through any of `nodes` (the rest are
    /// discovered). Each room's keys share one slot, so every script runs
    /// on the one node that owns the room.
    pub async fn connect_cluster(nodes: &[String], prefix: &str, timeout: Duration) -> Result<RedisStore, StoreError> {
        let client = redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .build()
            .map_err(unavailable)?;
        let conn = tokio::time::timeout(timeout * 4, client.get_async_connection())
            .await
            .map_err(|_| unavailable(format!("no answer from {nodes:?} within {:?}", timeout * 4)))?
            .map_err(unavailable)?;
        Ok(RedisStore::with(Conn::Cluster(conn), prefix, timeout))
    }

    fn with(conn: Conn, prefix: &str, timeout: Duration) -> RedisStore {
        RedisStore {
            conn,
            epochs: Default::default(),
            script: redis::Script::new(SCRIPT),
            prefix: prefix.to_string(),
            timeout,
        }
    }

    /// Records the epoch a reply carried (its last element).
    fn saw_epoch(&self, room: &str, a: &[Value]) -> Result<(), StoreError> {
        let e = a.last().ok_or_else(|| unavailable("short reply"))?;
        let e = u32::try_from(uint(e)?).map_err(|_| unavailable("epoch out of range"))?;
        if self.epochs.get(room).is_none_or(|k| *k != e) {
            self.epochs.insert(room.to_string(), e);
        }
        Ok(())
    }

    fn keys(&self, room: &str) -> [String; KEY_SUFFIXES.len()] {
        KEY_SUFFIXES.map(|s| format!("{{{}:{room}}}:{s}", self.prefix))
    }

    async fn call(
        &self,
        room: &str,
        op: &str,
        now: Millis,
        lim: &Limits,
        args: &[String],
    ) -> Result<Value, StoreError> {
        let mut inv = self.script.prepare_invoke();
        for k in self.keys(room) {
            inv.key(k);
        }
        inv.arg(op)
            .arg(now)
            .arg(lim.capacity)
            .arg(lim.admit_per_minute.map_or(-1, i64::from))
            .arg(lim.session_ttl_ms)
            .arg(lim.claim_grace_ms)
            .arg(lim.checkin_window_ms)
            .arg(lim.tick_ms.max(1))
            .arg(rand::random::<u32>())
            .arg(IDLE_EXPIRY_MS)
            .arg(mode_code(Some(lim.mode)))
            .arg(lim.max_session_ms)
            .arg(lim.draw.map_or(String::new(), |d| {
                format!("{}:{}:{}", d.event, d.key as u32, d.key >> 32)
            }));
        for a in args {
            inv.arg(a);
        }
        let call = async {
            match self.conn.clone() {
                Conn::Single(mut c) => inv.invoke_async::<Value>(&mut c).await,
                Conn::Cluster(mut c) => inv.invoke_async::<Value>(&mut c).await,
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r.map_err(unavailable),
            Err(_) => Err(unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }
}

/// A mode as the script reads it: `q`, `p`, `c`, `w` (an event's
/// pre-queue: nobody admitted); `''` for none (no override).
fn mode_code(m: Option<RoomMode>) -> &'static str {
    match m {
        None => "",
        Some(RoomMode::Queue) => "q",
        Some(RoomMode::Passthrough) => "p",
        Some(RoomMode::Closed) => "c",
        Some(RoomMode::Prequeue) => "w",
    }
}

/// Reading the script's replies: arrays of strings.
fn items(v: Value) -> Result<Vec<Value>, StoreError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(unavailable(format!("unexpected reply {other:?}"))),
    }
}

fn text(v: &Value) -> Result<String, StoreError> {
    match v {
        Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Nil => Ok(String::new()),
        other => Err(unavailable(format!("unexpected reply {other:?}"))),
    }
}

fn int(v: &Value) -> Result<i64, StoreError> {
    let t = text(v)?;
    t.parse().map_err(|_| unavailable(format!("not a number: {t:?}")))
}

fn uint(v: &Value) -> Result<u64, StoreError> {
    u64::try_from(int(v)?).map_err(|_| unavailable("negative count"))
}

fn field(a: &[Value], i: usize) -> Result<&Value, StoreError> {
    a.get(i).ok_or_else(|| unavailable("short reply"))
}

/// Builds a [`Snapshot`] from the script's snapshot array.
fn snapshot(v: Value) -> Result<Snapshot, StoreError> {
    let a = items(v)?;
    let epoch = u32::try_from(uint(field(&a, 0)?)?).map_err(|_| unavailable("epoch out of range"))?;
    let admitted = uint(field(&a, 2)?)?;
    let cleared = uint(field(&a, 6)?)?;
    let ov_cap = text(field(&a, 8)?)?;
    let ov_rate = text(field(&a, 9)?)?;
    let overrides = Overrides {
        paused: text(field(&a, 7)?)? == "1",
        capacity: (!ov_cap.is_empty()).then(|| ov_cap.parse().ok()).flatten(),
        admit_per_minute: match ov_rate.as_str() {
            "" => None,
            "u" => Some(None),
            n => n.parse().ok().map(Some),
        },
        notice: text(field(&a, 12)?)?.strip_prefix('=').map(str::to_owned),
        mode: match text(field(&a, 13)?)?.as_str() {
            "q" => Some(RoomMode::Queue),
            "p" => Some(RoomMode::Passthrough),
            "c" => Some(RoomMode::Closed),
            _ => None,
        },
    };
    let draw = match items(field(&a, 14)?.clone())?.as_slice() {
        [lo, size, k0, k1] => Some(Draw {
            lo: uint(lo)?,
            size: uint(size)?,
            key: uint(k0)? | (uint(k1)? << 32),
        }),
        _ => None,
    };
    // 32-bit words from Redis, combined into the 64-bit words the snapshot
    // indexes, masked to (admitted, cleared], or from a drawn block's start.
    let flat = items(field(&a, 10)?.clone())?;
    let mut words: std::collections::BTreeMap<u64, u64> = Default::default();
    for pair in flat.chunks(2) {
        let [w, b] = pair else { break };
        let (w, b) = (uint(w)?, int(b)? as u32 as u64);
        *words.entry(w / 2).or_default() |= b << (32 * (w % 2));
    }
    let (lo, hi) = (draw.map_or(admitted, |d| d.lo.min(admitted)) + 1, cleared);
    let mut marks = Vec::new();
    let mut before = 0;
    for (w, mut b) in words {
        if w == lo / 64 {
            b &= u64::MAX << (lo % 64);
        }
        if w == hi / 64 && hi % 64 != 63 {
            b &= (1u64 << (hi % 64 + 1)) - 1;
        }
        if b != 0 && w >= lo / 64 && w <= hi / 64 {
            marks.push((w, b, before));
            before += u64::from(b.count_ones());
        }
    }
    let mut revoked = items(field(&a, 11)?.clone())?
        .iter()
        .map(uint)
        .collect::<Result<Vec<_>, _>>()?;
    revoked.sort_unstable();
    Ok(Snapshot {
        epoch,
        issued: uint(field(&a, 1)?)?,
        admitted,
        active: uint(field(&a, 3)?)?,
        reserved: uint(field(&a, 4)?)?,
        returners: uint(field(&a, 5)?)?,
        cleared,
        marks,
        revoked,
        overrides,
        draw,
        restored_ms: 0,
    })
}

#[async_trait]
impl Store for RedisStore {
    async fn arrive(&self, room: &str, now: Millis, limits: &Limits) -> Result<Arrival, StoreError> {
        let a = items(self.call(room, "arrive", now, limits, &[]).await?)?;
        self.saw_epoch(room, &a)?;
        match text(field(&a, 0)?)?.as_str() {
            "direct" => Ok(Arrival::Direct {
                number: uint(field(&a, 1)?)?,
            }),
            _ => Ok(Arrival::Queued {
                ticket: uint(field(&a, 1)?)?,
                pointer: uint(field(&a, 2)?)?,
            }),
        }
    }

    async fn visit(&self, room: &str, ticket: u64, now: Millis, limits: &Limits) -> Result<Visit, StoreError> {
        let a = items(self.call(room, "visit", now, limits, &[ticket.to_string()]).await?)?;
        self.saw_epoch(room, &a)?;
        Ok(match text(field(&a, 0)?)?.as_str() {
            "waiting" => Visit::Waiting {
                pointer: uint(field(&a, 1)?)?,
            },
            "already" => Visit::AlreadyAdmitted,
            "claimed" => Visit::Claimed,
            "returner" => Visit::Returner {
                ahead: uint(field(&a, 1)?)?,
            },
            _ => Visit::Unknown,
        })
    }

    async fn touch(&self, room: &str, session: u64, now: Millis, limits: &Limits) -> Result<bool, StoreError> {
        Ok(int(&self.call(room, "touch", now, limits, &[session.to_string()]).await?)? == 1)
    }

    async fn release(&self, room: &str, session: u64, now: Millis, limits: &Limits) -> Result<bool, StoreError> {
        Ok(int(&self.call(room, "release", now, limits, &[session.to_string()]).await?)? == 1)
    }

    async fn tick(&self, room: &str, now: Millis, limits: &Limits) -> Result<TickReport, StoreError> {
        let mut a = items(self.call(room, "tick", now, limits, &[]).await?)?;
        let rep = if text(field(&a, 0)?)? == "skip" {
            TickReport {
                snapshot: snapshot(a.swap_remove(1))?,
                ..TickReport::default()
            }
        } else {
            TickReport {
                expired_sessions: uint(field(&a, 1)?)?,
                expired_reservations: uint(field(&a, 2)?)?,
                admitted: uint(field(&a, 3)?)?,
                outlived_sessions: uint(field(&a, 4)?)?,
                advanced: true,
                snapshot: snapshot(a.swap_remove(5))?,
            }
        };
        self.epochs.insert(room.to_string(), rep.snapshot.epoch);
        Ok(rep)
    }

    async fn snapshot(&self, room: &str, now: Millis, limits: &Limits) -> Result<Snapshot, StoreError> {
        let mut a = items(self.call(room, "snapshot", now, limits, &[]).await?)?;
        let snap = snapshot(a.swap_remove(1))?;
        self.epochs.insert(room.to_string(), snap.epoch);
        Ok(snap)
    }

    fn seen_epoch(&self, room: &str) -> Option<u32> {
        self.epochs.get(room).map(|e| *e)
    }

    async fn set_overrides(
        &self,
        room: &str,
        o: Overrides,
        now: Millis,
        limits: &Limits,
    ) -> Result<Snapshot, StoreError> {
        let args = [
            if o.paused { "1" } else { "0" }.to_string(),
            o.capacity.map(|c| c.to_string()).unwrap_or_default(),
            match o.admit_per_minute {
                None => String::new(),
                Some(None) => "u".into(),
                Some(Some(r)) => r.to_string(),
            },
            o.notice.as_ref().map(|n| format!("={n}")).unwrap_or_default(),
            mode_code(o.mode).to_string(),
        ];
        let mut a = items(self.call(room, "overrides", now, limits, &args).await?)?;
        snapshot(a.swap_remove(1))
    }
}
