//! Whole numbers as each language writes them: "1,234" in English,
//! "1 234" in French (a narrow no-break space), "1.234" in German and
//! Dutch, "1234" but "12.345" in Spanish. Fluent's own `NUMBER()` writes
//! digits without grouping, so the bundle is given this formatter.
//!
//! The separators and the grouping threshold are CLDR's (`symbols.group`
//! and `minimumGroupingDigits` of each locale), the data browsers'
//! `Intl.NumberFormat` uses too: a figure the page's script rewrites
//! looks the same as the one the server wrote.

use fluent_bundle::FluentValue;
use intl_memoizer::concurrent::IntlLangMemoizer;
use intl_memoizer::Memoizable;
use unic_langid::LanguageIdentifier;

/// How a language groups the digits of a whole number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    /// Between groups of three digits.
    pub separator: &'static str,
    /// Digits before the first group for grouping to start: 1 groups
    /// "1,234"; 2 leaves "1234" alone and groups "12.345" (Spanish,
    /// Polish, Portuguese in Portugal).
    pub min_grouping: u8,
}

const COMMA: &str = ",";
const DOT: &str = ".";
/// U+202F: French since CLDR 34.
const NARROW_NBSP: &str = "\u{202f}";
/// U+00A0: most of the languages that group with a space.
const NBSP: &str = "\u{a0}";
/// U+2019: Swiss German.
const APOSTROPHE: &str = "\u{2019}";

impl Grouping {
    /// CLDR's grouping for `lang`; languages not in the table group as
    /// English does (CLDR's root locale).
    pub fn of(lang: &LanguageIdentifier) -> Grouping {
        let g = |separator, min_grouping| Grouping {
            separator,
            min_grouping,
        };
        let region = lang.region.as_ref().map(|r| r.as_str());
        match (lang.language.as_str(), region) {
            ("de", Some("CH" | "LI")) => g(APOSTROPHE, 1),
            ("de", Some("AT")) => g(NBSP, 1),
            ("pt", Some("PT")) => g(NBSP, 2),
            ("fr", _) => g(NARROW_NBSP, 1),
            ("es", _) => g(DOT, 2),
            ("pl", _) => g(NBSP, 2),
            ("de" | "nl" | "it" | "da" | "id" | "tr" | "el" | "ro" | "hr" | "sl" | "sr", _) => g(DOT, 1),
            ("pt", _) => g(DOT, 1),
            ("sv" | "nb" | "no" | "nn" | "fi" | "cs" | "sk" | "ru" | "uk" | "bg" | "hu" | "et" | "lt" | "lv", _) => {
                g(NBSP, 1)
            }
            _ => g(COMMA, 1),
        }
    }

    /// `n` with its digits grouped.
    pub fn format(&self, n: u64) -> String {
        let mut digits = itoa::Buffer::new();
        let d = digits.format(n);
        if d.len() < 3 + usize::from(self.min_grouping.max(1)) {
            return d.to_string();
        }
        let mut out = String::with_capacity(d.len() + d.len() / 3 * self.separator.len());
        let first = d.len() % 3;
        if first > 0 {
            out.push_str(&d[..first]);
        }
        for (i, chunk) in d.as_bytes()[first..].chunks(3).enumerate() {
            if first > 0 || i > 0 {
                out.push_str(self.separator);
            }
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        }
        out
    }
}

/// Kept once per bundle by Fluent's memoizer, keyed by the bundle's
/// language.
impl Memoizable for Grouping {
    type Args = ();
    type Error = ();

    fn construct(lang: LanguageIdentifier, _: ()) -> Result<Self, ()> {
        Ok(Grouping::of(&lang))
    }
}

/// The bundle's formatter: whole numbers grouped as the bundle's
/// language does; anything else (a fraction, a number with display
/// options) as Fluent writes it.
pub fn format_value(v: &FluentValue, intls: &IntlLangMemoizer) -> Option<String> {
    let FluentValue::Number(n) = v else {
        return None;
    };
    let o = &n.options;
    let plain = o.use_grouping
        && o.minimum_fraction_digits.is_none()
        && o.minimum_integer_digits.is_none()
        && o.maximum_significant_digits.is_none()
        && o.minimum_significant_digits.is_none();
    let whole = n.value.fract() == 0.0 && (0.0..9.0e15).contains(&n.value);
    if !(plain && whole) {
        return None;
    }
    intls
        .with_try_get::<Grouping, _, _>((), |g| g.format(n.value as u64))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(tag: &str) -> Grouping {
        Grouping::of(&tag.parse().unwrap())
    }

    #[test]
    fn digits_are_grouped_as_cldr_says() {
        let cases: &[(&str, u64, &str)] = &[
            ("en", 0, "0"),
            ("en", 999, "999"),
            ("en", 1_234, "1,234"),
            ("en", 1_234_567, "1,234,567"),
            ("en", 123_456, "123,456"),
            ("fr", 1_234, "1\u{202f}234"),
            ("fr", 1_000_000, "1\u{202f}000\u{202f}000"),
            ("fr-CA", 12_345, "12\u{202f}345"),
            ("de", 1_234, "1.234"),
            ("de-CH", 1_234, "1\u{2019}234"),
            ("de-AT", 1_234, "1\u{a0}234"),
            ("nl", 98_765, "98.765"),
            // Spanish leaves four digits alone.
            ("es", 1_234, "1234"),
            ("es", 12_345, "12.345"),
            ("es", 1_234_567, "1.234.567"),
            ("pl", 1_234, "1234"),
            ("pl", 12_345, "12\u{a0}345"),
            ("ja", 1_234, "1,234"),
            ("en", u64::MAX, "18,446,744,073,709,551,615"),
        ];
        for (tag, n, want) in cases {
            assert_eq!(of(tag).format(*n), *want, "{tag} {n}");
        }
    }
}
