//! The visitor's language over real sockets: chosen with `?lang=` (and
//! remembered), the cookie, `Accept-Language`; every page and answer in
//! it; the status JSON language-neutral unless a `message` is asked for.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use support::{Harness, Upstream, Visitor};

/// A room nobody gets into: everyone waits, places 1, 2, 3...
const FULL: &str = r#"
    [[room]]
    name = "reg"
    title = "Tickets"
    paths = ["/register"]
    capacity = 0
    checkin_window = "1h"
    "#;

async fn page(v: &Visitor, path: &str, accept_language: Option<&str>) -> support::Resp {
    let headers: Vec<(&str, &str)> = accept_language.map(|l| ("accept-language", l)).into_iter().collect();
    v.send(Method::GET, path, &headers, Bytes::new()).await
}

fn lang_attr(html: &str) -> &str {
    html.split("<html lang=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
}

#[tokio::test]
async fn lang_in_the_query_chooses_and_a_cookie_remembers() {
    let h = Harness::start(FULL).await;
    let v = h.visitor();
    let r = page(&v, "/register?step=2&lang=fr", Some("de")).await;
    assert_eq!(r.status, 200);
    let html = r.text();
    assert_eq!(lang_attr(&html), "fr", "{html}");
    assert!(html.contains("<h1>Vous êtes dans la file d’attente</h1>"), "{html}");
    let set: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap())
        .collect();
    let lang_cookie = set
        .iter()
        .find(|c| c.starts_with("vst__lang="))
        .unwrap_or_else(|| panic!("{set:?}"));
    assert_eq!(
        *lang_cookie,
        "vst__lang=fr; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
    );
    // The picker's links keep the page's query.
    assert!(
        html.contains(r#"<a href="?step=2&amp;lang=nl" lang="nl" hreflang="nl">Nederlands</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"hreflang="fr" aria-current="true">Français</a>"#),
        "{html}"
    );
    // Back without the parameter, a German browser still reads French:
    // the choice was remembered, and is not set again.
    let r = page(&v, "/register", Some("de")).await;
    assert_eq!(lang_attr(&r.text()), "fr");
    assert!(r
        .headers
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("vst__lang")));
    // An unknown choice changes nothing.
    let r = page(&v, "/register?lang=xx", None).await;
    assert_eq!(lang_attr(&r.text()), "fr");
    // The cookie is vestibule's own: the site never sees it.
    assert!(v.cookie_header().contains("vst__lang=fr"));
}

#[tokio::test]
async fn accept_language_chooses_with_its_fallbacks() {
    let h = Harness::start(FULL).await;
    for (header, want, heading) in [
        ("de-AT,de;q=0.9", "de", "Sie sind in der Warteschlange"),
        ("fr-CA", "fr", "Vous êtes dans la file d’attente"),
        ("nl-BE,nl;q=0.9,en;q=0.8", "nl", "U staat in de rij"),
        ("es-419,es;q=0.9", "es", "Está en la fila"),
        ("de;q=0, it", "en", "You are in line"),
        ("ja", "en", "You are in line"),
    ] {
        let html = page(&h.visitor(), "/register", Some(header)).await.text();
        assert_eq!(lang_attr(&html), want, "{header}");
        assert!(html.contains(heading), "{header}: {html}");
    }
}

/// A plural form in each language: the second and third in line read
/// "1 person" and "2 people" ahead, in their words; the JSON waiting
/// answer says it in a sentence, in the same language.
#[tokio::test]
async fn a_plural_form_in_each_language() {
    let cases = [
        ("en", "1 person ahead of you", "2 people ahead of you"),
        ("fr", "1 personne devant vous", "2 personnes devant vous"),
        ("de", "1 Person vor Ihnen", "2 Personen vor Ihnen"),
        ("nl", "1 persoon voor u", "2 personen voor u"),
        ("es", "1 persona delante de usted", "2 personas delante de usted"),
    ];
    for (tag, one, two) in cases {
        let h = Harness::start(FULL).await;
        let first = h.visitor();
        page(&first, "/register", None).await;
        let (second, third) = (h.visitor(), h.visitor());
        let html = page(&second, "/register", Some(tag)).await.text();
        assert!(html.contains(&format!(r#"id="ahead">{one}</dd>"#)), "{tag}: {html}");
        let html = page(&third, "/register", Some(tag)).await.text();
        assert!(html.contains(&format!(r#"id="ahead">{two}</dd>"#)), "{tag}: {html}");
        let j = third
            .send(
                Method::GET,
                "/register",
                &[("accept", "application/json"), ("accept-language", tag)],
                Bytes::new(),
            )
            .await
            .json();
        assert_eq!(j["lang"], tag);
        assert_eq!(j["position"], 3);
        assert!(j["message"].as_str().unwrap().contains('3'), "{j}");
    }
}

/// The page's own polls stay language-neutral; `?lang=` asks for a
/// `message`.
#[tokio::test]
async fn the_status_gains_a_message_only_when_asked() {
    let h = Harness::start(FULL).await;
    let v = h.visitor();
    page(&v, "/register?lang=de", None).await;
    let plain = v.get_json("/_vestibule/status?room=reg").await.json();
    assert_eq!(plain["state"], "queued");
    assert!(plain.get("message").is_none() && plain.get("lang").is_none(), "{plain}");
    let told = v.get_json("/_vestibule/status?room=reg&lang=nl").await.json();
    assert_eq!(told["lang"], "nl");
    assert_eq!(
        told["message"],
        "Uw plaats in de rij: 1. Geschatte wachttijd: wordt berekend…"
    );
    // The cookie's German, for an app that sends `lang` without a value
    // it knows: the tag falls back as a page's would.
    let told = v.get_json("/_vestibule/status?room=reg&lang=pt").await.json();
    assert_eq!(told["lang"], "de");
}

#[tokio::test]
async fn the_offered_set_is_limited_and_the_default_set() {
    let h = Harness::start(&format!(
        "[page]\ndefault_language = \"fr\"\nlanguages = [\"fr\", \"en\"]\n{FULL}"
    ))
    .await;
    let html = page(&h.visitor(), "/register", Some("de-AT,de;q=0.9")).await.text();
    assert_eq!(lang_attr(&html), "fr", "German is not offered: the default");
    assert_eq!(html.matches("hreflang=").count(), 2, "{html}");
    let html = page(&h.visitor(), "/register", Some("en-GB")).await.text();
    assert_eq!(lang_attr(&html), "en");
    let html = page(&h.visitor(), "/register?lang=es", None).await.text();
    assert_eq!(lang_attr(&html), "fr", "not offered: no choice");
}

/// The short pages in the visitor's language: a queued form refused, a
/// closed room, a dead site (502, decided after the request is gone).
#[tokio::test]
async fn error_and_message_pages_speak_the_visitor_s_language() {
    let h = Harness::start(FULL).await;
    let v = h.visitor();
    page(&v, "/register?lang=es", None).await;
    let r = v.post("/register", "name=Ana").await;
    assert_eq!(r.status, 503);
    let html = r.text();
    assert_eq!(lang_attr(&html), "es");
    assert!(html.contains("Su solicitud no se ha enviado al sitio"), "{html}");
    assert!(html.contains("Puede volver a intentarlo dentro de"), "{html}");
    assert!(
        !html.contains("http-equiv"),
        "a link tries again, not a timed refresh: {html}"
    );
    // JSON: `error` stays English, `message` is Spanish.
    let j = v
        .send(
            Method::POST,
            "/register",
            &[("accept", "application/json")],
            Bytes::from("x"),
        )
        .await
        .json();
    assert_eq!(j["error"], "You are in line");
    assert_eq!(j["lang"], "es");
    assert!(j["message"].as_str().unwrap().starts_with("Su solicitud"), "{j}");

    let r = page(&h.visitor(), "/_vestibule/nothing", Some("nl")).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Deze pagina bestaat niet."), "{}", r.text());

    let closed = Harness::start(
        r#"
        [[room]]
        name = "reg"
        title = "Anmeldung"
        paths = ["/register"]
        capacity = 5
        mode = "closed"
        "#,
    )
    .await;
    let html = page(&closed.visitor(), "/register", Some("de")).await.text();
    assert!(html.contains("<title>Anmeldung ist geschlossen</title>"), "{html}");
    assert!(
        html.contains("Sie können es in 60 Sekunden erneut versuchen."),
        "{html}"
    );

    let up = Upstream::start().await;
    up.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dead = Harness::in_front_of(
        up,
        FULL.replace("capacity = 0", "capacity = 5").as_str(),
        "connect_timeout = \"1s\"",
    )
    .await;
    dead.tick().await;
    let r = page(&dead.visitor(), "/register", Some("fr-BE, en;q=0.5")).await;
    assert_eq!(r.status, 502);
    let html = r.text();
    assert_eq!(lang_attr(&html), "fr");
    assert!(html.contains("Impossible de joindre le site."), "{html}");
    let r = page(&dead.visitor(), "/elsewhere?lang=de", None).await;
    assert!(
        r.text().contains("Die Website konnte nicht erreicht werden."),
        "{}",
        r.text()
    );
}
