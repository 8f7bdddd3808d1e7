//! Recognising what people paste: a whole error message or a piece of one, an error number inside a
//! sentence ("Error 809", "エラー 809", "HTTP/1.1 407 ..."), curl's and openssl's own error lines, in
//! English or Japanese, with any case, quoting and punctuation. Every candidate says why it matched;
//! nothing is claimed on a fragment shorter than [`MIN_FRAGMENT_WEIGHT`].

use super::{lookup, taxonomy, Diagnosis};

/// The least "weight" a fragment of a known message must have to be recognised: characters after
/// normalisation, where a CJK character counts as two (it carries about as much as two Latin letters).
pub const MIN_FRAGMENT_WEIGHT: usize = 20;

/// The least number of words a Latin-script fragment must have (a CJK fragment has no spaces; its weight
/// alone decides).
pub const MIN_FRAGMENT_WORDS: usize = 3;

/// Words that, right before a number, make it an error or status number ("error 809", "event 1000").
const NUMBER_CONTEXT: &[&str] = &[
    "error",
    "err",
    "errno",
    "code",
    "status",
    "response",
    "event",
    "id",
    "エラー",
    "コード",
    "イベント",
    "http",
];

/// One diagnosis that fits a pasted text, with the reasons.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The diagnosis.
    pub diagnosis: &'static Diagnosis,
    /// Why it matched, one line per piece of evidence.
    pub why: Vec<String>,
    /// How much of the text the evidence covers (weight units); candidates are sorted by it.
    pub score: usize,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F)
}

/// The weight of a normalised text (see [`MIN_FRAGMENT_WEIGHT`]).
pub fn weight(text: &str) -> usize {
    text.chars()
        .filter(|c| *c != ' ')
        .map(|c| if is_cjk(c) { 2 } else { 1 })
        .sum()
}

/// Normalise pasted text for comparison: full-width forms folded to ASCII, lower case, every character
/// that is neither a letter, a digit nor `_` turned into a space (quotes, colons, full stops, brackets),
/// spaces collapsed; no space kept between two CJK characters and one put between CJK and Latin, so
/// "エラー809" and "エラー 809" compare equal.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    let mut pending_space = false;
    for raw in text.chars() {
        let c = match raw as u32 {
            0xFF01..=0xFF5E => char::from_u32(raw as u32 - 0xFEE0).unwrap_or(raw),
            _ => raw,
        };
        let keep = c.is_alphanumeric() || c == '_';
        if !keep {
            pending_space = prev.is_some();
            continue;
        }
        for l in c.to_lowercase() {
            if let Some(p) = prev {
                let boundary = is_cjk(p) != is_cjk(l);
                let both_cjk = is_cjk(p) && is_cjk(l);
                if (pending_space && !both_cjk) || boundary {
                    out.push(' ');
                }
            }
            out.push(l);
            prev = Some(l);
            pending_space = false;
        }
    }
    out
}

fn contains_phrase(hay: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    if phrase.chars().any(is_cjk) {
        return hay.contains(phrase);
    }
    format!(" {hay} ").contains(&format!(" {phrase} "))
}

fn is_number(token: &str) -> bool {
    let hex = token.strip_prefix("0x");
    match hex {
        Some(h) => !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()),
        None => !token.is_empty() && token.chars().all(|c| c.is_ascii_digit()),
    }
}

/// An 8-digit hex error (0x800B0109, or 800B0109) is unambiguous anywhere in a text.
fn is_long_hex(token: &str) -> bool {
    let h = token.strip_prefix("0x").unwrap_or(token);
    h.len() == 8
        && h.chars().all(|c| c.is_ascii_hexdigit())
        && h.chars().any(|c| c.is_ascii_digit())
}

/// Numbers in `tokens` that read as error or status numbers, with the context that says so.
fn numbers(tokens: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if tokens.len() == 1 && is_number(tokens[0]) {
        out.push((tokens[0].to_string(), "the whole text".to_string()));
        return out;
    }
    for (i, t) in tokens.iter().enumerate() {
        if !is_number(t) {
            continue;
        }
        if is_long_hex(t) {
            out.push((
                t.to_string(),
                "an 8-digit hexadecimal error code".to_string(),
            ));
            continue;
        }
        let before = |n: usize| i.checked_sub(n).map(|j| tokens[j]);
        let context = match (before(1), before(2), before(3)) {
            (Some(w), _, _) if NUMBER_CONTEXT.contains(&w) => Some(w.to_string()),
            // a CJK run has no spaces: "…失敗しましたエラー 812" ends with its context word
            (Some(w), _, _) if w.chars().any(is_cjk) => NUMBER_CONTEXT
                .iter()
                .find(|c| c.chars().any(is_cjk) && w.ends_with(*c))
                .map(|c| c.to_string()),
            // HTTP/1.1 407 and HTTP/2 407 (the version's digits sit between)
            (Some(_), Some("http"), _) | (Some(_), Some(_), Some("http")) => {
                Some("http".to_string())
            }
            _ => None,
        };
        if let Some(w) = context {
            out.push((t.to_string(), format!("after \"{w}\"")));
        }
    }
    out
}

fn add(out: &mut Vec<Candidate>, d: &'static Diagnosis, why: String, score: usize) {
    match out.iter_mut().find(|c| c.diagnosis.code == d.code) {
        Some(c) => {
            if !c.why.contains(&why) {
                c.why.push(why);
                c.score += score;
            }
        }
        None => out.push(Candidate {
            diagnosis: d,
            why: vec![why],
            score,
        }),
    }
}

/// Evidence that the normalised text `hay` is, or holds, the known text `known`: it contains it whole,
/// or it is a long-enough fragment of it. Returns the reason and its score.
fn text_evidence(hay: &str, known: &str) -> Option<(String, usize)> {
    let kn = normalise(known);
    if contains_phrase(hay, &kn) {
        return Some((format!("contains the known text {known:?}"), weight(&kn)));
    }
    if long_enough(hay) && kn.contains(hay) {
        return Some((
            format!(
                "is a fragment ({} of {} weight units) of {known:?}",
                weight(hay),
                weight(&kn)
            ),
            weight(hay),
        ));
    }
    None
}

/// Is `fragment` (normalised) long enough to be recognised as a piece of a known message?
pub fn long_enough(fragment: &str) -> bool {
    let cjk = fragment.chars().any(is_cjk);
    weight(fragment) >= MIN_FRAGMENT_WEIGHT
        && (cjk || fragment.split(' ').count() >= MIN_FRAGMENT_WORDS)
}

/// Every diagnosis `text` can mean, best first, each with why it matched; empty when nothing fits.
///
/// ```
/// use egresslab::check::taxonomy::paste::candidates;
/// let found = candidates("エラー 809");
/// assert_eq!(found[0].diagnosis.code, "vpn.ike_blocked");
/// assert!(candidates("error").is_empty());
/// ```
pub fn candidates(text: &str) -> Vec<Candidate> {
    let trimmed = text.trim();
    if let Some(d) = lookup(trimmed) {
        return vec![Candidate {
            diagnosis: d,
            why: vec![format!("is the diagnosis code {}", d.code)],
            score: usize::MAX / 2,
        }];
    }
    let hay = normalise(trimmed);
    if hay.is_empty() {
        return Vec::new();
    }
    let tokens: Vec<&str> = hay.split(' ').collect();
    let found_numbers = numbers(&tokens);
    let mut out = Vec::new();
    for d in &taxonomy().entries {
        // "0x800B0109" and "800B0109" are one number: count it once per diagnosis
        let mut numbers_seen: Vec<&str> = Vec::new();
        for m in &d.matches {
            let mn = normalise(m);
            if mn == hay {
                add(&mut out, d, format!("is {m:?}"), weight(&mn) + 10);
                continue;
            }
            let numeric = is_number(&mn) || is_long_hex(&mn);
            if numeric {
                let bare = mn.strip_prefix("0x").unwrap_or(&mn);
                for (n, why) in &found_numbers {
                    let n_bare = n.strip_prefix("0x").unwrap_or(n);
                    if n_bare == bare && !numbers_seen.contains(&n_bare) {
                        numbers_seen.push(n_bare);
                        add(
                            &mut out,
                            d,
                            format!("error number {m} ({why})"),
                            weight(&mn) + 10,
                        );
                    }
                }
            } else if mn.contains(' ') || mn.len() >= 4 {
                if let Some((why, score)) = text_evidence(&hay, m) {
                    add(&mut out, d, why, score);
                }
            }
        }
        for p in d.phrases.iter().chain(&d.patterns) {
            if let Some((why, score)) = text_evidence(&hay, p) {
                add(&mut out, d, why, score);
            }
        }
    }
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then(a.diagnosis.code.cmp(&b.diagnosis.code))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_text_is_matched_without_panicking(s in "\\PC{0,300}") {
            for c in candidates(&s) {
                proptest::prop_assert!(!c.why.is_empty());
            }
        }
    }

    #[test]
    fn normalisation_folds_case_quotes_punctuation_and_width() {
        assert_eq!(
            normalise("Error: 'The registration request was denied.'"),
            "error the registration request was denied"
        );
        assert_eq!(normalise("エラー809"), "エラー 809");
        assert_eq!(normalise("ＥＲＲＯＲ　８０９"), "error 809");
        assert_eq!(
            normalise("ローカル コンピューターと VPN サーバー"),
            "ローカルコンピューターと vpn サーバー"
        );
        assert_eq!(normalise("HTTP/1.1 407"), "http 1 1 407");
    }

    #[test]
    fn the_threshold_counts_cjk_double() {
        assert!(!long_enough("make sure you"));
        assert!(long_enough("the registration request was denied"));
        assert!(long_enough(&normalise("IKE で有効なコンピューター証明書")));
        assert!(!long_enough(&normalise("証明書")));
    }

    #[test]
    fn numbers_need_context() {
        assert!(candidates("I waited 407 seconds").is_empty());
        assert_eq!(
            candidates("HTTP/1.1 407 whatever")[0].diagnosis.code,
            "proxy.auth_required"
        );
    }
}
