//! What vestibule itself answers: the waiting page (HTML or JSON), status
//! JSON, and the short pages for errors. Templates are minijinja; the
//! built-in waiting page can be replaced with `[page] template`.

use std::time::{Duration, UNIX_EPOCH};

use minijinja::Environment;
use serde::Serialize;

use crate::clock::Millis;

const WAITING: &str = include_str!("templates/waiting.html");
const MESSAGE: &str = include_str!("templates/message.html");

/// Errors loading a custom template.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("cannot read template {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("template {path} does not compile: {source}")]
    Template { path: String, source: minijinja::Error },
}

/// Everything the waiting page and the status JSON say. Serialized as the
/// JSON answer and handed to the template as its context.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting<'a> {
    /// Always "queued" here; "admitted" answers come from [`admitted_json`].
    pub state: &'static str,
    pub room: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<&'a str>,
    /// 1 = next in line.
    pub position: u64,
    /// A late returner waiting for the next free slot, ahead of the line.
    pub returner: bool,
    /// Estimated seconds to admission; null until the line's speed is known.
    pub eta_seconds: Option<u64>,
    pub eta_text: String,
    /// When to ask again (the page adds jitter).
    pub poll_after_seconds: u64,
    pub updated_iso: String,
    #[serde(skip)]
    pub updated_text: String,
    #[serde(skip)]
    pub status_url: String,
}

impl<'a> Waiting<'a> {
    /// Fills the derived fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        room: &'a str,
        room_title: &'a str,
        site_name: Option<&'a str>,
        position: u64,
        returner: bool,
        eta_seconds: Option<u64>,
        poll_after_seconds: u64,
        now: Millis,
    ) -> Waiting<'a> {
        let updated_iso = iso_time(now);
        Waiting {
            state: "queued",
            room,
            room_title: Some(room_title),
            site_name,
            position,
            returner,
            eta_seconds,
            eta_text: eta_text(eta_seconds, returner),
            poll_after_seconds,
            updated_text: format!("{} UTC", &updated_iso[11..19]),
            updated_iso,
            status_url: format!("/_vestibule/status?room={room}"),
        }
    }
}

/// The status answer for an admitted visitor.
pub fn admitted_json(room: &str) -> String {
    serde_json::json!({ "state": "admitted", "room": room, "position": 0, "eta_seconds": 0, "poll_after_seconds": 0 })
        .to_string()
}

/// A human rendering of an estimate, honest about not knowing.
pub fn eta_text(eta: Option<u64>, returner: bool) -> String {
    match eta {
        _ if returner => "a few seconds".into(),
        None => "measuring…".into(),
        Some(s) if s < 60 => "less than a minute".into(),
        Some(s) if s < 90 * 60 => {
            let m = s.div_ceil(60);
            format!("about {m} minute{}", if m == 1 { "" } else { "s" })
        }
        Some(s) => {
            let h = s / 3600;
            let m = (s % 3600).div_ceil(60);
            format!("about {h} h {m} min")
        }
    }
}

/// `seconds` give or take a fifth, at least 1. Pages without JavaScript
/// refresh on this, so visitors who arrived together do not all come back
/// in the same second.
pub fn jittered(seconds: u64) -> u64 {
    let spread = seconds as f64 * 0.2;
    let j = seconds as f64 + (rand::random::<f64>() * 2.0 - 1.0) * spread;
    (j.round() as u64).max(1)
}

fn iso_time(ms: Millis) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    /// Built-in templates, with the waiting page replaced by `custom` when given.
    pub fn new(custom: Option<&std::path::Path>) -> Result<Pages, PageError> {
        let mut env = Environment::new();
        let waiting = match custom {
            None => WAITING.to_string(),
            Some(p) => std::fs::read_to_string(p).map_err(|source| PageError::Read {
                path: p.display().to_string(),
                source,
            })?,
        };
        env.add_template_owned("waiting.html", waiting)
            .map_err(|source| PageError::Template {
                path: custom.map_or("(built-in)".into(), |p| p.display().to_string()),
                source,
            })?;
        env.add_template("message.html", MESSAGE)
            .expect("the built-in template compiles");
        Ok(Pages { env })
    }

    /// The waiting page. A template that fails at render time falls back to
    /// a plain page, so a bad custom template never costs anyone their place.
    pub fn waiting(&self, w: &Waiting<'_>) -> String {
        // The JSON answer leaves out the page-only fields; the page gets them too.
        let ctx = minijinja::context! {
            updated_text => &w.updated_text,
            status_url => &w.status_url,
            refresh_seconds => jittered(w.poll_after_seconds),
            ..minijinja::Value::from_serialize(w)
        };
        self.env
            .get_template("waiting.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "waiting page template failed; sending the plain page");
                format!(
                    "<!doctype html><meta http-equiv=refresh content={}><title>You are in line</title>\
                     <p>You are in line. Your place: {}. This page refreshes on its own.",
                    w.poll_after_seconds, w.position
                )
            })
    }

    /// A short page for errors and refusals.
    pub fn message(&self, status: u16, title: &str, message: &str, retry_after: Option<u64>) -> String {
        self.env
            .get_template("message.html")
            .and_then(|t| t.render(minijinja::context! { status, title, message, retry_after }))
            .unwrap_or_else(|_| format!("{status} {title}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_template_renders() {
        let p = Pages::new(None).unwrap();
        let w = Waiting::new("reg", "t", None, 3, false, Some(120), 7, 0);
        let t = p.env.get_template("waiting.html").unwrap();
        t.render(&w).unwrap();
    }

    #[test]
    fn refresh_is_jittered_within_a_fifth() {
        let seen: std::collections::BTreeSet<u64> = (0..500).map(|_| jittered(20)).collect();
        assert!(seen.iter().all(|s| (16..=24).contains(s)), "{seen:?}");
        assert!(seen.len() >= 5, "not spread: {seen:?}");
        assert!((0..100).all(|_| jittered(1) >= 1));
    }

    #[test]
    fn eta_texts() {
        assert_eq!(eta_text(None, false), "measuring…");
        assert_eq!(eta_text(Some(59), false), "less than a minute");
        assert_eq!(eta_text(Some(61), false), "about 2 minutes");
        assert_eq!(eta_text(Some(60), false), "about 1 minute");
        assert_eq!(eta_text(Some(3 * 3600 + 60), false), "about 3 h 1 min");
        assert_eq!(eta_text(None, true), "a few seconds");
    }

    #[test]
    fn waiting_page_escapes_and_refreshes_without_js() {
        let p = Pages::new(None).unwrap();
        let w = Waiting::new("reg", "<Big> sale", None, 3, false, Some(120), 7, 1_700_000_000_000);
        let html = p.waiting(&w);
        assert!(html.contains("&lt;Big&gt; sale"));
        assert!(!html.contains("<Big>"));
        assert!(["6", "7", "8"]
            .iter()
            .any(|s| html.contains(&format!(r#"<meta http-equiv="refresh" content="{s}">"#))));
        assert!(html.contains(r#"<dd id="position">3</dd>"#));
        assert!(html.contains("about 2 minutes"));
        assert!(html.contains("2023-11-14T22:13:20Z"));
        assert!(
            html.contains(">22:13:20 UTC</time>"),
            "the visible update time is filled in"
        );
        assert!(
            html.contains(r#"var url = "/_vestibule/status?room=reg";"#),
            "the poller knows where to ask"
        );
        let json: serde_json::Value = serde_json::to_value(&w).unwrap();
        assert_eq!(json["state"], "queued");
        assert_eq!(json["position"], 3);
        assert_eq!(json["eta_seconds"], 120);
        assert_eq!(json["poll_after_seconds"], 7);
    }

    #[test]
    fn bad_custom_template_is_an_error() {
        let dir = std::env::temp_dir().join(format!("vst-page-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.html");
        std::fs::write(&f, "{% if %}").unwrap();
        assert!(matches!(Pages::new(Some(&f)), Err(PageError::Template { .. })));
        assert!(matches!(
            Pages::new(Some(&dir.join("missing.html"))),
            Err(PageError::Read { .. })
        ));
    }
}
