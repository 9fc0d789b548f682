//! The visitor's language: the texts of every page vestibule answers with,
//! as [Project Fluent](https://projectfluent.org) messages, in English,
//! French, German, Dutch and Spanish built in, more or changed from a
//! directory of `.ftl` files (`[page] translations`), and the choice of
//! one for each visitor ([`accept`]).
//!
//! Fluent rather than string tables: a message selects on CLDR's plural
//! rules for its language (`1 personne`, `2 personnes`, Spanish's `many`
//! for millions), so a translator writes each form their language has
//! and no plural logic lives in code. Numbers are grouped as each
//! language writes them ([`number`]).
//!
//! A [`Catalog`] is built whole when the configuration is loaded or
//! reloaded, with every problem of the directory reported at once
//! ([`LangError`]); a broken directory is rejected like a broken file and
//! the running catalog stays. Nothing here runs on a status poll: a
//! language is chosen only where a page or a `message` is written.
//!
//! What a translation file may do:
//! * a file for a built-in language (`fr.ftl`), or for a region of one
//!   (`fr-CA.ftl`), overrides the messages it has; the others stay the
//!   built-in ones;
//! * a file for any other language (`it.ftl`) adds it and must have
//!   every message of `en.ftl`;
//! * a message `en.ftl` does not have is refused (a misspelt id would
//!   otherwise be ignored in silence), and so is a placeable using a
//!   variable the page does not give. Terms (`-brand = ...`) are free.

mod accept;
pub mod number;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentError, FluentResource, FluentValue};
use fluent_syntax::ast;
use http::HeaderMap;
use intl_pluralrules::{PluralCategory, PluralRuleType, PluralRules};
use unic_langid::LanguageIdentifier;

pub use accept::{choose, find};
pub use number::Grouping;

/// The cookie that remembers a visitor's choice. A room's cookie is
/// `vst_` and the room's name, which starts with a letter, so this one
/// is never a room's; like them it is not passed to the site.
pub const COOKIE: &str = "vst__lang";

/// The query parameter that chooses a language (`?lang=fr`).
pub const PARAM: &str = "lang";

/// How long the choice is remembered, in seconds: a year.
pub const COOKIE_MAX_AGE: u64 = 365 * 24 * 3600;

/// The built-in languages: tag and Fluent source. English, the first, is
/// the reference every other file is checked against.
pub const BUILT_IN: [(&str, &str); 5] = [
    ("en", include_str!("lang/en.ftl")),
    ("fr", include_str!("lang/fr.ftl")),
    ("de", include_str!("lang/de.ftl")),
    ("nl", include_str!("lang/nl.ftl")),
    ("es", include_str!("lang/es.ftl")),
];

/// The built-in resources, parsed once for the process (reloads share them).
static BUILT: LazyLock<Vec<(LanguageIdentifier, Arc<FluentResource>)>> = LazyLock::new(|| {
    BUILT_IN
        .iter()
        .map(|(tag, src)| {
            let id: LanguageIdentifier = tag.parse().expect("built-in tags are valid");
            let res =
                FluentResource::try_new((*src).to_string()).expect("the built-in .ftl files parse (a test holds it)");
            (id, Arc::new(res))
        })
        .collect()
});

/// The message ids of `en.ftl`: the set every language has.
static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| message_ids(&BUILT[0].1));

/// The built-in English, whatever the configuration: the language-neutral
/// `error` of a JSON error answer is its title in this.
static REFERENCE: LazyLock<Language> = LazyLock::new(|| {
    let (id, res) = &BUILT[0];
    Language::new(id.clone(), vec![res.clone()]).expect("the built-in English builds")
});

/// The message ids of a resource, in file order.
fn message_ids(res: &FluentResource) -> Vec<&str> {
    res.entries()
        .filter_map(|e| match e {
            ast::Entry::Message(m) => Some(m.id.name),
            _ => None,
        })
        .collect()
}

/// Values for every variable any message uses, to try each message with
/// when a catalog is built: an error then is a translation's, not a
/// visitor's.
fn sample_args() -> FluentArgs<'static> {
    let mut a = FluentArgs::new();
    a.set("position", 12);
    a.set("count", 11);
    a.set("place", "12");
    a.set("order", "arrival");
    a.set("time", "20:00 UTC");
    a.set("left", "about 5 minutes");
    a.set("eta", "about 5 minutes");
    a.set("minutes", 5);
    a.set("hours", 2);
    a.set("seconds", 10);
    a.set("room", "Registration");
    a.set("ticket", "24 hours");
    a.set("turn", "11 minutes");
    a.set("n", 3);
    a
}

/// An estimate of `seconds` in whole minutes, rounded up to a step that
/// grows with the wait: to the minute up to 10, to 5 minutes up to an
/// hour, to a quarter of an hour beyond. A figure no more precise than
/// the estimate is, so it does not jump by the minute as the measured
/// speed of the line wavers. The page's script rounds alike.
pub fn eta_minutes(seconds: u64) -> u64 {
    let m = seconds.div_ceil(60);
    let step = match m {
        0..=10 => 1,
        11..=60 => 5,
        _ => 15,
    };
    m.div_ceil(step) * step
}

/// What is wrong with one message of a language being built.
#[derive(Debug)]
enum Broken {
    /// Not there (only in a language with nothing built in beneath).
    Missing(&'static str),
    /// Fluent's error formatting it.
    Fails(&'static str, FluentError),
}

/// One language of a catalog, ready to format.
pub struct Language {
    /// As offered (`fr`, `pt-BR`): the `lang` attribute, the cookie's value.
    tag: Box<str>,
    /// In the language itself (`Français`), for the picker.
    name: Box<str>,
    rtl: bool,
    grouping: Grouping,
    /// The built-in messages of the language the file is for (none for a
    /// language of its own), then the file's, overriding.
    bundle: FluentBundle<Arc<FluentResource>>,
    /// The texts the waiting page's script writes, as a JSON object
    /// (see [`Language::script_texts`]), made once.
    script: Box<str>,
}

impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Language").field("tag", &self.tag).finish()
    }
}

impl AsRef<str> for Language {
    fn as_ref(&self) -> &str {
        &self.tag
    }
}

impl Language {
    /// A language from its resources, the later overriding the earlier;
    /// or what is wrong with each message that does not format.
    fn new(id: LanguageIdentifier, resources: Vec<Arc<FluentResource>>) -> Result<Language, Vec<Broken>> {
        let mut bundle = FluentBundle::new_concurrent(vec![id.clone()]);
        // Placeables here are numbers and times inside the page's own
        // sentences, and the page sets `dir`: Unicode isolation marks
        // around each would only break copying and searching the text.
        bundle.set_use_isolating(false);
        bundle.set_formatter(Some(number::format_value));
        for r in resources {
            bundle.add_resource_overriding(r);
        }
        let args = sample_args();
        let mut broken = Vec::new();
        for key in KEYS.iter() {
            let Some(p) = bundle.get_message(key).and_then(|m| m.value()) else {
                broken.push(Broken::Missing(key));
                continue;
            };
            let mut errors = Vec::new();
            bundle.format_pattern(p, Some(&args), &mut errors);
            broken.extend(errors.into_iter().map(|e| Broken::Fails(key, e)));
        }
        if !broken.is_empty() {
            return Err(broken);
        }
        let mut lang = Language {
            tag: id.to_string().into(),
            name: "".into(),
            rtl: matches!(id.character_direction(), unic_langid::CharacterDirection::RTL),
            grouping: Grouping::of(&id),
            bundle,
            script: "".into(),
        };
        lang.name = lang.text("language-name", None).into_owned().into();
        lang.script = lang.make_script_texts().into();
        Ok(lang)
    }

    /// The tag, as offered and written in `lang` attributes.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The language's own name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `rtl` or `ltr`, for the page's `dir` attribute.
    pub fn dir(&self) -> &'static str {
        if self.rtl {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// Message `id` with `args`. Every message exists and formats (the
    /// catalog was checked when built); should one not, the id shows, so
    /// a page still renders.
    pub fn text(&self, id: &str, args: Option<&FluentArgs>) -> Cow<'_, str> {
        let Some(p) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            return Cow::Owned(id.to_string());
        };
        let mut errors = Vec::new();
        self.bundle.format_pattern(p, args, &mut errors)
    }

    /// Message `id` with one argument.
    pub fn text1<'v>(&self, id: &str, name: &'static str, value: impl Into<FluentValue<'v>>) -> String {
        let mut a = FluentArgs::with_capacity(1);
        a.set(name, value.into());
        self.text(id, Some(&a)).into_owned()
    }

    /// A whole number as the language writes it.
    pub fn number(&self, n: u64) -> String {
        self.grouping.format(n)
    }

    /// How the digits are grouped.
    pub fn grouping(&self) -> Grouping {
        self.grouping
    }

    /// An estimate in words: `None` while the line's speed is unknown;
    /// `returner` for a visitor whose turn comes at the next free slot.
    /// The same bands as [`crate::page::eta_text`], which writes the JSON's
    /// language-neutral English.
    pub fn eta(&self, eta: Option<u64>, returner: bool) -> String {
        match eta {
            _ if returner => self.text("eta-few-seconds", None).into_owned(),
            None => self.text("eta-measuring", None).into_owned(),
            Some(s) => self.span(s, eta_minutes(s)),
        }
    }

    /// The time left until a known moment (a pre-queue's opening), in
    /// the estimate's words but to the minute: it is not a guess.
    pub fn left(&self, seconds: u64) -> String {
        self.span(seconds, seconds.div_ceil(60))
    }

    /// `seconds` in words, as `minutes` when a minute or more.
    fn span(&self, seconds: u64, minutes: u64) -> String {
        match seconds {
            s if s < 60 => self.text("eta-under-minute", None).into_owned(),
            s if s < 90 * 60 => self.text1("eta-minutes", "minutes", minutes),
            _ => {
                // Minutes first, so that 7,190 s reads "2 h 0 min", not "1 h 60 min".
                let mut a = FluentArgs::with_capacity(2);
                a.set("hours", minutes / 60);
                a.set("minutes", minutes % 60);
                self.text("eta-hours", Some(&a)).into_owned()
            }
        }
    }

    /// A length of time written out, never longer than `seconds`: whole
    /// hours from three hours (or an exact number of hours), whole
    /// minutes from two minutes, else seconds.
    pub fn duration(&self, seconds: u64) -> String {
        if seconds >= 3 * 3600 || (seconds >= 3600 && seconds % 3600 == 0) {
            self.text1("time-hours", "n", seconds / 3600)
        } else if seconds >= 120 {
            self.text1("time-minutes", "n", seconds / 60)
        } else {
            self.text1("time-seconds", "n", seconds)
        }
    }

    /// The texts the waiting page's script writes when a poll brings new
    /// figures, as a JSON object: the page cannot run Fluent, so each
    /// message that takes a number comes as one template per CLDR plural
    /// category of the language (`{"one": "{n} person ahead of you",
    /// "other": "{n} people ahead of you", "=0": "Nobody ahead of you"}`),
    /// which the script picks with `Intl.PluralRules` and fills with
    /// `Intl.NumberFormat`, both in the page's language. `<` is escaped,
    /// so the object can sit in a `<script>` whatever a translation says.
    pub fn script_texts(&self) -> &str {
        &self.script
    }

    fn make_script_texts(&self) -> String {
        let t = |id: &str| serde_json::Value::from(self.text(id, None).into_owned());
        let mut hours = FluentArgs::new();
        // Two numbers with no digit in common, swapped for placeholders.
        hours.set("hours", 7);
        hours.set("minutes", 43);
        let hours = self
            .text("eta-hours", Some(&hours))
            .replacen(&self.number(43), "{m}", 1)
            .replacen(&self.number(7), "{h}", 1);
        let v = serde_json::json!({
            "title": self.plural_forms("waiting-title-place", "position", false),
            "title_next": t("waiting-title-next"),
            "title_drawn": t("waiting-title-drawn"),
            "next": t("waiting-place-next"),
            "drawn": t("waiting-place-drawn"),
            "ahead": self.plural_forms("waiting-ahead", "count", true),
            "measuring": t("eta-measuring"),
            "few_seconds": t("eta-few-seconds"),
            "under_minute": t("eta-under-minute"),
            "minutes": self.plural_forms("eta-minutes", "minutes", false),
            "hours": hours,
            "paused": t("eta-paused"),
            "draw": t("eta-draw"),
            "other_tab": t("waiting-other-tab"),
            "follow_here": t("waiting-follow-here"),
        });
        v.to_string().replace('<', "\\u003c")
    }

    /// Message `id` as a template per plural category of the language,
    /// the number `var` as `{n}`; with `zero`, the text for 0 as `=0`
    /// too (a message may say "nobody" rather than "0 people").
    fn plural_forms(&self, id: &str, var: &'static str, zero: bool) -> BTreeMap<&'static str, String> {
        let mut forms = BTreeMap::new();
        let rules = LanguageIdentifier::from_bytes(self.tag.as_bytes())
            .ok()
            .and_then(|l| PluralRules::create(l, PluralRuleType::CARDINAL).ok());
        let samples = [
            1u64, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 21, 22, 25, 100, 101, 102, 1_000_000,
        ];
        for n in samples {
            let cat = rules
                .as_ref()
                .and_then(|r| r.select(n).ok())
                .unwrap_or(PluralCategory::OTHER);
            let name = match cat {
                PluralCategory::ZERO => "zero",
                PluralCategory::ONE => "one",
                PluralCategory::TWO => "two",
                PluralCategory::FEW => "few",
                PluralCategory::MANY => "many",
                PluralCategory::OTHER => "other",
            };
            forms
                .entry(name)
                .or_insert_with(|| self.text1(id, var, n).replacen(&self.number(n), "{n}", 1));
        }
        if zero {
            forms.insert("=0", self.text1(id, var, 0).replacen('0', "{n}", 1));
        }
        forms
    }
}

/// Where the languages come from: `[page] default_language`, `languages`
/// and `translations`.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// The language when nothing else decides.
    pub default: &'a str,
    /// The languages offered, in the picker's order; `None`: all there are.
    pub languages: Option<&'a [String]>,
    /// The directory of `.ftl` files.
    pub translations: Option<&'a Path>,
}

impl Settings<'_> {
    /// As `cfg`'s `[page]` table says.
    pub fn of(cfg: &crate::config::Config) -> Settings<'_> {
        Settings {
            default: &cfg.page.default_language,
            languages: cfg.page.languages.as_deref(),
            translations: cfg.page.translations.as_deref(),
        }
    }
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            default: "en",
            languages: None,
            translations: None,
        }
    }
}

/// One problem with the languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, or the configuration key (`page.languages`).
    pub place: String,
    /// Line in the file, when known.
    pub line: Option<usize>,
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.place, self.message)?,
            None => write!(f, "{}: {}", self.place, self.message)?,
        }
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

/// Every problem found building a catalog; never empty.
#[derive(Debug, Clone, thiserror::Error)]
pub struct LangError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for LangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) with the languages", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// The languages offered, each ready to format, and the default.
#[derive(Debug)]
pub struct Catalog {
    langs: Vec<Language>,
    default: usize,
}

/// A language there is: its tag, its resources (the later overriding
/// the earlier), and the file it comes from, if any.
type Source<'f> = (LanguageIdentifier, Vec<Arc<FluentResource>>, Option<&'f File>);

/// A translation file read from the directory.
struct File {
    id: LanguageIdentifier,
    path: PathBuf,
    text: String,
    res: Arc<FluentResource>,
}

impl Catalog {
    /// The five built-in languages, English the default.
    pub fn built_in() -> Catalog {
        Catalog::load(&Settings::default()).expect("the built-in languages build (a test holds it)")
    }

    /// Builds the catalog `s` describes, reading the translations
    /// directory; every problem is reported.
    pub fn load(s: &Settings<'_>) -> Result<Catalog, LangError> {
        let mut problems = Vec::new();
        let files = match s.translations {
            Some(dir) => read_dir(dir, &mut problems),
            None => Vec::new(),
        };
        // Every language there is: the built-in ones, then the directory's
        // own, each with its resources.
        let mut all: Vec<Source<'_>> = BUILT
            .iter()
            .map(|(id, res)| (id.clone(), vec![res.clone()], None))
            .collect();
        for f in &files {
            let base = BUILT
                .iter()
                .find(|(id, _)| *id == f.id)
                .or_else(|| BUILT.iter().find(|(id, _)| id.language == f.id.language));
            // Nothing built in beneath: every message is needed.
            check_keys(f, base.is_none(), &mut problems);
            let mut resources: Vec<_> = base.map(|(_, r)| r.clone()).into_iter().collect();
            resources.push(f.res.clone());
            match all.iter_mut().find(|(id, _, _)| *id == f.id) {
                Some(entry) => *entry = (f.id.clone(), resources, Some(f)),
                None => all.push((f.id.clone(), resources, Some(f))),
            }
        }
        let tags: Vec<String> = all.iter().map(|(id, _, _)| id.to_string()).collect();
        let wanted: Vec<usize> = match s.languages {
            None => (0..all.len()).collect(),
            Some(list) => list
                .iter()
                .filter_map(|t| {
                    let found = tags.iter().position(|a| a.eq_ignore_ascii_case(t));
                    if found.is_none() {
                        problems.push(Problem {
                            place: "page.languages".into(),
                            line: None,
                            message: format!("{t:?} is neither built in nor in the translations directory"),
                            hint: Some(match s.translations {
                                Some(d) => format!(
                                    "add {}/{t}.ftl with every message of en.ftl, or remove it from the list \
                                     (built in: {})",
                                    d.display(),
                                    built_in_tags()
                                ),
                                None => format!(
                                    "built in: {}; for another, set [page] translations to a directory with {t}.ftl",
                                    built_in_tags()
                                ),
                            }),
                        });
                    }
                    found
                })
                .collect(),
        };
        let default = wanted.iter().position(|&i| tags[i].eq_ignore_ascii_case(s.default));
        if default.is_none() && !wanted.is_empty() {
            let offered: Vec<&str> = wanted.iter().map(|&i| tags[i].as_str()).collect();
            problems.push(Problem {
                place: "page.default_language".into(),
                line: None,
                message: format!(
                    "{:?} is not among the languages offered ({})",
                    s.default,
                    offered.join(", ")
                ),
                hint: Some("add it to page.languages, or choose one of them".into()),
            });
        }
        // Every language is built, offered or not, so that `check` finds a
        // broken file before someone offers it.
        let mut built: Vec<Option<Language>> = Vec::with_capacity(all.len());
        for (i, (id, resources, file)) in all.into_iter().enumerate() {
            match Language::new(id, resources) {
                Ok(l) => built.push(Some(l)),
                Err(broken) => {
                    built.push(None);
                    for b in broken {
                        let (key, message) = match b {
                            // Named by check_keys, with the file's other gaps.
                            Broken::Missing(_) if file.is_some() => continue,
                            Broken::Missing(key) => (key, "is missing".to_string()),
                            Broken::Fails(key, e) => (key, describe(&e)),
                        };
                        problems.push(Problem {
                            place: file
                                .map_or_else(|| format!("(built-in {})", tags[i]), |f| f.path.display().to_string()),
                            line: file.and_then(|f| locate(&f.text, key)),
                            message: format!("message `{key}` {message}"),
                            hint: Some(format!("the English message is: {}", english_source(key))),
                        });
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(LangError { problems });
        }
        let offered: Vec<Language> = wanted.iter().filter_map(|&i| built[i].take()).collect();
        Ok(Catalog {
            langs: offered,
            default: default.unwrap_or(0),
        })
    }

    /// The languages offered, in the picker's order.
    pub fn languages(&self) -> &[Language] {
        &self.langs
    }

    /// The language at `i` (from [`Catalog::choose`]); the default for an
    /// index from another catalog.
    pub fn get(&self, i: usize) -> &Language {
        self.langs.get(i).unwrap_or(&self.langs[self.default])
    }

    /// The default language.
    pub fn default_language(&self) -> &Language {
        &self.langs[self.default]
    }

    /// The language for a visitor: the first of `wishes` offered (the
    /// `?lang=` parameter, then the cookie), else by `Accept-Language`,
    /// else the default (see [`choose`]).
    pub fn choose(&self, wishes: &[&str], accept: Option<&str>) -> usize {
        choose(&self.langs, self.default, wishes, accept)
    }

    /// The language a request asks for (see [`Catalog::choose`]).
    pub fn chosen(&self, a: &Asked<'_>) -> usize {
        let wishes = [a.param.as_deref().unwrap_or(""), a.cookie.unwrap_or("")];
        self.choose(&wishes, a.accept)
    }

    /// The offered language that serves a wish for `tag`.
    pub fn find(&self, tag: &str) -> Option<usize> {
        find(&self.langs, tag)
    }

    /// The built-in English, the same whatever the configuration.
    pub fn reference() -> &'static Language {
        &REFERENCE
    }
}

/// `Set-Cookie` remembering the choice of `tag` for a year, site-wide,
/// sent on top-level navigation from other sites like the rooms' cookies.
pub fn remember(tag: &str, secure: bool) -> http::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let s = format!("{COOKIE}={tag}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax{secure}");
    http::HeaderValue::from_str(&s).expect("tags are letters, digits and hyphens")
}

/// What a request says about its language: `?lang=`, the remembered
/// choice, `Accept-Language`. Read only where a page or a message is
/// written.
#[derive(Debug, Clone, Default)]
pub struct Asked<'r> {
    /// `?lang=`: chosen now.
    pub param: Option<Cow<'r, str>>,
    /// The cookie: chosen before.
    pub cookie: Option<&'r str>,
    pub accept: Option<&'r str>,
}

impl<'r> Asked<'r> {
    /// Read from a request's query and headers.
    pub fn of(query: Option<&'r str>, headers: &'r HeaderMap) -> Asked<'r> {
        Asked {
            param: crate::http::query_param(query, PARAM),
            cookie: crate::cookie::cookies(headers, COOKIE).next(),
            accept: headers.get(http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
        }
    }
}

/// [`Asked`] copied into the request's future, with no allocation, for
/// an answer written after the request is gone (a 502 when the site does
/// not answer). Every forwarded request carries one, and its future is
/// copied whole into the heap (see `crate::gate::handle`), so it is
/// small (a test in `crate::gate` holds the forward's size): a wish of up
/// to 7 bytes (`en`, `pt-BR`, `zh-Hant`) and the first entry of
/// `Accept-Language` when it fits in 7 (`de-AT`, `es-419`), the one that
/// counts most; a longer first entry leaves the default.
///
/// The wish is `?lang=` alone, not the remembered cookie: every forward,
/// the admitted path, pays for this, and scanning `Cookie` for the
/// language cookie was two thirds of it (about 330 of 480 instructions a
/// request, callgrind, docs/BENCHMARKS.md) for a page seen when the site
/// is down. That page is then in the browser's language rather than one
/// picked on the waiting page, where the two differ.
#[derive(Clone, Copy)]
pub struct Hint {
    wish: Inline<7>,
    accept: Inline<7>,
}

const _: () = assert!(std::mem::size_of::<Hint>() == 16);

/// A short string kept inline.
#[derive(Clone, Copy)]
struct Inline<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// `s`, or the part of it up to its last `,` that fits.
    fn of(s: &str) -> Inline<N> {
        let mut end = s.len();
        if end > N {
            // On bytes: N may fall inside a character; a `,` never does.
            end = s.as_bytes()[..N].iter().rposition(|&b| b == b',').unwrap_or(0);
        }
        let mut buf = [0; N];
        buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        Inline { len: end as u8, buf }
    }

    fn as_str(&self) -> Option<&str> {
        let s = std::str::from_utf8(&self.buf[..usize::from(self.len)]).ok()?;
        (!s.is_empty()).then_some(s)
    }
}

impl Hint {
    /// The choice a request asks for, kept: `?lang=` and `Accept-Language`.
    pub fn of(query: Option<&str>, headers: &HeaderMap) -> Hint {
        let param = crate::http::query_param(query, PARAM);
        let wish = param.as_deref().filter(|w| w.len() <= 7).unwrap_or("");
        let accept = headers.get(http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        Hint {
            wish: Inline::of(wish),
            accept: Inline::of(accept.unwrap_or("")),
        }
    }

    /// As [`Asked`], to choose with.
    pub fn asked(&self) -> Asked<'_> {
        Asked {
            param: None,
            cookie: self.wish.as_str(),
            accept: self.accept.as_str(),
        }
    }
}

fn built_in_tags() -> String {
    BUILT_IN.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
}

/// An error of Fluent's, in words for an operator.
fn describe(e: &FluentError) -> String {
    use fluent_bundle::resolver::errors::{ReferenceKind, ResolverError};
    match e {
        FluentError::ResolverError(ResolverError::Reference(ReferenceKind::Variable { id })) => {
            format!("uses ${id}, which vestibule does not give it")
        }
        FluentError::ResolverError(ResolverError::Reference(ReferenceKind::Message { id, .. })) => {
            format!("refers to a message `{id}`, which does not exist")
        }
        FluentError::ResolverError(ResolverError::Reference(ReferenceKind::Term { id, .. })) => {
            format!("refers to a term `-{id}`, which does not exist")
        }
        FluentError::ResolverError(ResolverError::Reference(ReferenceKind::Function { id })) => {
            format!("calls {id}(), which does not exist")
        }
        other => other.to_string(),
    }
}

/// The source of message `key` in `en.ftl`, on one line.
fn english_source(key: &str) -> String {
    let src = BUILT_IN[0].1;
    let mut lines = src.lines().skip_while(|l| !starts_message(l, key));
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(
        lines
            .take_while(|l| l.starts_with(' ') || l.trim() == "}")
            .map(str::trim),
    );
    out.join(" ")
}

fn starts_message(line: &str, key: &str) -> bool {
    line.strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('='))
}

/// The line where message `key` starts in `text`.
fn locate(text: &str, key: &str) -> Option<usize> {
    text.lines().position(|l| starts_message(l, key)).map(|i| i + 1)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads every `TAG.ftl` of `dir` (others, and hidden files such as an
/// editor's swap files, are passed over), in name order; problems for
/// files that cannot be read or do not parse.
fn read_dir(dir: &Path, problems: &mut Vec<Problem>) -> Vec<File> {
    let place = dir.display().to_string();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem {
                place: "page.translations".into(),
                line: None,
                message: format!("cannot read the directory {place}: {e}"),
                hint: Some("create it, or point page.translations at the directory of .ftl files".into()),
            });
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name.ends_with(".ftl")
        })
        .collect();
    paths.sort();
    let mut files: Vec<File> = Vec::new();
    for path in paths {
        let shown = path.display().to_string();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let id = match stem.parse::<LanguageIdentifier>() {
            Ok(id)
                if stem
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                id
            }
            _ => {
                problems.push(Problem {
                    place: shown,
                    line: None,
                    message: format!("{stem:?} is not a language tag"),
                    hint: Some("name each file for its language: fr.ftl, pt-BR.ftl".into()),
                });
                continue;
            }
        };
        if let Some(other) = files.iter().find(|f| f.id == id) {
            problems.push(Problem {
                place: shown,
                line: None,
                message: format!("a second file for {id} (after {})", other.path.display()),
                hint: Some("keep one file per language".into()),
            });
            continue;
        }
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem {
                    place: shown,
                    line: None,
                    message: format!("cannot read: {e}"),
                    hint: None,
                });
                continue;
            }
        };
        match FluentResource::try_new(text.clone()) {
            Ok(res) => files.push(File {
                id,
                path,
                text,
                res: Arc::new(res),
            }),
            Err((_, errors)) => {
                let lines: Vec<&str> = text.lines().collect();
                for e in errors {
                    // Fluent points where it gave up, often the end of the
                    // file or a blank line after an unclosed `{`: the
                    // last written line before it is the one to look at.
                    let mut line = line_of(&text, e.pos.start).min(lines.len().max(1));
                    let first = e.slice.as_ref().map_or(1, |s| line_of(&text, s.start));
                    while line > first && lines.get(line - 1).is_none_or(|l| l.trim().is_empty()) {
                        line -= 1;
                    }
                    let written = lines.get(line - 1).copied().unwrap_or("").trim();
                    problems.push(Problem {
                        place: shown.clone(),
                        line: Some(line),
                        message: format!("syntax error: {}", e.kind),
                        hint: Some(format!(
                            "the line reads `{written}`; Fluent's syntax: https://projectfluent.org/fluent/guide/"
                        )),
                    });
                }
            }
        }
    }
    files
}

/// Unknown messages in `f`, each a problem; with `complete` (a language
/// of its own, with nothing built in to fall back on), missing ones too.
fn check_keys(f: &File, complete: bool, problems: &mut Vec<Problem>) {
    let shown = f.path.display().to_string();
    let ids = message_ids(&f.res);
    let known: BTreeSet<&str> = KEYS.iter().copied().collect();
    for id in &ids {
        if !known.contains(id) {
            problems.push(Problem {
                place: shown.clone(),
                line: locate(&f.text, id),
                message: format!("unknown message `{id}`"),
                hint: crate::config::did_you_mean(id, &KEYS).map(|h| format!("{h} (en.ftl lists every message)")),
            });
        }
    }
    if complete {
        let have: BTreeSet<&str> = ids.iter().copied().collect();
        let missing: Vec<&str> = KEYS.iter().copied().filter(|k| !have.contains(k)).collect();
        if !missing.is_empty() {
            problems.push(Problem {
                place: shown,
                line: None,
                message: format!(
                    "{} is not built in, so every message is needed; missing: {}",
                    f.id,
                    missing.join(", ")
                ),
                hint: Some("copy them from the built-in en.ftl and translate them".into()),
            });
        }
    }
}

#[cfg(test)]
mod tests;
