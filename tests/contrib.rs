#![allow(clippy::unwrap_used)]
//! The deployment files in `contrib/` are checked against the program they
//! deploy: the Grafana dashboard may only query series vestibule exports
//! (a renamed metric would otherwise leave a silently empty panel), and the
//! systemd unit must start, reload and stop the binary the way it expects.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vestibule::config::defaults;

/// Every metric family vestibule exports, without the `vestibule_` prefix.
/// This must match src/metrics.rs: when you add or rename a metric there,
/// change it here and give it a panel in contrib/grafana-dashboard.json.
const METRICS: &[&str] = &[
    "active_users",
    "reserved_slots",
    "queue_length",
    "capacity",
    "paused",
    "tickets_issued_total",
    "admitted_total",
    "wait_seconds",
    "requests_total",
    "upstream_duration_seconds",
    "upstream_errors_total",
    "config_reloads_total",
    "config_last_reload_successful",
    "store_errors_total",
    "store_up",
    "store_outages_total",
    "state_saves_total",
    "client_errors_total",
    "upstream_read_timeouts_total",
];

/// The histograms among [`METRICS`]: they exist only as `_bucket`, `_sum`
/// and `_count` series.
const HISTOGRAMS: &[&str] = &["wait_seconds", "upstream_duration_seconds"];

/// The metrics without a `room` label; every other one has it.
const ROOMLESS: &[&str] = &[
    "config_reloads_total",
    "config_last_reload_successful",
    "store_up",
    "store_outages_total",
    "state_saves_total",
    "client_errors_total",
    "upstream_read_timeouts_total",
];

/// The filter that makes a panel follow the dashboard's room picker.
const ROOM_FILTER: &str = "room=~\"$room\"";

fn contrib(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------- dashboard

fn dashboard() -> Value {
    serde_json::from_str(&contrib("grafana-dashboard.json")).expect("contrib/grafana-dashboard.json is valid JSON")
}

/// Every string found under the key `key`, at any depth.
fn strings_under(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match child {
                    Value::String(s) if k == key => out.push(s.clone()),
                    _ => strings_under(child, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| strings_under(i, key, out)),
        _ => {}
    }
}

/// Every PromQL query in the dashboard: panel targets and annotations
/// (`expr`) and template variable queries.
fn queries(d: &Value) -> Vec<String> {
    let mut out = Vec::new();
    strings_under(d, "expr", &mut out);
    for var in d["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            out.extend(var["definition"].as_str().map(String::from));
            match &var["query"] {
                Value::String(q) => out.push(q.clone()),
                q => out.extend(q["query"].as_str().map(String::from)),
            }
        }
    }
    out
}

/// The `vestibule_*` identifiers in a query, prefix removed.
fn vestibule_identifiers(expr: &str) -> Vec<&str> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    expr.match_indices("vestibule_")
        .filter(|(at, _)| !expr[..*at].ends_with(ident))
        .map(|(at, prefix)| {
            let rest = &expr[at + prefix.len()..];
            &rest[..rest.find(|c: char| !ident(c)).unwrap_or(rest.len())]
        })
        .collect()
}

/// The family a series name belongs to (histogram suffixes removed), or why
/// vestibule exports no such series.
fn family(series: &str) -> Result<&str, String> {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = series.strip_suffix(suffix) {
            if HISTOGRAMS.contains(&base) {
                return Ok(base);
            }
        }
    }
    if HISTOGRAMS.contains(&series) {
        return Err(format!(
            "vestibule_{series} is a histogram: query its _bucket, _sum or _count series"
        ));
    }
    if METRICS.contains(&series) {
        Ok(series)
    } else {
        Err(format!("vestibule exports no metric vestibule_{series}"))
    }
}

/// Brackets balance outside string literals: catches a truncated edit.
fn balanced(expr: &str) -> bool {
    let mut open = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for c in expr.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => open.push(c),
            ')' | ']' | '}' => {
                let want = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(want) {
                    return false;
                }
            }
            _ => {}
        }
    }
    open.is_empty() && !in_string
}

#[test]
fn dashboard_queries_only_exported_metrics_and_shows_them_all() {
    let d = dashboard();
    let queries = queries(&d);
    assert!(!queries.is_empty(), "the dashboard has no queries");
    let mut used = BTreeSet::new();
    let mut problems = Vec::new();
    for q in &queries {
        if !balanced(q) {
            problems.push(format!("unbalanced brackets in {q:?}"));
        }
        let names = vestibule_identifiers(q);
        if names.is_empty() {
            problems.push(format!("{q:?} queries no vestibule metric"));
        }
        for name in names {
            match family(name) {
                Ok(f) => {
                    used.insert(f);
                }
                Err(e) => problems.push(format!("{e} (in {q:?})")),
            }
        }
    }
    assert!(problems.is_empty(), "dashboard queries:\n{}", problems.join("\n"));
    let unused: Vec<_> = METRICS.iter().filter(|m| !used.contains(*m)).collect();
    assert!(unused.is_empty(), "no panel shows {unused:?}");
}

#[test]
fn metric_names_are_extracted_and_checked() {
    let q = "histogram_quantile(0.9, sum by (le) (rate(vestibule_wait_seconds_bucket{room=~\"$room\"}[5m]))) \
             / on() my_vestibule_other + vestibule_capacity";
    assert_eq!(vestibule_identifiers(q), ["wait_seconds_bucket", "capacity"]);
    assert_eq!(family("wait_seconds_bucket"), Ok("wait_seconds"));
    assert_eq!(
        family("upstream_duration_seconds_count"),
        Ok("upstream_duration_seconds")
    );
    assert_eq!(family("tickets_issued_total"), Ok("tickets_issued_total"));
    assert!(family("wait_seconds").is_err(), "a bare histogram name has no series");
    assert!(
        family("active_users_count").is_err(),
        "only histograms have _count series"
    );
    assert!(family("queue_len").is_err());
    assert!(balanced("sum by (room) (rate(x{a=~\"(\"}[1m]))"));
    assert!(!balanced("sum(rate(x[1m])"));
}

/// Every panel, rows and the panels nested in collapsed rows included.
fn panels(v: &Value, out: &mut Vec<Value>) {
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p.clone());
        panels(p, out);
    }
}

#[test]
fn dashboard_panels_have_titles_unique_ids_and_queries() {
    let d = dashboard();
    let mut all = Vec::new();
    panels(&d, &mut all);
    assert!(all.len() > 1, "the dashboard has no panels");
    let mut ids = HashSet::new();
    for p in &all {
        let title = p["title"].as_str().unwrap_or("").trim().to_string();
        assert!(!title.is_empty(), "a panel has no title: {p}");
        let id = p["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("panel {title:?} has no numeric id"));
        assert!(ids.insert(id), "panel id {id} is used twice (again by {title:?})");
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no query");
        for t in targets {
            assert!(
                t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "panel {title:?} has a target without a query"
            );
            // A hard-coded data source UID breaks the dashboard on import.
            for ds in [&p["datasource"], &t["datasource"]] {
                assert_eq!(
                    ds["uid"], "${datasource}",
                    "panel {title:?} must use the $datasource variable"
                );
            }
        }
    }
}

#[test]
fn dashboard_panels_follow_the_room_picker() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    let ds = var("datasource");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let room = var("room");
    assert_eq!(room["datasource"]["uid"], "${datasource}");
    assert_eq!(room["multi"], true);
    assert_eq!(room["includeAll"], true);
    let mut qs = Vec::new();
    strings_under(room, "query", &mut qs);
    assert!(
        qs.iter()
            .any(|q| q.replace(' ', "") == "label_values(vestibule_capacity,room)"),
        "$room lists the rooms from vestibule_capacity: {qs:?}"
    );

    let mut targets = Vec::new();
    let mut all = Vec::new();
    panels(&d, &mut all);
    for p in &all {
        strings_under(&p["targets"], "expr", &mut targets);
    }
    for q in targets {
        let room_labelled = vestibule_identifiers(&q)
            .into_iter()
            .filter_map(|n| family(n).ok())
            .any(|f| !ROOMLESS.contains(&f));
        assert_eq!(
            room_labelled,
            q.contains(ROOM_FILTER),
            "{q:?}: a query on room-labelled metrics filters by {ROOM_FILTER}, others have no room"
        );
    }
}

// ------------------------------------------------------------- systemd unit

/// The unit file as (section, key, value) triples, in order.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        // A trailing backslash continues the line.
        if let Some(head) = line.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let line = std::mem::take(&mut pending);
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a `Key=value` line: {line:?}"));
        let section = section
            .clone()
            .unwrap_or_else(|| panic!("{line:?} is outside a section"));
        out.push((section, key.trim().to_string(), value.trim().to_string()));
    }
    out
}

fn values<'a>(entries: &'a [(String, String, String)], section: &str, key: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

/// A command line's words, without systemd's `-@:+!` executable prefixes.
fn argv(command: &str) -> Vec<&str> {
    let mut words: Vec<&str> = command.split_whitespace().collect();
    if let Some(first) = words.first_mut() {
        *first = first.trim_start_matches(['-', '@', ':', '+', '!']);
    }
    words
}

fn runs_vestibule(argv: &[&str]) -> bool {
    argv.first()
        .is_some_and(|p| Path::new(p).file_name() == Some("vestibule".as_ref()))
}

fn config_arg<'a>(argv: &[&'a str]) -> Option<&'a str> {
    argv.iter()
        .position(|w| *w == "--config")
        .and_then(|i| argv.get(i + 1).copied())
        .or_else(|| argv.iter().find_map(|w| w.strip_prefix("--config=")))
}

/// A systemd time span (`45s`, `1min 30s`, `2m`, bare seconds, `infinity`).
fn timespan(text: &str) -> Duration {
    if text.trim() == "infinity" {
        return Duration::MAX;
    }
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..n_end]
            .parse()
            .unwrap_or_else(|_| panic!("bad time span {text:?}"));
        rest = rest[n_end..].trim_start();
        let u_end = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "us" | "usec" => 1e-6,
            "ms" | "msec" => 1e-3,
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            u => panic!("unknown time unit {u:?} in {text:?}"),
        };
        total += Duration::from_secs_f64(n * unit);
        rest = rest[u_end..].trim_start();
    }
    total
}

#[test]
fn timespans_parse_like_systemd() {
    assert_eq!(timespan("45s"), Duration::from_secs(45));
    assert_eq!(timespan("45"), Duration::from_secs(45));
    assert_eq!(timespan("1min 30s"), Duration::from_secs(90));
    assert_eq!(timespan("2m"), Duration::from_secs(120));
    assert_eq!(timespan("1h"), Duration::from_secs(3600));
    assert_eq!(timespan("500ms"), Duration::from_millis(500));
}

#[test]
fn systemd_unit_runs_reloads_and_drains_vestibule() {
    let entries = unit_entries(&contrib("vestibule.service"));
    let sections: HashSet<&str> = entries.iter().map(|(s, _, _)| s.as_str()).collect();
    for s in ["Unit", "Service", "Install"] {
        assert!(sections.contains(s), "no [{s}] section");
    }

    // Start: the proxy itself (not a subcommand) with an explicit file.
    let starts = values(&entries, "Service", "ExecStart");
    assert_eq!(starts.len(), 1, "one ExecStart: {starts:?}");
    let start = argv(starts[0]);
    assert!(runs_vestibule(&start), "ExecStart runs vestibule: {start:?}");
    assert!(
        !start.contains(&"check") && !start.contains(&"demo"),
        "ExecStart runs the proxy: {start:?}"
    );
    let config = config_arg(&start).expect("ExecStart passes --config PATH");
    assert!(
        config.starts_with('/'),
        "--config {config}: systemd needs an absolute path"
    );

    // Every other vestibule command (check before start or reload) checks
    // the same file the proxy runs.
    for key in ["ExecStartPre", "ExecReload"] {
        for cmd in values(&entries, "Service", key) {
            let a = argv(cmd);
            if runs_vestibule(&a) {
                assert_eq!(config_arg(&a), Some(config), "{key}={cmd} checks another file");
            }
        }
    }

    // Reload: SIGHUP to the main process (vestibule reloads its config on it).
    let hup = values(&entries, "Service", "ExecReload").into_iter().any(|cmd| {
        let a = argv(cmd);
        let sends_hup = a.windows(2).any(|w| matches!(w, ["-s" | "--signal", "HUP" | "SIGHUP"]))
            || a.iter().any(|w| matches!(*w, "-HUP" | "-SIGHUP" | "-1"));
        a.first().is_some_and(|p| p.ends_with("kill")) && sends_hup && a.contains(&"$MAINPID")
    });
    assert!(hup, "an ExecReload sends HUP to $MAINPID");

    // Stop: vestibule drains on SIGTERM (or SIGINT); any other signal kills
    // it mid-request without saving state.
    for sig in values(&entries, "Service", "KillSignal") {
        assert!(
            matches!(sig, "SIGTERM" | "TERM" | "SIGINT" | "INT"),
            "KillSignal={sig} skips the drain"
        );
    }
    // ...and systemd must wait longer than the default drain (readiness
    // delay plus grace for in-flight requests, 30 s) before it sends SIGKILL.
    let drain = (defaults::shutdown_delay() + defaults::shutdown_grace()).max(Duration::from_secs(30));
    let stop = values(&entries, "Service", "TimeoutStopSec");
    assert_eq!(stop.len(), 1, "set TimeoutStopSec once: {stop:?}");
    assert!(
        timespan(stop[0]) > drain,
        "TimeoutStopSec={} must exceed the default drain of {drain:?}",
        stop[0]
    );

    // A read-only file system (as DynamicUser and ProtectSystem=strict
    // make it) needs a state directory, or the state file cannot be saved.
    let read_only = values(&entries, "Service", "DynamicUser").contains(&"yes")
        || values(&entries, "Service", "ProtectSystem").contains(&"strict");
    if read_only {
        assert_eq!(values(&entries, "Service", "StateDirectory"), ["vestibule"]);
    }
}
