use super::*;

fn catalog() -> Catalog {
    Catalog::built_in()
}

fn lang<'c>(c: &'c Catalog, tag: &str) -> &'c Language {
    c.get(c.find(tag).unwrap())
}

/// Every built-in file parses and has exactly the messages of `en.ftl`:
/// a message missing in one, or one too many, is a bug of ours.
#[test]
fn every_built_in_language_has_exactly_the_english_messages() {
    let english: BTreeSet<&str> = KEYS.iter().copied().collect();
    assert!(english.len() > 40, "{english:?}");
    for (tag, src) in BUILT_IN {
        let res =
            FluentResource::try_new(src.to_string()).unwrap_or_else(|(_, e)| panic!("{tag}.ftl does not parse: {e:?}"));
        let ids: Vec<&str> = message_ids(&res);
        let set: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(set.len(), ids.len(), "{tag}.ftl defines a message twice");
        let missing: Vec<_> = english.difference(&set).collect();
        let extra: Vec<_> = set.difference(&english).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{tag}.ftl: missing {missing:?}, extra {extra:?}"
        );
    }
    // And each formats every message with what the page gives it.
    let c = catalog();
    let tags: Vec<&str> = c.languages().iter().map(Language::tag).collect();
    assert_eq!(tags, ["en", "fr", "de", "nl", "es"]);
    let names: Vec<&str> = c.languages().iter().map(Language::name).collect();
    assert_eq!(names, ["English", "Français", "Deutsch", "Nederlands", "Español"]);
}

/// Plurals through each language's CLDR rules, numbers grouped as each
/// writes them.
#[test]
fn plurals_and_numbers_in_each_language() {
    let c = catalog();
    let ahead = |tag: &str, n: u64| lang(&c, tag).text1("waiting-ahead", "count", n);
    let cases: &[(&str, u64, &str)] = &[
        ("en", 0, "Nobody ahead of you"),
        ("en", 1, "1 person ahead of you"),
        ("en", 2, "2 people ahead of you"),
        ("en", 1_234, "1,234 people ahead of you"),
        ("fr", 0, "Personne devant vous"),
        ("fr", 1, "1 personne devant vous"),
        ("fr", 2, "2 personnes devant vous"),
        ("fr", 1_234, "1\u{202f}234 personnes devant vous"),
        ("de", 1, "1 Person vor Ihnen"),
        ("de", 1_234, "1.234 Personen vor Ihnen"),
        ("nl", 1, "1 persoon voor u"),
        ("nl", 20_000, "20.000 personen voor u"),
        ("es", 1, "1 persona delante de usted"),
        ("es", 1_234, "1234 personas delante de usted"),
        ("es", 12_345, "12.345 personas delante de usted"),
    ];
    for (tag, n, want) in cases {
        assert_eq!(ahead(tag, *n), *want, "{tag} {n}");
    }
    let eta = |tag: &str, s: Option<u64>| lang(&c, tag).eta(s, false);
    assert_eq!(eta("en", Some(60)), "about 1 minute");
    assert_eq!(eta("en", Some(61)), "about 2 minutes");
    assert_eq!(eta("fr", Some(60)), "environ 1 minute");
    assert_eq!(eta("fr", Some(600)), "environ 10 minutes");
    assert_eq!(eta("de", Some(60)), "etwa 1 Minute");
    assert_eq!(eta("de", Some(3 * 3600 + 60)), "etwa 3 Std. 15 Min.");
    assert_eq!(lang(&c, "de").left(3 * 3600 + 60), "etwa 3 Std. 1 Min.");
    // How long a place is kept, never said longer than it is.
    let kept = |tag: &str, s: u64| lang(&c, tag).duration(s);
    assert_eq!(kept("en", 86_400), "24 hours");
    assert_eq!(kept("en", 660), "11 minutes");
    assert_eq!(kept("en", 119), "119 seconds");
    assert_eq!(kept("en", 3_599 + 3_600), "119 minutes");
    assert_eq!(kept("fr", 3_600), "1 heure");
    assert_eq!(kept("de", 60 * 90), "90 Minuten");
    assert_eq!(kept("nl", 86_400), "24 uur");
    assert_eq!(kept("es", 61), "61 segundos");
    assert_eq!(eta("nl", Some(60)), "ongeveer 1 minuut");
    assert_eq!(eta("es", Some(60)), "alrededor de 1 minuto");
    assert_eq!(eta("es", Some(300)), "unos 5 minutos");
    assert_eq!(eta("nl", None), "wordt berekend…");
    assert_eq!(lang(&c, "es").eta(None, true), "unos segundos");
    let retry = |tag: &str, n: u64| lang(&c, tag).text1("message-retry", "seconds", n);
    assert_eq!(retry("en", 1), "You can try again in 1 second.");
    assert_eq!(retry("de", 10), "Sie können es in 10 Sekunden erneut versuchen.");
}

/// The page's script gets a template per plural category, which gives
/// the same text as the server for the numbers tried.
#[test]
fn the_script_s_templates_match_the_server_s_texts() {
    let c = catalog();
    for l in c.languages() {
        let v: serde_json::Value = serde_json::from_str(l.script_texts()).unwrap();
        let ahead = v["ahead"].as_object().unwrap();
        assert!(
            ahead.contains_key("one") && ahead.contains_key("other"),
            "{}: {ahead:?}",
            l.tag()
        );
        let rules =
            PluralRules::create(l.tag().parse::<LanguageIdentifier>().unwrap(), PluralRuleType::CARDINAL).unwrap();
        for n in [1u64, 2, 5, 21, 1_234, 98_765] {
            let cat = match rules.select(n).unwrap() {
                PluralCategory::ONE => "one",
                PluralCategory::MANY => "many",
                _ => "other",
            };
            let form = ahead.get(cat).or(ahead.get("other")).unwrap().as_str().unwrap();
            assert_eq!(
                form.replace("{n}", &l.number(n)),
                l.text1("waiting-ahead", "count", n),
                "{} {n}",
                l.tag()
            );
        }
        assert_eq!(ahead["=0"], l.text1("waiting-ahead", "count", 0u64));
        let hours = v["hours"].as_str().unwrap();
        assert!(hours.contains("{h}") && hours.contains("{m}"), "{}: {hours}", l.tag());
    }
}

#[test]
fn script_texts_cannot_end_the_script() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("en.ftl"),
        "eta-draw = soon </script><script>alert(1)</script>\n",
    )
    .unwrap();
    let c = Catalog::load(&Settings {
        translations: Some(dir.path()),
        ..Settings::default()
    })
    .unwrap();
    let s = c.default_language().script_texts();
    assert!(!s.contains('<'), "{s}");
    let v: serde_json::Value = serde_json::from_str(s).unwrap();
    assert_eq!(v["draw"], "soon </script><script>alert(1)</script>");
}

/// A directory's problems: each named, with its file and line.
#[test]
fn a_translations_directory_is_checked_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An override of French with a misspelt message and a variable the
    // page does not give.
    std::fs::write(
        d.join("fr.ftl"),
        "waiting-heading = Vous patientez\nwaiting-haeding = oops\nwaiting-ahead = { $nombre } devant vous\n",
    )
    .unwrap();
    // A new language with one message.
    std::fs::write(
        d.join("it.ftl"),
        "language-name = Italiano\nwaiting-heading = Siete in fila\n",
    )
    .unwrap();
    // A syntax error on line 3.
    std::fs::write(d.join("pl.ftl"), "language-name = Polski\n\nwaiting-heading = { $x\n").unwrap();
    // Not a language, and not a translation at all (ignored).
    std::fs::write(d.join("notes!.ftl"), "x = y\n").unwrap();
    std::fs::write(d.join("README.md"), "# hello\n").unwrap();
    std::fs::write(d.join(".fr.ftl.swp"), "\0\0").unwrap();
    let err = Catalog::load(&Settings {
        translations: Some(d),
        ..Settings::default()
    })
    .unwrap_err();
    let text = err.to_string();
    let has = |file: &str, line: Option<usize>, what: &str| {
        err.problems
            .iter()
            .any(|p| p.place.ends_with(file) && p.line == line && p.message.contains(what))
    };
    assert!(has("fr.ftl", Some(2), "unknown message `waiting-haeding`"), "{text}");
    assert!(text.contains("did you mean waiting-heading?"), "{text}");
    assert!(has("fr.ftl", Some(3), "message `waiting-ahead` uses $nombre"), "{text}");
    assert!(has("it.ftl", None, "missing: "), "{text}");
    assert!(
        text.contains("waiting-title-place") && text.contains("not-found-text"),
        "{text}"
    );
    assert!(has("pl.ftl", Some(3), "syntax error"), "{text}");
    assert!(has("notes!.ftl", None, "not a language tag"), "{text}");
    assert!(!text.contains("README") && !text.contains("swp"), "{text}");
    assert!(!text.contains("waiting-heading` is missing"), "{text}");
}

/// An override changes what it has and keeps the rest; a region of a
/// built-in language falls back to it; a new language complete is offered.
#[test]
fn overrides_fall_back_to_the_built_in_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("fr.ftl"), "waiting-heading = Vous patientez\n").unwrap();
    std::fs::write(d.join("fr-CA.ftl"), "language-name = Français (Canada)\n").unwrap();
    let italian = BUILT_IN[0]
        .1
        .replace("language-name = English", "language-name = Italiano")
        .replace("You are in line", "Siete in fila");
    std::fs::write(d.join("it.ftl"), italian).unwrap();
    let c = Catalog::load(&Settings {
        translations: Some(d),
        ..Settings::default()
    })
    .unwrap();
    let tags: Vec<&str> = c.languages().iter().map(Language::tag).collect();
    assert_eq!(tags, ["en", "fr", "de", "nl", "es", "fr-CA", "it"]);
    assert_eq!(lang(&c, "fr").text("waiting-heading", None), "Vous patientez");
    assert_eq!(lang(&c, "fr").text("waiting-eta-label", None), "Attente estimée");
    let ca = &c.languages()[5];
    assert_eq!(ca.name(), "Français (Canada)");
    assert_eq!(ca.text("waiting-eta-label", None), "Attente estimée");
    assert_eq!(lang(&c, "it").text("waiting-heading", None), "Siete in fila");
    // fr-CA asked for gets its own; fr-BE the French.
    assert_eq!(c.get(c.choose(&[], Some("fr-CA"))).tag(), "fr-CA");
    assert_eq!(c.get(c.choose(&[], Some("fr-BE"))).tag(), "fr");
}

#[test]
fn the_languages_offered_and_the_default_are_checked() {
    let only = |langs: &[&str], default: &str| {
        let list: Vec<String> = langs.iter().map(|s| s.to_string()).collect();
        Catalog::load(&Settings {
            default,
            languages: Some(&list),
            translations: None,
        })
    };
    let c = only(&["fr", "en"], "fr").unwrap();
    assert_eq!(c.languages().len(), 2);
    assert_eq!(c.default_language().tag(), "fr");
    // German is not offered: its speakers get the default.
    assert_eq!(c.get(c.choose(&[], Some("de-AT,de;q=0.9"))).tag(), "fr");
    let e = only(&["fr", "it"], "fr").unwrap_err().to_string();
    assert!(
        e.contains("page.languages: \"it\" is neither built in") && e.contains("[page] translations"),
        "{e}"
    );
    let e = only(&["fr", "de"], "en").unwrap_err().to_string();
    assert!(
        e.contains("page.default_language: \"en\" is not among the languages offered (fr, de)"),
        "{e}"
    );
    let e = Catalog::load(&Settings {
        translations: Some(Path::new("/nonexistent/lang")),
        ..Settings::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("page.translations: cannot read the directory /nonexistent/lang"),
        "{e}"
    );
}

/// What a forward keeps for its error page chooses as the request would,
/// from `?lang=` and `Accept-Language`.
#[test]
fn a_hint_keeps_the_first_wishes() {
    let c = catalog();
    let headers = |accept: &str, cookie: Option<&str>| {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT_LANGUAGE, accept.parse().unwrap());
        if let Some(c) = cookie {
            h.insert(http::header::COOKIE, format!("a=1; {COOKIE}={c}").parse().unwrap());
        }
        h
    };
    let tag = |query: Option<&str>, h: &HeaderMap| c.get(c.chosen(&Hint::of(query, h).asked())).tag().to_string();
    assert_eq!(tag(None, &headers("de-AT,de;q=0.9,en;q=0.8", None)), "de");
    // The remembered choice is not read on the forward path (see `Hint`):
    // the browser's language.
    assert_eq!(tag(None, &headers("de-AT,de;q=0.9", Some("nl"))), "de");
    assert_eq!(tag(Some("x=1&lang=es"), &headers("de", Some("nl"))), "es");
    assert_eq!(tag(None, &headers("es-419", None)), "es");
    // A first entry too long to keep: the default.
    assert_eq!(tag(None, &headers("zh-Hant-TW,fr;q=0.9", None)), "en");
    // Cut on bytes, never inside a character.
    let mut h = HeaderMap::new();
    h.insert(
        http::header::ACCEPT_LANGUAGE,
        http::HeaderValue::from_bytes("fr,é€€€€€".as_bytes()).unwrap(),
    );
    let _ = Hint::of(None, &h).asked();
    assert_eq!(Inline::<7>::of("fr,\u{e9}\u{20ac}\u{20ac}").as_str(), Some("fr"));
}
