//! Choosing a visitor's language among those offered: an explicit choice
//! first (`?lang=`, then the remembered cookie), then `Accept-Language`
//! by its q-values, then the default.
//!
//! Written here rather than taken from fluent-langneg, whose
//! `Accept-Language` reader drops the q-values: `de;q=0` ("not German")
//! would then ask for German, and `en;q=0.1, fr` would prefer English.
//! Matching follows RFC 4647's lookup in the small: a tag matches the
//! same tag, then a tag of the same language (`fr-CA` gets `fr`, `pt`
//! gets `pt-BR`); a range refused with `q=0` rules out the tags it covers
//! (`de;q=0` rules out `de` and `de-AT`, `de-AT;q=0` not `de`).

/// Entries of an `Accept-Language` header read, at most: browsers send
/// a handful; a long header costs no more than this.
const MAX_RANGES: usize = 16;

/// The language part of a tag: `fr` of `fr-CA` (or `fr_CA`).
fn primary(tag: &str) -> &str {
    tag.split(['-', '_']).next().unwrap_or(tag)
}

/// `tag` spelt as `offered` is, in any case and with `_` for `-`.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x.eq_ignore_ascii_case(&y) || (matches!(x, b'-' | b'_') && matches!(y, b'-' | b'_')))
}

/// The offered language that serves a wish for `tag`: the same tag, else
/// the first of the same language.
pub fn find<S: AsRef<str>>(offered: &[S], tag: &str) -> Option<usize> {
    let tag = tag.trim();
    if tag.is_empty() || tag == "*" {
        return None;
    }
    offered.iter().position(|o| same(o.as_ref(), tag)).or_else(|| {
        let p = primary(tag);
        offered.iter().position(|o| same(primary(o.as_ref()), p))
    })
}

/// Whether the range `refused` (given `q=0`) rules out the tag `offered`.
fn rules_out(refused: &str, offered: &str) -> bool {
    same(refused, offered)
        || (offered.len() > refused.len()
            && same(&offered[..refused.len()], refused)
            && matches!(offered.as_bytes()[refused.len()], b'-' | b'_'))
}

/// The entries of an `Accept-Language` header as `(range, q × 1000)`, in
/// the header's order; entries with an unreadable q-value are skipped,
/// as RFC 9110 leaves them meaningless.
fn ranges(header: &str) -> ([(&str, u16); MAX_RANGES], usize) {
    let mut out = [("", 0u16); MAX_RANGES];
    let mut n = 0;
    for entry in header.split(',') {
        if n == MAX_RANGES {
            break;
        }
        let mut parts = entry.split(';');
        let range = parts.next().unwrap_or("").trim();
        if range.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for p in parts {
            let p = p.trim();
            if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
                q = quality(v.trim());
            }
        }
        if let Some(q) = q {
            out[n] = (range, q);
            n += 1;
        }
    }
    (out, n)
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths.
fn quality(v: &str) -> Option<u16> {
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().chain(std::iter::repeat(b'0')).take(3).enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The index in `offered` of the language for a visitor: the first of
/// `wishes` (explicit choices, in order) that is offered; else the best
/// of `accept` by q-value (ties in the header's order), `*` meaning the
/// default; else the default, unless `accept` refuses it, then the first
/// language it does not refuse; else the default all the same (a page in
/// a refused language beats no page).
pub fn choose<S: AsRef<str>>(offered: &[S], default: usize, wishes: &[&str], accept: Option<&str>) -> usize {
    if let Some(i) = wishes.iter().find_map(|w| find(offered, w)) {
        return i;
    }
    let Some(header) = accept else {
        return default;
    };
    let (ranges, n) = ranges(header);
    let ranges = &ranges[..n];
    let refused = |i: usize| {
        ranges
            .iter()
            .any(|(r, q)| *q == 0 && *r != "*" && rules_out(r, offered[i].as_ref()))
    };
    let mut order: [usize; MAX_RANGES] = std::array::from_fn(|i| i);
    let order = &mut order[..n];
    // Stable: equal q-values keep the header's order.
    order.sort_by_key(|&i| std::cmp::Reverse(ranges[i].1));
    for &i in order.iter() {
        let (range, q) = ranges[i];
        if q == 0 {
            break;
        }
        if range == "*" {
            return if refused(default) {
                (0..offered.len()).find(|&i| !refused(i)).unwrap_or(default)
            } else {
                default
            };
        }
        if let Some(found) = find(offered, range).filter(|&f| !refused(f)) {
            return found;
        }
    }
    if refused(default) {
        (0..offered.len()).find(|&i| !refused(i)).unwrap_or(default)
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERED: &[&str] = &["en", "fr", "de", "nl", "es"];

    /// Headers as browsers and people send them, and the language each
    /// gets among the five built in, English by default.
    #[test]
    fn negotiation_table() {
        let table: &[(&str, &str)] = &[
            ("", "en"),
            ("fr", "fr"),
            ("fr-CA", "fr"),
            ("fr_BE", "fr"),
            ("FR-ch", "fr"),
            ("de-AT,de;q=0.9", "de"),
            ("de-AT, de;q=0.9, en;q=0.8", "de"),
            ("nl-BE,nl;q=0.9,en-US;q=0.8,en;q=0.7", "nl"),
            ("es-419,es;q=0.9", "es"),
            ("es-MX", "es"),
            // q-values decide, not the order.
            ("en;q=0.1, fr", "fr"),
            ("de;q=0.5, nl;q=0.8", "nl"),
            ("it, es;q=0.4, fr;q=0.6", "fr"),
            // Ties keep the header's order.
            ("nl;q=0.5, de;q=0.5", "nl"),
            // Nothing offered: the default.
            ("it, pt-BR;q=0.8, ja;q=0.5", "en"),
            ("zh-Hant-TW", "en"),
            // q=0 refuses, even when a region of it is asked for.
            ("de;q=0", "en"),
            ("de-AT, de;q=0, fr;q=0.5", "fr"),
            ("de-AT;q=0, de", "de"),
            // The default refused: the first one that is not.
            ("en;q=0", "fr"),
            ("en;q=0, fr;q=0, it", "de"),
            ("*", "en"),
            ("*;q=0.5, es", "es"),
            ("en;q=0, *", "fr"),
            ("it, *;q=0.1", "en"),
            // Everything refused: the default all the same.
            ("*;q=0, en;q=0, fr;q=0, de;q=0, nl;q=0, es;q=0", "en"),
            // Unreadable entries are skipped, not taken as q=1.
            ("de;q=2, fr", "fr"),
            ("de;q=0.5.1, nl;q=abc, es;q=0.3", "es"),
            ("de;q=0.0001, nl", "nl"),
            ("de;q=1.0, nl", "de"),
            ("de;Q=0.9, nl;q=0.95", "nl"),
            ("  ,  , fr ; q=0.7 ,", "fr"),
            (",,,", "en"),
            ("x-klingon, i-default", "en"),
        ];
        for (header, want) in table {
            let got = OFFERED[choose(OFFERED, 0, &[], Some(header))];
            assert_eq!(got, *want, "Accept-Language: {header:?}");
        }
        // Past the entries read, nothing counts: no cost without bound.
        let long = format!("{}, fr", vec!["it"; 40].join(", "));
        assert_eq!(OFFERED[choose(OFFERED, 0, &[], Some(&long))], "en");
    }

    #[test]
    fn an_explicit_choice_comes_first() {
        let header = Some("de-AT,de;q=0.9");
        assert_eq!(OFFERED[choose(OFFERED, 0, &["fr"], header)], "fr");
        // An explicit choice beats a refusal in the header: the visitor chose.
        assert_eq!(OFFERED[choose(OFFERED, 0, &["de"], Some("de;q=0"))], "de");
        // An unknown wish is passed over for the next.
        assert_eq!(OFFERED[choose(OFFERED, 0, &["xx", "nl-BE"], header)], "nl");
        assert_eq!(OFFERED[choose(OFFERED, 0, &["", "it"], header)], "de");
        // With another default.
        assert_eq!(OFFERED[choose(OFFERED, 2, &[], None)], "de");
        assert_eq!(OFFERED[choose(OFFERED, 2, &[], Some("de;q=0"))], "en");
    }

    #[test]
    fn a_language_is_found_by_tag_then_by_language() {
        let offered = ["en", "pt-BR", "pt-PT", "fr"];
        assert_eq!(find(&offered, "pt-PT"), Some(2));
        assert_eq!(find(&offered, "pt"), Some(1));
        assert_eq!(find(&offered, "pt-AO"), Some(1));
        assert_eq!(find(&offered, "pt_pt"), Some(2));
        assert_eq!(find(&offered, "*"), None);
        assert_eq!(find(&offered, "e"), None);
        assert!(rules_out("pt", "pt-BR") && !rules_out("pt-BR", "pt") && !rules_out("p", "pt"));
    }
}
