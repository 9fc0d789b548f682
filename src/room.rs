//! Rooms at run time: routing a path to its room, the per-room view that
//! waiting visitors are answered from, and the measured admission rate that
//! the estimated wait is computed from.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::clock::Millis;
use crate::config::{HostPattern, RoomConfig, SiteConfig, Upstream};
use crate::metrics::{Metrics, RoomMetrics};
use crate::path::{self, Readings, Refusal};
use crate::request::Malformed;
use crate::schedule::{Phase, RoomMode};
use crate::store::{DrawSpec, Limits, Snapshot};

/// How far back the admission rate is measured: long enough to smooth the
/// waves in which registrations finish, short enough to follow a change.
const RATE_WINDOW_MS: u64 = 2 * 60 * 1000;
/// Shortest span over which a rate is reported at all.
const RATE_MIN_SPAN_MS: u64 = 5 * 1000;

/// What a tick learned about a room; replaced whole at every tick, read
/// lock-free on every request.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub snapshot: Snapshot,
    /// Admissions per second over the recent past; `None` until measured.
    pub rate: Option<f64>,
    /// When the view was taken.
    pub updated_ms: Millis,
}

/// Admission counts sampled at each tick.
#[derive(Debug, Default)]
struct RateMeter {
    samples: VecDeque<(Millis, u64)>,
    total: u64,
}

impl RateMeter {
    fn record(&mut self, now: Millis, admitted: u64) -> Option<f64> {
        self.total += admitted;
        self.samples.push_back((now, self.total));
        while self.samples.len() > 2 && self.samples[0].0 + RATE_WINDOW_MS < now {
            self.samples.pop_front();
        }
        // Before the line first moved (the room filling up directly, say)
        // there is nothing to measure: an idle start would make every
        // estimate too long. (The surge simulator measured +25 %.)
        while self.samples.len() > 2 && self.samples[1].1 == self.samples[0].1 {
            self.samples.pop_front();
        }
        let (t0, n0) = *self.samples.front()?;
        let span = now.saturating_sub(t0);
        (span >= RATE_MIN_SPAN_MS).then(|| (self.total - n0) as f64 * 1000.0 / span as f64)
    }
}

/// One configured room and its live state.
pub struct Room {
    pub cfg: RoomConfig,
    /// The file's limits, outside any event (see [`Room::limits`]).
    base: Limits,
    /// Cookie holding this room's ticket or session.
    pub cookie: String,
    pub metrics: RoomMetrics,
    /// The room's key in the per-thread cache of verified cookies.
    pub token_key: u64,
    view: ArcSwap<View>,
    /// The key this instance proposes for a drawn pre-queue (see
    /// [`crate::store::DrawSpec`]): random, so nobody knows the order
    /// before the opening.
    draw_key: u64,
    /// The highest admitted pointer a store answer showed since the view
    /// was published. Direct admissions move the pointer between ticks; a
    /// place counted from the view alone would count them as ahead.
    pointer: AtomicU64,
    meter: Mutex<RateMeter>,
}

impl Room {
    pub fn new(cfg: RoomConfig, tick: std::time::Duration, metrics: &Metrics) -> Room {
        let m = metrics.room(&cfg.name);
        m.capacity.set(i64::from(cfg.capacity));
        Room {
            base: Limits::new(&cfg, tick),
            cookie: format!("vst_{}", cfg.name),
            metrics: m,
            token_key: crate::token::room_hash(&cfg.name),
            cfg,
            view: ArcSwap::from_pointee(View::default()),
            draw_key: rand::random(),
            pointer: AtomicU64::new(0),
            meter: Mutex::new(RateMeter::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The file's limits at `now`, as the room's schedule has them: an
    /// event's capacity, rate and `max_session` while it runs, its
    /// pre-queue (nobody admitted) before, its `after` mode once over.
    /// Operators' overrides go on top (in the store).
    pub fn limits(&self, now: Millis) -> Limits {
        match self.phase(now) {
            Phase::Before => self.base,
            Phase::Prequeue(e) => Limits {
                mode: RoomMode::Prequeue,
                draw: self.draw(e),
                ..self.base
            },
            Phase::Open(e) => Limits {
                mode: RoomMode::Queue,
                capacity: e.capacity.unwrap_or(self.base.capacity),
                admit_per_minute: e.admit_per_minute.or(self.base.admit_per_minute),
                max_session_ms: e.max_session.map_or(self.base.max_session_ms, crate::clock::ms),
                draw: self.draw(e),
                ..self.base
            },
            Phase::After(e) => Limits {
                mode: e.after,
                ..self.base
            },
        }
    }

    /// What the store is told of event `e`'s draw: a key of the event's
    /// own, so one event's order says nothing about the next one's.
    fn draw(&self, e: &crate::schedule::Event) -> Option<DrawSpec> {
        e.shuffle.then(|| DrawSpec {
            event: e.opens_at,
            key: splitmix64(self.draw_key ^ e.opens_at),
        })
    }

    /// Where the room stands in its schedule at `now`.
    pub fn phase(&self, now: Millis) -> Phase<'_> {
        crate::schedule::phase_at(&self.cfg.events, now)
    }

    /// The latest view (lock-free).
    pub fn view(&self) -> arc_swap::Guard<Arc<View>> {
        self.view.load()
    }

    /// Publishes a tick's result: new view, rate, gauges.
    pub fn publish(&self, snapshot: Snapshot, admitted: u64, now: Millis) {
        let rate = self
            .meter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(now, admitted);
        let m = &self.metrics;
        m.active_users.set(snapshot.active as i64);
        m.reserved_slots.set(snapshot.reserved as i64);
        m.queue_length.set(snapshot.waiting() as i64);
        let eff = self.effective(&snapshot, now);
        m.capacity.set(i64::from(eff.capacity));
        m.paused.set(i64::from(snapshot.overrides.paused));
        m.set_mode(eff.mode);
        // The tick's pointer is the store's latest within a room state; a
        // store restarted empty starts it again from its own.
        self.pointer.store(snapshot.admitted, Ordering::Relaxed);
        self.view.store(Arc::new(View {
            snapshot,
            rate,
            updated_ms: now,
        }));
    }

    /// The admitted pointer as far as this instance knows: the view's, or a
    /// store answer's since.
    pub fn pointer(&self, view: &View) -> u64 {
        view.snapshot.admitted.max(self.pointer.load(Ordering::Relaxed))
    }

    /// A store answer showed the pointer at `p`.
    pub fn saw_pointer(&self, p: u64) {
        self.pointer.fetch_max(p, Ordering::Relaxed);
    }

    /// Estimated seconds until a visitor with `ahead` people before them is
    /// admitted: from the measured rate, or until the line has moved long
    /// enough to measure, from the room's configured pace (see
    /// [`Room::configured_pace`]). None while paused.
    pub fn eta_seconds(&self, view: &View, ahead: u64) -> Option<u64> {
        // Paused, the line does not move, whatever it did before.
        if view.snapshot.overrides.paused {
            return None;
        }
        let pace = view
            .rate
            .or_else(|| self.configured_pace(&view.snapshot, view.updated_ms))?;
        (pace > 0.0).then(|| ((ahead + 1) as f64 / pace).ceil() as u64)
    }

    /// Estimated seconds from the doors opening at `opens_at` until a
    /// visitor with `ahead` people before them is admitted: the slots free
    /// at the opening go at once (as fast as the rate lets them), the rest
    /// at the pace the event's settings allow. Before the line has moved
    /// there is nothing measured to go on.
    pub fn eta_from_opening(&self, view: &View, ahead: u64, opens_at: Millis) -> Option<u64> {
        let s = &view.snapshot;
        let lim = self.effective(s, opens_at);
        let free = u64::from(lim.capacity).saturating_sub(s.active + s.reserved);
        let rate = lim.admit_per_minute.map(|apm| f64::from(apm) / 60.0);
        if ahead < free {
            return Some(rate.map_or(0, |r| (ahead as f64 / r).floor() as u64));
        }
        let fill = rate.map_or(0.0, |r| free as f64 / r);
        let pace = self.configured_pace(s, opens_at)?;
        (pace > 0.0).then(|| (fill + (ahead - free + 1) as f64 / pace).ceil() as u64)
    }

    /// Admissions a second the settings allow: the capacity turning over
    /// once a session TTL, and no faster than `admit_per_minute`.
    pub fn configured_pace(&self, snapshot: &Snapshot, now: Millis) -> Option<f64> {
        let lim = self.effective(snapshot, now);
        if lim.session_ttl_ms == 0 {
            return None;
        }
        let turnover = f64::from(lim.capacity) * 1000.0 / lim.session_ttl_ms as f64;
        Some(match lim.admit_per_minute {
            Some(apm) => turnover.min(f64::from(apm) / 60.0),
            None => turnover,
        })
    }

    /// Estimated wait of someone joining now, in seconds: 0 when they would
    /// go straight in (nobody waiting, a slot free, not paused; the rate
    /// budget aside), else the line's estimate from the measured rate.
    pub fn eta_back_seconds(&self, view: &View) -> Option<u64> {
        let s = &view.snapshot;
        let waiting = s.waiting();
        let free = u64::from(self.effective(s, view.updated_ms).capacity) > s.active + s.reserved;
        if waiting == 0 && free && !s.overrides.paused {
            return Some(0);
        }
        self.eta_seconds(view, waiting)
    }

    /// The mode in force: an operator's, else the file's.
    pub fn mode(&self, view: &View, now: Millis) -> RoomMode {
        self.effective(&view.snapshot, now).mode
    }

    /// The notice in force: an operator's (the admin API's; empty for
    /// none), else the file's.
    pub fn notice<'a>(&'a self, view: &'a View) -> Option<&'a str> {
        match &view.snapshot.overrides.notice {
            Some(n) => (!n.is_empty()).then_some(n.as_str()),
            None => self.cfg.notice.as_deref(),
        }
    }

    /// The limits in force at `now` given a snapshot's operator overrides.
    pub fn effective(&self, snapshot: &Snapshot, now: Millis) -> Limits {
        snapshot.overrides.apply(&self.limits(now))
    }

    /// Takes over the live state of the room this one replaces in a
    /// reload: the view waiting visitors are answered from and the measured
    /// rate, so a configuration change loses nobody's estimate.
    pub fn carry_from(&self, old: &Room) {
        self.view.store(old.view.load_full());
        self.pointer
            .store(old.pointer.load(Ordering::Relaxed), Ordering::Relaxed);
        let meter = std::mem::take(&mut *old.meter.lock().unwrap_or_else(|e| e.into_inner()));
        *self.meter.lock().unwrap_or_else(|e| e.into_inner()) = meter;
    }

    /// Seconds until the visitor should ask again. Short while the ticket is
    /// not checked in (so it joins the line fast) and near the front; longer
    /// far back; never so long that an admitted visitor misses the grace
    /// period. The page adds jitter.
    pub fn poll_after(&self, checked_in: bool, eta: Option<u64>) -> u64 {
        let grace_cap = (self.cfg.claim_grace.as_secs() / 3).max(1);
        let window_cap = (self.cfg.checkin_window.as_secs() / 3).max(1);
        if !checked_in {
            return 2.min(window_cap);
        }
        let want = match eta {
            Some(e) => (e / 5).clamp(2, 30),
            None => 5,
        };
        want.min(grace_cap)
    }
}

/// A 64-bit mixer (SplitMix64's finalizer): distinct inputs, unrelated
/// outputs.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// One way into a room: a path prefix, on a host or on any.
struct Entry {
    prefix: String,
    /// `None`: any host.
    host: Option<HostPattern>,
    room: usize,
}

/// Where a request goes: its room, if a room takes it, and the upstream
/// it is forwarded to when it is (`None`: `[server] upstream`).
#[derive(Clone, Copy)]
pub struct Route<'a> {
    pub room: Option<&'a Arc<Room>>,
    pub upstream: Option<&'a Upstream>,
    /// The `[[site]]` the host belongs to, if any.
    pub site: Option<&'a str>,
}

/// The configured rooms and sites, and the router: by host, then by path.
pub struct Rooms {
    rooms: Vec<Arc<Room>>,
    by_name: HashMap<String, usize>,
    /// Longest prefix first; for one prefix, exact hosts before wildcards
    /// before any host.
    routes: Vec<Entry>,
    /// Whether any room names hosts: if none does, the host is never read.
    by_host: bool,
    sites: Vec<SiteConfig>,
    /// For each room that names hosts, the upstreams its own hosts reach
    /// (`None`: `[server] upstream`): the same path reaching one of them
    /// under another name would pass its gate by ([`Rooms::route_request`]).
    reaches: Vec<Vec<Option<Upstream>>>,
    /// `[server] upstream`, when known: a room's or site's `upstream`
    /// that names the same backend reaches what `None` does.
    default_upstream: Option<Upstream>,
}

impl Rooms {
    pub fn new(cfgs: &[RoomConfig], tick: std::time::Duration, metrics: &Metrics) -> Rooms {
        Rooms::with_sites(cfgs, &[], None, tick, metrics)
    }

    /// Rooms, and the sites that route other paths by host; `default` is
    /// `[server] upstream` (an `upstream` that names the same backend is
    /// the same way in, for the guard of [`Rooms::route_request`]).
    pub fn with_sites(
        cfgs: &[RoomConfig],
        sites: &[SiteConfig],
        default: Option<&Upstream>,
        tick: std::time::Duration,
        metrics: &Metrics,
    ) -> Rooms {
        let rooms: Vec<Arc<Room>> = cfgs
            .iter()
            .map(|c| Arc::new(Room::new(c.clone(), tick, metrics)))
            .collect();
        let by_name = rooms.iter().enumerate().map(|(i, r)| (r.cfg.name.clone(), i)).collect();
        let mut routes: Vec<Entry> = Vec::new();
        for (i, r) in rooms.iter().enumerate() {
            for p in &r.cfg.paths {
                if r.cfg.hosts.is_empty() {
                    routes.push(Entry {
                        prefix: p.clone(),
                        host: None,
                        room: i,
                    });
                }
                for h in &r.cfg.hosts {
                    routes.push(Entry {
                        prefix: p.clone(),
                        host: Some(h.clone()),
                        room: i,
                    });
                }
            }
        }
        let specificity = |h: &Option<HostPattern>| match h {
            Some(h) if h.is_exact() => 0,
            Some(_) => 1,
            None => 2,
        };
        routes.sort_by_key(|e| (std::cmp::Reverse(e.prefix.len()), specificity(&e.host)));
        let mut built = Rooms {
            by_host: rooms.iter().any(|r| !r.cfg.hosts.is_empty()),
            rooms,
            by_name,
            routes,
            sites: sites.to_vec(),
            reaches: Vec::new(),
            default_upstream: default.cloned(),
        };
        built.reaches = built.rooms.iter().map(|r| built.reached_by(&r.cfg)).collect();
        built
    }

    /// The upstreams a room's own hosts forward to.
    fn reached_by(&self, r: &RoomConfig) -> Vec<Option<Upstream>> {
        if let Some(u) = &r.upstream {
            return vec![Some(u.clone())];
        }
        let mut out: Vec<Option<Upstream>> = Vec::new();
        let mut add = |u: Option<&Upstream>| {
            if !out.iter().any(|o| self.same_backend(o.as_ref(), u)) {
                out.push(u.cloned());
            }
        };
        for h in &r.hosts {
            match h {
                HostPattern::Exact(name) => add(self.site(name).map(|s| &s.upstream)),
                // Any name under it: the sites that take some, and the
                // default for the rest.
                HostPattern::Wildcard(suffix) => {
                    add(None);
                    for s in &self.sites {
                        let overlaps = s.hosts.iter().any(|q| match q {
                            HostPattern::Exact(n) => h.matches(n),
                            HostPattern::Wildcard(other) => other == suffix,
                        });
                        if overlaps {
                            add(Some(&s.upstream));
                        }
                    }
                }
            }
        }
        out
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Room>> {
        self.rooms.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Room>> {
        self.by_name.get(name).map(|&i| &self.rooms[i])
    }

    /// Whether routing reads the request's host (some room names hosts,
    /// or some site does).
    pub fn needs_host(&self) -> bool {
        self.by_host || !self.sites.is_empty()
    }

    /// The configured sites.
    pub fn sites(&self) -> &[SiteConfig] {
        &self.sites
    }

    /// The site `host` (normalised) belongs to: an exact name in any site
    /// before a wildcard.
    fn site(&self, host: &str) -> Option<&SiteConfig> {
        let exact = |s: &&SiteConfig| s.hosts.iter().any(|h| h.is_exact() && h.matches(host));
        let wild = |s: &&SiteConfig| s.hosts.iter().any(|h| !h.is_exact() && h.matches(host));
        self.sites.iter().find(exact).or_else(|| self.sites.iter().find(wild))
    }

    /// The room whose longest prefix matches `path` on any host; see
    /// [`Rooms::route_request`].
    pub fn route(&self, path: &str) -> Result<Option<&Arc<Room>>, Refusal> {
        self.room_for(None, path)
    }

    /// Where a request for `path` on `host` (the `Host` header or the
    /// URI's authority, as the client sent it) goes.
    ///
    /// The room is the one whose longest prefix matches the path, read
    /// every way a backend might read it ([`crate::path`]): a spelling
    /// that reaches a room's path behind the proxy is gated as that
    /// room's, and one no honest client sends is refused. A room that
    /// names hosts takes the path on those hosts only; the same path on
    /// a host no room takes it on (none, or only a room with a shorter
    /// path), bound for a backend that room's hosts reach (however its
    /// URL is written), is refused (421): a backend that serves any
    /// `Host` would otherwise serve the room's path to whoever named
    /// another host.
    pub fn route_request(&self, host: Option<&str>, path: &str) -> Result<Route<'_>, Malformed> {
        if !self.by_host && self.sites.is_empty() {
            let room = self.room_for(None, path)?;
            return Ok(Route {
                room,
                upstream: room.and_then(|r| r.cfg.upstream.as_ref()),
                site: None,
            });
        }
        let host = host.map(normalize_host);
        let host = host.as_deref();
        let found = self.entry_for(host, path)?;
        let room = found.map(|e| &self.rooms[e.room]);
        let site = host.and_then(|h| self.site(h));
        let upstream = room.and_then(|r| r.cfg.upstream.as_ref()).or(site.map(|s| &s.upstream));
        // A room's path on a host that room is not on, bound for a backend
        // that room's hosts reach, is that room's path past its gate:
        // whether no room takes it here, or a room with a shorter path
        // (`/` on every host) does, whose gate is not this room's.
        if self.by_host {
            let readings = path::readings(path)?;
            let (a, b) = match &readings {
                Readings::Plain(p) => (*p, None),
                Readings::Two(a, b) => (&**a, Some(b.as_str())),
            };
            let taken = found.map_or(0, |e| e.prefix.len());
            let gated_elsewhere = self.routes.iter().any(|e| {
                e.host.is_some()
                    && e.prefix.len() > taken
                    && found.is_none_or(|f| f.room != e.room)
                    && (path::prefix_matches(&e.prefix, a) || b.is_some_and(|b| path::prefix_matches(&e.prefix, b)))
                    && self.reaches[e.room]
                        .iter()
                        .any(|u| self.same_backend(u.as_ref(), upstream))
            });
            if gated_elsewhere {
                return Err(Malformed::Misdirected);
            }
        }
        Ok(Route {
            room,
            upstream,
            site: site.map(|s| s.name.as_str()),
        })
    }

    /// Whether two upstreams (`None`: `[server] upstream`) are one
    /// backend: the same scheme, host (in any case) and port (the
    /// scheme's when not written).
    fn same_backend(&self, a: Option<&Upstream>, b: Option<&Upstream>) -> bool {
        let default = self.default_upstream.as_ref();
        match (a.or(default), b.or(default)) {
            (Some(a), Some(b)) => {
                let port = |u: &Upstream| {
                    u.authority
                        .port_u16()
                        .unwrap_or(if u.scheme == http::uri::Scheme::HTTPS { 443 } else { 80 })
                };
                a.scheme == b.scheme
                    && a.authority.host().eq_ignore_ascii_case(b.authority.host())
                    && port(a) == port(b)
            }
            (None, None) => true,
            _ => false,
        }
    }

    fn room_for(&self, host: Option<&str>, path: &str) -> Result<Option<&Arc<Room>>, Refusal> {
        Ok(self.entry_for(host, path)?.map(|e| &self.rooms[e.room]))
    }

    /// The route entry whose longest prefix matches `path` on `host`, as
    /// both readings of the path agree (the longer of the two matches).
    fn entry_for(&self, host: Option<&str>, path: &str) -> Result<Option<&Entry>, Refusal> {
        match path::readings(path)? {
            Readings::Plain(p) => Ok(self.longest_prefix(host, p)),
            Readings::Two(as_written, decoded) => {
                match (
                    self.longest_prefix(host, &as_written),
                    self.longest_prefix(host, &decoded),
                ) {
                    (Some(a), Some(b)) if a.room != b.room => Err(Refusal::TwoRooms),
                    (Some(a), Some(b)) => Ok(Some(if b.prefix.len() > a.prefix.len() { b } else { a })),
                    (a, b) => Ok(a.or(b)),
                }
            }
        }
    }

    fn longest_prefix(&self, host: Option<&str>, path: &str) -> Option<&Entry> {
        self.routes.iter().find(|e| {
            let on_host = match (&e.host, host) {
                (None, _) => true,
                (Some(p), Some(h)) => p.matches(h),
                (Some(_), None) => false,
            };
            on_host && path::prefix_matches(&e.prefix, path)
        })
    }
}

/// A request's host as patterns are written: lowercase, without the port
/// or a trailing dot (borrowed when it is already so, as nearly always).
fn normalize_host(h: &str) -> Cow<'_, str> {
    let h = match h.rsplit_once(':') {
        // Not an IPv6 literal's last group: `[::1]:8080`, `example.com:80`.
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => name,
        _ => h,
    };
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{defaults, QueueMode};

    fn room(name: &str, paths: &[&str]) -> RoomConfig {
        RoomConfig {
            name: name.into(),
            title: name.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
            hosts: Vec::new(),
            upstream: None,
            capacity: 1,
            admit_per_minute: None,
            session_ttl: defaults::session_ttl(),
            claim_grace: defaults::claim_grace(),
            checkin_window: defaults::checkin_window(),
            queue: QueueMode::Fifo,
            mode: crate::config::RoomMode::Queue,
            max_session: None,
            events: Vec::new(),
            notice: None,
        }
    }

    /// An empty room with a free slot has no wait, however long ago the
    /// line last moved (issue 17: 103 s and climbing, in an empty room).
    #[test]
    fn nobody_waits_to_join_an_empty_room() {
        let m = Metrics::new();
        let r = Room::new(
            RoomConfig {
                capacity: 2,
                ..room("r", &["/r"])
            },
            std::time::Duration::from_secs(1),
            &m,
        );
        let snap = |issued, admitted, active| Snapshot {
            issued,
            admitted,
            active,
            ..Snapshot::default()
        };
        // The line moved one a second for ten seconds: a rate is measured.
        for i in 0..=10 {
            r.publish(snap(20, 8 + i, 2), u64::from(i > 0), i * 1000);
        }
        let eta = |r: &Room| r.eta_back_seconds(&r.view());
        assert_eq!(eta(&r), Some(3), "two in line, one a second: the third place");
        r.publish(snap(20, 20, 2), 0, 11_000);
        assert!(
            eta(&r).is_some_and(|e| e > 0),
            "full, nobody waiting: the next free slot"
        );
        r.publish(snap(20, 20, 1), 0, 12_000);
        assert_eq!(eta(&r), Some(0), "a slot free, nobody waiting: straight in");
        r.publish(
            Snapshot {
                overrides: crate::store::Overrides {
                    paused: true,
                    ..Default::default()
                },
                ..snap(20, 20, 1)
            },
            0,
            13_000,
        );
        assert_ne!(eta(&r), Some(0), "paused: nobody goes straight in");
    }

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let m = Metrics::new();
        let rooms = Rooms::new(
            &[room("a", &["/register"]), room("b", &["/register/vip", "/tickets/"])],
            std::time::Duration::from_secs(1),
            &m,
        );
        let r = |p: &str| rooms.route(p).unwrap().map(|r| r.name().to_string());
        assert_eq!(r("/register").as_deref(), Some("a"));
        assert_eq!(r("/register/step2").as_deref(), Some("a"));
        assert_eq!(r("/register/vip").as_deref(), Some("b"));
        assert_eq!(r("/register/vip/x").as_deref(), Some("b"));
        assert_eq!(r("/register/vipx").as_deref(), Some("a"));
        assert_eq!(r("/registration"), None);
        assert_eq!(r("/tickets/1").as_deref(), Some("b"));
        assert_eq!(r("/tickets"), None);
        assert_eq!(r("/"), None);
        assert_eq!(r("/register;jsessionid=1").as_deref(), Some("a"));
        // Spellings a backend would read as a room path are gated as one.
        for p in [
            "/%72egister",
            "//register",
            "/register%2Fsubmit",
            "/%2Fregister/submit",
            "/;/register",
            "/REGISTER",
            "/Register%2fsubmit",
            "/register%5Csubmit",
            "/register.json",
            "/index.php/register",
        ] {
            assert_eq!(r(p).as_deref(), Some("a"), "{p}");
        }
        // Dot segments are refused, however spelled.
        for p in [
            "/x/../register",
            "/./register/",
            "/%2e%2e/register",
            "/register/vip/..",
            "/x/..;/register",
        ] {
            assert_eq!(rooms.route(p).err(), Some(Refusal::DotSegment), "{p}");
        }
        assert_eq!(r("/TICKETS/1").as_deref(), Some("b"));
    }

    #[test]
    fn a_path_two_readings_put_in_two_rooms_is_refused() {
        let m = Metrics::new();
        let rooms = Rooms::new(
            &[room("a", &["/register"]), room("b", &["/register/vip"])],
            std::time::Duration::from_secs(1),
            &m,
        );
        // As written: room a ("vip%2Fx" is one segment); decoded: room b.
        assert_eq!(rooms.route("/register/vip%2Fx").err(), Some(Refusal::TwoRooms));
        assert_eq!(rooms.route("/register%00").err(), Some(Refusal::ControlCharacter));
        assert_eq!(rooms.route("/static/..%2Fregister").err(), Some(Refusal::DotSegment));
    }

    #[test]
    fn rate_is_measured_not_invented() {
        let mut m = RateMeter::default();
        assert_eq!(m.record(0, 0), None);
        assert_eq!(m.record(1_000, 2), None, "span too short");
        for s in 2..=10 {
            m.record(s * 1_000, 2);
        }
        let r = m.record(11_000, 2).unwrap();
        assert!((r - 2.0).abs() < 1e-9, "{r}");
    }

    /// In a pre-queue, the wait counts from the opening: those the free
    /// slots take go in at once; the rest at the event's pace.
    /// (Review of the draw: one key per process made event 2's order
    /// event 1's.)
    #[test]
    fn each_shuffled_event_gets_its_own_draw_key() {
        let ev = |name: &str, from: u64, opens_at: u64| crate::schedule::Event {
            name: name.into(),
            prequeue_from: Some(from),
            opens_at,
            closes_at: Some(opens_at + 1_000),
            capacity: Some(100),
            admit_per_minute: None,
            max_session: None,
            shuffle: true,
            after: crate::schedule::RoomMode::Closed,
        };
        let cfg = RoomConfig {
            events: vec![ev("e1", 1_000, 2_000), ev("e2", 10_000, 20_000)],
            ..room("r", &["/r"])
        };
        let r = Room::new(cfg, std::time::Duration::from_secs(1), &Metrics::new());
        let (k1, k2) = (r.limits(2_500).draw.unwrap(), r.limits(20_500).draw.unwrap());
        assert_ne!(k1.event, k2.event);
        assert_ne!(k1.key, k2.key);
        assert_eq!(r.limits(1_500).draw, Some(k1), "the same in the pre-queue and open");
    }

    #[test]
    fn a_pre_queue_s_estimate_counts_from_the_opening() {
        let m = Metrics::new();
        let opens_at = 1_000_000;
        let event = crate::schedule::Event {
            name: "e".into(),
            prequeue_from: Some(0),
            opens_at,
            closes_at: None,
            capacity: Some(100),
            admit_per_minute: None,
            max_session: None,
            shuffle: false,
            after: crate::schedule::RoomMode::Closed,
        };
        let cfg = RoomConfig {
            capacity: 10,
            session_ttl: std::time::Duration::from_secs(600),
            events: vec![event.clone()],
            ..room("r", &["/r"])
        };
        let r = Room::new(cfg, std::time::Duration::from_secs(1), &m);
        let v = r.view();
        assert_eq!(
            r.eta_from_opening(&v, 99, opens_at),
            Some(0),
            "the 100 slots go at once"
        );
        // 100 slots turning over once in 600 s: one every 6 s.
        assert_eq!(r.eta_from_opening(&v, 100, opens_at), Some(6));
        assert_eq!(r.eta_from_opening(&v, 109, opens_at), Some(60));
        let cfg = RoomConfig {
            capacity: 10,
            session_ttl: std::time::Duration::from_secs(600),
            events: vec![crate::schedule::Event {
                admit_per_minute: Some(120),
                ..event
            }],
            ..room("r", &["/r"])
        };
        let r = Room::new(cfg, std::time::Duration::from_secs(1), &m);
        let v = r.view();
        // The rate fills the free slots, two a second; then the turnover.
        assert_eq!(r.eta_from_opening(&v, 1, opens_at), Some(0));
        assert_eq!(r.eta_from_opening(&v, 2, opens_at), Some(1));
        assert_eq!(r.eta_from_opening(&v, 99, opens_at), Some(49));
        assert_eq!(r.eta_from_opening(&v, 100, opens_at), Some(56));
    }

    /// Until the line's speed is measured, the estimate comes from the
    /// settings, not from nowhere (issue 17: "measuring…" for everyone in
    /// a fresh surge); once measured, from the measure.
    #[test]
    fn a_first_estimate_comes_from_the_settings() {
        let m = Metrics::new();
        let tick = std::time::Duration::from_secs(1);
        let cfg = |capacity, admit_per_minute| RoomConfig {
            capacity,
            admit_per_minute,
            session_ttl: std::time::Duration::from_secs(600),
            ..room("r", &["/r"])
        };
        let eta = |r: &Room, ahead| r.eta_seconds(&r.view(), ahead);
        // 60 slots turning over once in 600 s: one every 10 s.
        let r = Room::new(cfg(60, None), tick, &m);
        assert_eq!(eta(&r, 9), Some(100));
        // A rate limit slower than that is the pace; a faster one is not.
        assert_eq!(eta(&Room::new(cfg(60, Some(3)), tick, &m), 9), Some(200));
        assert_eq!(eta(&Room::new(cfg(60, Some(600)), tick, &m), 9), Some(100));
        // Paused: the line does not move, no estimate.
        let paused = Room::new(cfg(60, None), tick, &m);
        paused.publish(
            Snapshot {
                overrides: crate::store::Overrides {
                    paused: true,
                    ..Default::default()
                },
                ..Snapshot::default()
            },
            0,
            0,
        );
        assert_eq!(eta(&paused, 9), None);
        // Measured: two a second.
        for s in 0..=10 {
            r.publish(Snapshot::default(), if s == 0 { 0 } else { 2 }, s * 1_000);
        }
        assert_eq!(eta(&r, 9), Some(5));
    }

    #[test]
    fn poll_interval_respects_the_grace_period() {
        let mut cfg = room("a", &["/a"]);
        cfg.claim_grace = std::time::Duration::from_secs(30);
        let r = Room::new(cfg, std::time::Duration::from_secs(1), &Metrics::new());
        assert_eq!(r.poll_after(false, None), 2);
        assert_eq!(r.poll_after(true, Some(5)), 2);
        assert_eq!(r.poll_after(true, Some(3600)), 10);
        assert_eq!(r.poll_after(true, None), 5);
    }

    #[test]
    fn the_rate_ignores_the_idle_start_and_follows_the_recent_past() {
        let mut m = RateMeter::default();
        // 30 s with no admission from the line, then 2 a second.
        for t in 0..30 {
            assert_eq!(m.record(t * 1000, 0).unwrap_or(0.0), 0.0);
        }
        let mut rate = None;
        for t in 30..60 {
            rate = m.record(t * 1000, 2);
        }
        let r = rate.unwrap();
        assert!((r - 2.0).abs() < 0.1, "{r}");
        // Then 1 a second for longer than the window.
        for t in 60..300 {
            rate = m.record(t * 1000, 1);
        }
        let r = rate.unwrap();
        assert!((r - 1.0).abs() < 0.05, "{r}");
    }
}
