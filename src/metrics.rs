//! Prometheus metrics: every name and label set is defined here.
//!
//! Labels come only from bounded sets: room names from the configuration
//! (plus [`NO_ROOM`] for ungated paths) and the fixed enums below; never
//! from request data. Per-room handles are resolved once when the room set
//! is built, so counting on the request path is one atomic add, not a
//! label lookup.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::config::RoomMode;

/// `room` label value for requests on paths that belong to no room.
/// Room names start with a letter, so this cannot collide.
pub const NO_ROOM: &str = "_none";

/// What the gate did with a request (`requests_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Path in no room: proxied without gating.
    Bypass,
    /// Valid session: proxied.
    Session,
    /// Ticket turned into a session: proxied.
    Claimed,
    /// New visitor admitted directly: proxied.
    Direct,
    /// Answered with the waiting page or JSON.
    Queued,
    /// Queued non-GET: not forwarded, 503.
    Rejected,
    /// `/_vestibule/status` answered.
    Status,
    /// Served by the store failure policy (`fail_open`, or `local`'s share)
    /// while the store was unreachable: proxied without the shared count.
    Degraded,
    /// The room in `passthrough` mode: proxied, no session.
    Passthrough,
    /// The room in `closed` mode: answered with the closed page or JSON.
    Closed,
}

impl Outcome {
    pub const ALL: [Outcome; 10] = [
        Outcome::Bypass,
        Outcome::Session,
        Outcome::Claimed,
        Outcome::Direct,
        Outcome::Queued,
        Outcome::Rejected,
        Outcome::Status,
        Outcome::Degraded,
        Outcome::Passthrough,
        Outcome::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Bypass => "bypass",
            Outcome::Session => "session",
            Outcome::Claimed => "claimed",
            Outcome::Direct => "direct",
            Outcome::Queued => "queued",
            Outcome::Rejected => "rejected",
            Outcome::Status => "status",
            Outcome::Degraded => "degraded",
            Outcome::Passthrough => "passthrough",
            Outcome::Closed => "closed",
        }
    }
}

/// What ended a session before its visitor came back
/// (`sessions_ended_total{by}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The origin answered `Vestibule-Session: end`.
    Origin,
    /// The visitor went to `/_vestibule/leave`.
    Leave,
    /// Idle past `session_ttl` (or, never confirmed, past `claim_grace`).
    Idle,
    /// Ran its `max_session`.
    MaxSession,
}

impl EndedBy {
    pub const ALL: [EndedBy; 4] = [EndedBy::Origin, EndedBy::Leave, EndedBy::Idle, EndedBy::MaxSession];

    pub fn as_str(self) -> &'static str {
        match self {
            EndedBy::Origin => "origin",
            EndedBy::Leave => "leave",
            EndedBy::Idle => "idle",
            EndedBy::MaxSession => "max_session",
        }
    }
}

/// Why an upstream exchange failed (`upstream_errors_total{kind}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// Could not connect (502).
    Connect,
    /// No response headers in time (504).
    Timeout,
    /// Connection broke or the response was malformed (502).
    Protocol,
}

impl UpstreamErrorKind {
    pub const ALL: [UpstreamErrorKind; 3] = [
        UpstreamErrorKind::Connect,
        UpstreamErrorKind::Timeout,
        UpstreamErrorKind::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Protocol => "protocol",
        }
    }
}

/// What a client did wrong (`client_errors_total{kind}`): counted apart
/// from the upstream's failures, so that no client can trip an alert on
/// the backend's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientErrorKind {
    /// Refused and never sent (400, 405, 501): a path spelling no honest
    /// client sends, two `Host`s, a transfer coding other than chunked,
    /// `CONNECT`.
    Request,
    /// The request body broke its framing or was abandoned mid-way (400),
    /// or did not arrive within the response deadline (408).
    Body,
    /// The client took none of its response for `send_timeout`: its
    /// connection was closed.
    SendTimeout,
    /// A TLS handshake failed or did not finish within
    /// `header_read_timeout`: no certificate the client accepts, a
    /// scanner, a client speaking plain HTTP to the TLS port.
    TlsHandshake,
}

impl ClientErrorKind {
    pub const ALL: [ClientErrorKind; 4] = [
        ClientErrorKind::Request,
        ClientErrorKind::Body,
        ClientErrorKind::SendTimeout,
        ClientErrorKind::TlsHandshake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientErrorKind::Request => "request",
            ClientErrorKind::Body => "body",
            ClientErrorKind::SendTimeout => "send_timeout",
            ClientErrorKind::TlsHandshake => "tls_handshake",
        }
    }
}

/// All metric families, registered in one private registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    active_users: IntGaugeVec,
    reserved_slots: IntGaugeVec,
    queue_length: IntGaugeVec,
    capacity: IntGaugeVec,
    paused: IntGaugeVec,
    mode: IntGaugeVec,
    sessions_ended: IntCounterVec,
    tickets_issued: IntCounterVec,
    admitted: IntCounterVec,
    wait_seconds: HistogramVec,
    requests: IntCounterVec,
    upstream_duration: HistogramVec,
    upstream_errors: IntCounterVec,
    config_reloads: IntCounterVec,
    config_last_reload_successful: IntGauge,
    certificate_reloads: IntCounterVec,
    store_errors: IntCounterVec,
    store_up: IntGauge,
    store_outages: IntCounter,
    state_saves: IntCounterVec,
    client_errors: [IntCounter; 4],
    upstream_read_timeouts: IntCounter,
    access_log_dropped: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone())).expect("metric names are unique");
    c
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new_custom(Some("vestibule".into()), None).expect("valid prefix");
        let gauge = |name: &str, help: &str| {
            reg(
                &r,
                IntGaugeVec::new(Opts::new(name, help), &["room"]).expect("valid metric"),
            )
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &r,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        // Waits run from seconds to hours; upstream calls from ms to a minute.
        let wait_buckets = vec![
            1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
        ];
        let upstream_buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ];
        let m = Metrics {
            active_users: gauge("active_users", "Admitted visitors holding a session."),
            reserved_slots: gauge("reserved_slots", "Slots held for admitted tickets not yet arrived."),
            queue_length: gauge("queue_length", "Visitors who may be waiting in line."),
            capacity: gauge(
                "capacity",
                "Maximum of active users in force (the file's value, or an operator's override).",
            ),
            paused: gauge("paused", "1 while an operator has paused admissions to the room."),
            mode: reg(
                &r,
                IntGaugeVec::new(
                    Opts::new(
                        "mode",
                        "1 for the mode the room is in: queue, passthrough, closed, or an event's prequeue.",
                    ),
                    &["room", "mode"],
                )
                .expect("valid metric"),
            ),
            tickets_issued: counter("tickets_issued_total", "Tickets handed out.", &["room"]),
            sessions_ended: counter(
                "sessions_ended_total",
                "Sessions ended, by what ended them: the origin, the visitor leaving, idleness or max_session.",
                &["room", "by"],
            ),
            admitted: counter(
                "admitted_total",
                "Visitors admitted, directly or from the line.",
                &["room", "via"],
            ),
            wait_seconds: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new("wait_seconds", "Time from ticket to admission.").buckets(wait_buckets),
                    &["room"],
                )
                .expect("valid metric"),
            ),
            requests: counter("requests_total", "Requests by what the gate did.", &["room", "outcome"]),
            upstream_duration: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new("upstream_duration_seconds", "Time to upstream response headers.")
                        .buckets(upstream_buckets),
                    &["room"],
                )
                .expect("valid metric"),
            ),
            upstream_errors: counter("upstream_errors_total", "Failed upstream exchanges.", &["room", "kind"]),
            config_reloads: counter("config_reloads_total", "Configuration reloads.", &["result"]),
            certificate_reloads: counter(
                "tls_certificate_reloads_total",
                "Loads of changed TLS certificate files (error: refused, the served ones kept).",
                &["result"],
            ),
            config_last_reload_successful: reg(
                &r,
                IntGauge::new(
                    "config_last_reload_successful",
                    "1 if the last configuration reload was applied, 0 if it was rejected.",
                )
                .expect("valid metric"),
            ),
            store_errors: counter("store_errors_total", "Failed store calls.", &["room"]),
            store_up: reg(
                &r,
                IntGauge::new(
                    "store_up",
                    "1 while the store answers, 0 while the failure policy applies.",
                )
                .expect("valid metric"),
            ),
            store_outages: reg(
                &r,
                IntCounter::new("store_outages_total", "Times the store became unreachable.").expect("valid metric"),
            ),
            state_saves: counter("state_saves_total", "Writes of the state file.", &["result"]),
            client_errors: {
                let v = counter(
                    "client_errors_total",
                    "Requests refused or cut off for what the client did.",
                    &["kind"],
                );
                ClientErrorKind::ALL.map(|k| v.with_label_values(&[k.as_str()]))
            },
            upstream_read_timeouts: reg(
                &r,
                IntCounter::new(
                    "upstream_read_timeouts_total",
                    "Responses cut off because the upstream sent nothing of the body for upstream_read_timeout.",
                )
                .expect("valid metric"),
            ),
            access_log_dropped: reg(
                &r,
                IntCounter::new(
                    "access_log_dropped_total",
                    "Access log lines dropped because the writer could not keep up.",
                )
                .expect("valid metric"),
            ),
            registry: r,
        };
        // Both outcomes exist from the start, at zero.
        for result in ["ok", "error"] {
            m.config_reloads.with_label_values(&[result]);
            m.certificate_reloads.with_label_values(&[result]);
            m.state_saves.with_label_values(&[result]);
        }
        m.config_last_reload_successful.set(1);
        m
    }

    /// Handles for one room (or [`NO_ROOM`]); creating them also makes every
    /// series appear at zero, so dashboards see them before traffic.
    pub fn room(&self, room: &str) -> RoomMetrics {
        RoomMetrics {
            active_users: self.active_users.with_label_values(&[room]),
            reserved_slots: self.reserved_slots.with_label_values(&[room]),
            queue_length: self.queue_length.with_label_values(&[room]),
            capacity: self.capacity.with_label_values(&[room]),
            paused: self.paused.with_label_values(&[room]),
            mode: RoomMode::ALL.map(|m| self.mode.with_label_values(&[room, m.as_str()])),
            tickets_issued: self.tickets_issued.with_label_values(&[room]),
            sessions_ended: EndedBy::ALL.map(|b| self.sessions_ended.with_label_values(&[room, b.as_str()])),
            admitted_direct: self.admitted.with_label_values(&[room, "direct"]),
            admitted_queue: self.admitted.with_label_values(&[room, "queue"]),
            wait_seconds: self.wait_seconds.with_label_values(&[room]),
            requests: Outcome::ALL.map(|o| self.requests.with_label_values(&[room, o.as_str()])),
            upstream_duration: self.upstream_duration.with_label_values(&[room]),
            upstream_errors: UpstreamErrorKind::ALL
                .map(|k| self.upstream_errors.with_label_values(&[room, k.as_str()])),
            store_errors: self.store_errors.with_label_values(&[room]),
        }
    }

    /// Handles for requests on paths in no room: only the request and
    /// upstream series are exported; room gauges would be meaningless there.
    pub fn bypass(&self) -> RoomMetrics {
        let m = self.room(NO_ROOM);
        self.forget_room(NO_ROOM);
        let _ = self.tickets_issued.remove_label_values(&[NO_ROOM]);
        for b in EndedBy::ALL {
            let _ = self.sessions_ended.remove_label_values(&[NO_ROOM, b.as_str()]);
        }
        let _ = self.wait_seconds.remove_label_values(&[NO_ROOM]);
        let _ = self.store_errors.remove_label_values(&[NO_ROOM]);
        for via in ["direct", "queue"] {
            let _ = self.admitted.remove_label_values(&[NO_ROOM, via]);
        }
        for o in Outcome::ALL.into_iter().filter(|o| *o != Outcome::Bypass) {
            let _ = self.requests.remove_label_values(&[NO_ROOM, o.as_str()]);
        }
        m
    }

    /// Drops the series of a room that left the configuration.
    pub fn forget_room(&self, room: &str) {
        for g in [
            &self.active_users,
            &self.reserved_slots,
            &self.queue_length,
            &self.capacity,
            &self.paused,
        ] {
            let _ = g.remove_label_values(&[room]);
        }
        for m in RoomMode::ALL {
            let _ = self.mode.remove_label_values(&[room, m.as_str()]);
        }
    }

    /// Counts a configuration reload (`result` = "ok" or "error").
    pub fn config_reload(&self, ok: bool) {
        self.config_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
        self.config_last_reload_successful.set(i64::from(ok));
    }

    /// Counts a load of changed certificate files.
    pub fn certificate_reload(&self, ok: bool) {
        self.certificate_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    /// Records a store transition (up, or down: one more outage).
    pub fn store_up(&self, up: bool) {
        if !up && self.store_up.get() == 1 {
            self.store_outages.inc();
        }
        self.store_up.set(i64::from(up));
    }

    /// Counts a write of the state file.
    pub fn state_save(&self, ok: bool) {
        self.state_saves
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    /// Counts a client's error.
    /// Counts access log lines a full queue turned away.
    pub fn access_log_dropped(&self) -> IntCounter {
        self.access_log_dropped.clone()
    }

    pub fn client_error(&self, k: ClientErrorKind) {
        self.client_errors[k as usize].inc();
    }

    /// The counter of one kind of client error, for a part that counts
    /// without the rest of the metrics at hand.
    pub fn client_errors(&self, k: ClientErrorKind) -> IntCounter {
        self.client_errors[k as usize].clone()
    }

    /// The counter of upstream bodies cut off for silence.
    pub fn upstream_read_timeouts(&self) -> IntCounter {
        self.upstream_read_timeouts.clone()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

/// Pre-resolved handles for one room.
#[derive(Clone)]
pub struct RoomMetrics {
    pub active_users: IntGauge,
    pub reserved_slots: IntGauge,
    pub queue_length: IntGauge,
    pub capacity: IntGauge,
    pub paused: IntGauge,
    /// One a mode, in [`RoomMode::ALL`]'s order: 1 for the one in force.
    mode: [IntGauge; RoomMode::ALL.len()],
    pub tickets_issued: IntCounter,
    sessions_ended: [IntCounter; EndedBy::ALL.len()],
    pub admitted_direct: IntCounter,
    pub admitted_queue: IntCounter,
    pub wait_seconds: Histogram,
    requests: [IntCounter; Outcome::ALL.len()],
    pub upstream_duration: Histogram,
    upstream_errors: [IntCounter; 3],
    pub store_errors: IntCounter,
}

impl RoomMetrics {
    /// Counts `n` sessions ended `by`.
    pub fn sessions_ended(&self, by: EndedBy, n: u64) {
        self.sessions_ended[by as usize].inc_by(n);
    }

    /// Shows `mode` as the one in force.
    pub fn set_mode(&self, mode: RoomMode) {
        for (m, g) in RoomMode::ALL.iter().zip(&self.mode) {
            g.set(i64::from(*m == mode));
        }
    }

    pub fn request(&self, o: Outcome) {
        self.requests[o as usize].inc();
    }

    pub fn upstream_error(&self, k: UpstreamErrorKind) {
        self.upstream_errors[k as usize].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_at_zero_and_count() {
        let m = Metrics::new();
        let r = m.room("registration");
        r.request(Outcome::Queued);
        r.upstream_error(UpstreamErrorKind::Timeout);
        m.config_reload(false);
        let text = m.render();
        assert!(text.contains("vestibule_requests_total{outcome=\"queued\",room=\"registration\"} 1"));
        assert!(text.contains("vestibule_requests_total{outcome=\"bypass\",room=\"registration\"} 0"));
        assert!(text.contains("vestibule_upstream_errors_total{kind=\"timeout\",room=\"registration\"} 1"));
        assert!(text.contains("vestibule_config_reloads_total{result=\"error\"} 1"));
        assert!(text.contains("vestibule_admitted_total{room=\"registration\",via=\"direct\"} 0"));
        let b = m.bypass();
        b.request(Outcome::Bypass);
        let text = m.render();
        assert!(text.contains("vestibule_requests_total{outcome=\"bypass\",room=\"_none\"} 1"));
        assert!(!text.contains("vestibule_active_users{room=\"_none\"}"));
        assert!(!text.contains("vestibule_requests_total{outcome=\"queued\",room=\"_none\"}"));
    }
}
