//! A room's announced events (`[[room.event]]`): when the line opens
//! before the doors (`prequeue_from`), when admissions start (`opens_at`)
//! and when it is over (`closes_at`), and what the room does at a given
//! moment. Nothing here does I/O; times are Unix milliseconds.
//!
//! ```text
//!  ... room's mode | prequeue_from .. opens_at | opens_at .. closes_at | after ... | next event
//!                    tickets, nobody admitted    the event's limits      `after`
//! ```

use std::time::Duration;

use crate::clock::Millis;

/// What a room does with visitors (`[[room]] mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomMode {
    /// The gate: a line once the room is full.
    #[default]
    Queue,
    /// The gate is off: everyone is forwarded and counted; nobody gets a
    /// session or a ticket.
    Passthrough,
    /// Nobody new gets in: new visitors and those in line get the closed
    /// answer; visitors with a session finish what they started.
    Closed,
    /// An event's pre-queue: everyone gets a ticket, nobody is admitted
    /// before the doors open. The schedule's, never set by an operator.
    Prequeue,
}

impl RoomMode {
    /// Every mode a room can be in, the schedule's included.
    pub const ALL: [RoomMode; 4] = [
        RoomMode::Queue,
        RoomMode::Passthrough,
        RoomMode::Closed,
        RoomMode::Prequeue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoomMode::Queue => "queue",
            RoomMode::Passthrough => "passthrough",
            RoomMode::Closed => "closed",
            RoomMode::Prequeue => "prequeue",
        }
    }

    /// The mode named `s`, as the file and the admin API write it (the
    /// three an operator sets).
    pub fn parse(s: &str) -> Option<RoomMode> {
        [RoomMode::Queue, RoomMode::Passthrough, RoomMode::Closed]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One announced event of a room, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    /// The line opens: tickets from here, nobody admitted before `opens_at`.
    pub prequeue_from: Option<Millis>,
    /// Admissions start.
    pub opens_at: Millis,
    /// Over: the room does what `after` says. `None`: only for the last
    /// event, which then runs on.
    pub closes_at: Option<Millis>,
    /// Replace the room's values while the event runs.
    pub capacity: Option<u32>,
    pub admit_per_minute: Option<u32>,
    pub max_session: Option<Duration>,
    /// The pre-queue's order is drawn at the opening (see
    /// [`crate::store::draw`]).
    pub shuffle: bool,
    /// What the room does once the event is over.
    pub after: RoomMode,
}

impl Event {
    /// When the event starts to matter: the pre-queue, else the opening.
    pub fn starts(&self) -> Millis {
        self.prequeue_from.unwrap_or(self.opens_at)
    }
}

/// Where a room stands in its schedule at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase<'a> {
    /// No event has started: the room's own mode.
    Before,
    /// In an event's pre-queue: tickets, nobody admitted.
    Prequeue(&'a Event),
    /// The event runs: its limits.
    Open(&'a Event),
    /// The event is over: its `after` mode.
    After(&'a Event),
}

/// The phase at `now` of `events` (sorted and not overlapping, as
/// [`problems`] holds them).
pub fn phase_at(events: &[Event], now: Millis) -> Phase<'_> {
    let Some(e) = events.iter().rev().find(|e| e.starts() <= now) else {
        return Phase::Before;
    };
    if now < e.opens_at {
        Phase::Prequeue(e)
    } else if e.closes_at.is_none_or(|c| now < c) {
        Phase::Open(e)
    } else {
        Phase::After(e)
    }
}

/// The next event that has not started by `now`.
pub fn next_at(events: &[Event], now: Millis) -> Option<&Event> {
    events.iter().find(|e| e.starts() > now)
}

/// What is wrong with a room's events, each as (index, key, message): out
/// of order within an event, overlapping the next, or running on (no
/// `closes_at`) with another after it.
pub fn problems(events: &[Event]) -> Vec<(usize, &'static str, String)> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(p) = e.prequeue_from.filter(|p| *p > e.opens_at) {
            out.push((
                i,
                "prequeue_from",
                format!("{} is after opens_at ({})", clock_text(p), clock_text(e.opens_at)),
            ));
        }
        if let Some(c) = e.closes_at.filter(|c| *c <= e.opens_at) {
            out.push((
                i,
                "closes_at",
                format!("{} is not after opens_at ({})", clock_text(c), clock_text(e.opens_at)),
            ));
        }
        if let Some(next) = events.get(i + 1) {
            match e.closes_at {
                None => out.push((
                    i,
                    "closes_at",
                    format!("is needed: event {:?} comes after this one", next.name),
                )),
                Some(c) if c > next.starts() => out.push((
                    i + 1,
                    if next.prequeue_from.is_some() {
                        "prequeue_from"
                    } else {
                        "opens_at"
                    },
                    format!(
                        "{} is before the event {:?} closes ({})",
                        clock_text(next.starts()),
                        e.name,
                        clock_text(c)
                    ),
                )),
                Some(_) => {}
            }
        }
    }
    out
}

/// An RFC 3339 time with its offset (`2026-12-10T20:00:00+01:00`,
/// `2026-12-10T19:00:00Z`; seconds' fractions allowed) as Unix
/// milliseconds. A time without an offset is refused: whose 20:00?
pub fn parse_time(s: &str) -> Result<Millis, String> {
    let bad = || format!("{s:?} is not a time with its offset, like \"2026-12-10T20:00:00+01:00\"");
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let d = b.get(r)?;
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| d.iter().fold(0, |n, c| n * 10 + u64::from(c - b'0')))
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (year, month, day) = (
        num(0..4).ok_or_else(bad)?,
        num(5..7).ok_or_else(bad)?,
        num(8..10).ok_or_else(bad)?,
    );
    let (hour, minute, second) = (
        num(11..13).ok_or_else(bad)?,
        num(14..16).ok_or_else(bad)?,
        num(17..19).ok_or_else(bad)?,
    );
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        // Milliseconds: the first three digits, padded.
        let digits: Vec<u64> = b[start..i].iter().take(3).map(|c| u64::from(c - b'0')).collect();
        millis = digits
            .iter()
            .chain(std::iter::repeat(&0))
            .take(3)
            .fold(0, |n, d| n * 10 + d);
    }
    let offset_s: i64 = match b.get(i..) {
        Some([b'Z' | b'z']) => 0,
        Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let [h1, h2, m1, m2] = digits.map(|c| i64::from(c - b'0'));
            let (h, m) = (h1 * 10 + h2, m1 * 10 + m2);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let o = h * 3600 + m * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return Err(bad()),
    };
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    // Up to 9998: a time in 9999 with a negative offset is in 10000 in
    // UTC, which no formatter writes.
    if !(1970..=9998).contains(&year) {
        return Err(format!("{s:?} is out of range: a year from 1970 to 9998"));
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let days = days_from_civil(year as i64, month as i64, day as i64);
    let local = days * 86_400 + (hour * 3600 + minute * 60 + second.min(59)) as i64;
    let utc = local - offset_s;
    u64::try_from(utc)
        .map(|s| s * 1000 + millis)
        .map_err(|_| format!("{s:?} is before 1970"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-10 19:00:00 UTC`.
pub fn clock_text(ms: Millis) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

/// A span for an operator, to the two largest units: "2 days 3 h",
/// "12 min", "40 s".
pub fn span_text(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (1, 0, _) => "1 day".into(),
        (1, h, _) => format!("1 day {h} h"),
        (d, 0, _) => format!("{d} days"),
        (d, h, _) => format!("{d} days {h} h"),
    }
}

/// The schedule in an operator's terms, as of `now`: a line an event,
/// "opens in 2 days 3 h", "open since 20:00, closes in 40 min", "over".
pub fn describe(events: &[Event], now: Millis) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let when = |t: Millis| {
                if t > now {
                    format!("in {}", span_text(t - now))
                } else {
                    format!("{} ago", span_text(now - t))
                }
            };
            let state = match e.closes_at {
                Some(c) if c <= now => format!("over (closed {}); then {}", when(c), e.after.as_str()),
                _ if e.opens_at <= now => match e.closes_at {
                    Some(c) => format!("open (opened {}), closes {}", when(e.opens_at), when(c)),
                    None => format!("open (opened {}), no closing time", when(e.opens_at)),
                },
                _ => match e.prequeue_from {
                    Some(p) if p <= now => format!("pre-queue open, opens {}", when(e.opens_at)),
                    Some(p) => format!("line opens {}, doors {}", when(p), when(e.opens_at)),
                    None => format!("opens {}", when(e.opens_at)),
                },
            };
            let mut line = format!("{}: {state} ({}", e.name, clock_text(e.opens_at));
            if let Some(c) = e.closes_at {
                line.push_str(&format!(" to {}", clock_text(c)));
            }
            line.push(')');
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Millis = 1_796_932_800_000; // 2026-12-10T20:00:00Z
    const MIN: Millis = 60_000;

    fn event(name: &str, pre: Option<Millis>, opens: Millis, closes: Option<Millis>) -> Event {
        Event {
            name: name.into(),
            prequeue_from: pre,
            opens_at: opens,
            closes_at: closes,
            capacity: None,
            admit_per_minute: None,
            max_session: None,
            shuffle: false,
            after: RoomMode::Closed,
        }
    }

    #[test]
    fn times_need_their_offset() {
        assert_eq!(parse_time("2026-12-10T20:00:00Z"), Ok(T));
        assert_eq!(parse_time("2026-12-10T21:00:00+01:00"), Ok(T));
        assert_eq!(parse_time("2026-12-10T14:30:00-05:30"), Ok(T));
        assert_eq!(parse_time("2026-12-10T20:00:00.25Z"), Ok(T + 250));
        assert_eq!(parse_time("2026-12-10 20:00:00z"), Ok(T));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert!(parse_time("2028-02-29T00:00:00Z").is_ok());
        for bad in [
            "2026-12-10T20:00:00",
            "2026-12-10",
            "2026-13-10T20:00:00Z",
            "2026-02-29T20:00:00Z",
            "2026-12-10T24:00:00Z",
            "2026-12-10T20:00:00+1:00",
            "tomorrow at 8",
            "2026-12-10T20:00:00.Z",
            "9999-12-31T23:30:00-01:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_phase_follows_the_schedule() {
        let events = [
            event("one", Some(T - 15 * MIN), T, Some(T + 60 * MIN)),
            event("two", None, T + 120 * MIN, None),
        ];
        let [one, two] = &events;
        assert_eq!(phase_at(&events, T - 16 * MIN), Phase::Before);
        assert_eq!(phase_at(&events, T - 15 * MIN), Phase::Prequeue(one));
        assert_eq!(phase_at(&events, T - 1), Phase::Prequeue(one));
        assert_eq!(phase_at(&events, T), Phase::Open(one));
        assert_eq!(phase_at(&events, T + 60 * MIN), Phase::After(one));
        assert_eq!(phase_at(&events, T + 120 * MIN), Phase::Open(two));
        assert_eq!(phase_at(&events, T + 1_000 * MIN), Phase::Open(two), "the last runs on");
        assert_eq!(next_at(&events, T), Some(two));
        assert_eq!(next_at(&events, T + 120 * MIN), None);
        assert_eq!(phase_at(&[], T), Phase::Before);
    }

    #[test]
    fn events_in_order_and_apart() {
        let ok = [
            event("one", Some(T - 15 * MIN), T, Some(T + 60 * MIN)),
            event("two", Some(T + 60 * MIN), T + 120 * MIN, None),
        ];
        assert!(problems(&ok).is_empty());
        let keys = |e: &[Event]| problems(e).into_iter().map(|(i, k, _)| (i, k)).collect::<Vec<_>>();
        assert_eq!(keys(&[event("x", Some(T + 1), T, None)]), [(0, "prequeue_from")]);
        assert_eq!(keys(&[event("x", None, T, Some(T))]), [(0, "closes_at")]);
        assert_eq!(
            keys(&[event("a", None, T, None), event("b", None, T + MIN, None)]),
            [(0, "closes_at")],
            "only the last may run on"
        );
        assert_eq!(
            keys(&[
                event("a", None, T, Some(T + 60 * MIN)),
                event("b", Some(T + 30 * MIN), T + 90 * MIN, None)
            ]),
            [(1, "prequeue_from")],
            "overlapping"
        );
    }

    #[test]
    fn an_operator_reads_the_schedule_in_their_terms() {
        assert_eq!(span_text(40_000), "40 s");
        assert_eq!(span_text(12 * MIN), "12 min");
        assert_eq!(span_text(27 * 3_600_000 + 5 * MIN), "1 day 3 h");
        assert_eq!(span_text(2 * 86_400_000 + 3 * 3_600_000), "2 days 3 h");
        let events = [
            event("episode-3", Some(T - 15 * MIN), T, Some(T + 180 * MIN)),
            event("episode-4", None, T + 7 * 86_400_000, None),
        ];
        let now = T - 2 * 86_400_000 - 3 * 3_600_000;
        assert_eq!(
            describe(&events, now)[0],
            "episode-3: line opens in 2 days 2 h, doors in 2 days 3 h (2026-12-10 20:00:00 UTC to 2026-12-10 23:00:00 UTC)"
        );
        assert!(describe(&events, T - MIN)[0].starts_with("episode-3: pre-queue open, opens in 1 min"));
        assert!(describe(&events, T + MIN)[0].starts_with("episode-3: open (opened 1 min ago), closes in 2 h 59 min"));
        assert!(describe(&events, T + 200 * MIN)[0].starts_with("episode-3: over (closed 20 min ago); then closed"));
        assert!(describe(&events, T)[1].starts_with("episode-4: opens in 7 days"));
    }
}
