//! Characters that are not seen but change what is seen: Unicode's format characters (general
//! category Cf) — bidi overrides and isolates that reverse text (U+202A–U+202E, U+2066–U+2069),
//! zero-width spaces, the byte-order mark, soft hyphens, invisible operators, tags. In a name
//! that reaches the public policy or an e-mail address they spoof what a reader sees ("gnp.exe"
//! shown as "exe.png"), so free texts refuse them. The zero-width joiner and non-joiner are
//! kept between two non-ASCII characters, where scripts such as Persian and Devanagari and emoji
//! sequences need them; between ASCII letters they only hide a difference.

/// Unicode's Cf ranges (UnicodeData.txt, Unicode 16.0), inclusive.
const FORMAT_CHARACTERS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

const ZERO_WIDTH_NON_JOINER: char = '\u{200C}';
const ZERO_WIDTH_JOINER: char = '\u{200D}';

fn is_format(c: char) -> bool {
    FORMAT_CHARACTERS
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

/// A character that can join two others: not ASCII, not a space, not itself invisible.
fn joinable(c: Option<char>) -> bool {
    c.is_some_and(|c| !c.is_ascii() && !c.is_whitespace() && !is_format(c))
}

/// The first control or hidden format character in `s`, if any.
pub fn first_hidden(s: &str) -> Option<char> {
    let chars: Vec<char> = s.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        let joiner = c == ZERO_WIDTH_JOINER || c == ZERO_WIDTH_NON_JOINER;
        let hidden = if joiner {
            let before = i.checked_sub(1).and_then(|j| chars.get(j).copied());
            !(joinable(before) && joinable(chars.get(i + 1).copied()))
        } else {
            c.is_control() || is_format(c)
        };
        hidden.then_some(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_zero_width_characters_are_found() {
        for s in [
            "Invoice\u{202E}gnp.exe",
            "a\u{202A}b",
            "a\u{2066}b\u{2069}",
            "pay\u{200B}pal",
            "pay\u{200D}pal",
            "pay\u{200C}pal",
            "\u{200D}",
            "\u{FEFF}Name",
            "soft\u{00AD}hyphen",
            "a\u{2060}b",
            "\u{E0041}",
            "nul\u{0}",
            "ℕame\u{200D}",
        ] {
            assert!(first_hidden(s).is_some(), "{s:?}");
        }
    }

    #[test]
    fn joiners_inside_scripts_and_emoji_are_kept() {
        for s in [
            "می\u{200C}خواهم",
            "क्\u{200D}ष",
            "👩\u{200D}💻",
            "Zoë Müller",
            "Aulm Corporation",
        ] {
            assert_eq!(first_hidden(s), None, "{s:?}");
        }
    }
}
