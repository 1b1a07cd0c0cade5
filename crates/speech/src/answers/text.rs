//! Turning a transcript into tokens, and the phrase lists every answer type shares: hesitations,
//! politeness, lead-ins ("I think it's …") and repeat requests.

/// Hesitation sounds dropped wherever they occur ("um, twenty five").
pub(crate) const HESITATIONS: &[&str] = &[
    "um", "umm", "ummm", "uh", "uhh", "uhm", "er", "erm", "err", "hmm", "hm", "hmmm", "ah", "ahh",
    "eh", "mmm",
];

/// Discourse openers dropped at the very start of an answer ("well, tomorrow", "oh, seven").
pub(crate) const OPENERS: &[&str] = &[
    "well",
    "so",
    "oh",
    "let me see",
    "let me think",
    "let's see",
    "hold on",
    "hang on",
];

/// Acknowledgements dropped at the start of a number, choice, date or time answer
/// ("yes, the second one", "okay twenty five").
pub(crate) const LEADING_ACKS: &[&str] = &["ok", "okay", "alright", "all right", "yes", "yeah"];

/// Politeness dropped anywhere in a number, choice, date or time answer.
pub(crate) const POLITENESS: &[&str] = &["please", "thank you", "thanks", "sir", "ma'am", "madam"];

/// Lead-ins shared by the number, choice, date and time answers, dropped at the start
/// (repeatedly: "um I think it's …").
pub(crate) const LEAD_INS: &[&str] = &[
    "i think it's",
    "i think it is",
    "i think",
    "i guess it's",
    "i guess",
    "i believe it's",
    "i believe",
    "i'd say",
    "i would say",
    "i say",
    "i said",
    "i'll say",
    "let's say",
    "let's go with",
    "i'll go with",
    "go with",
    "it's",
    "it is",
    "its",
    "that's",
    "that is",
    "that would be",
    "that'll be",
    "it would be",
    "it'd be",
    "it will be",
    "it'll be",
    "my answer is",
    "the answer is",
    "how about",
    "what about",
    "make it",
];

/// Tails dropped at the end of a number, choice, date or time answer ("… I think").
pub(crate) const TAILS: &[&str] = &["i think", "i guess", "i believe", "i suppose"];

/// Phrases that ask for the question again wherever they occur in the answer.
pub(crate) const REPEAT_ANYWHERE: &[&str] = &[
    "repeat",
    "repeated",
    "pardon",
    "say that again",
    "say it again",
    "say again",
    "come again",
    "one more time",
    "once more",
    "didn't hear",
    "did not hear",
    "couldn't hear",
    "could not hear",
    "can't hear",
    "cannot hear",
    "didn't catch",
    "did not catch",
    "didn't get that",
    "did not get that",
    "missed that",
    "what did you say",
    "what was that",
    "what was the question",
    "what's the question",
    "what is the question",
    "what did you ask",
    "what are the options",
    "what were the options",
    "what are my options",
    "what are the choices",
    "what were the choices",
];

/// Utterances that ask for the question again only when they are the whole answer
/// ("what?", "sorry?"): inside a longer answer they mean something else.
pub(crate) const REPEAT_WHOLE: &[&str] = &[
    "what",
    "sorry",
    "sorry what",
    "what sorry",
    "excuse me",
    "excuse me what",
    "huh",
    "again",
    "sorry say that",
    "i'm sorry",
    "i'm sorry what",
];

/// Words that commonly surround a repeat request ("can you repeat the question please"):
/// listed for grammars, the parser needs only the request itself.
pub(crate) const REPEAT_CARRIERS: &[&str] = &[
    "can", "could", "would", "will", "you", "please", "the", "question", "that", "it", "me", "i",
    "options", "choices", "message", "again",
];

/// The longest transcript (characters) the parsers look at; longer input is no match.
pub const MAX_TRANSCRIPT_CHARS: usize = 500;

/// Lowercase word tokens of a transcript. Keeps apostrophes inside words ("don't",
/// "o'clock"), decimal points, colons, slashes and dashes between digits ("3.5", "15:30",
/// "12/25", "2027-06-03"), a leading minus on digits ("-15"); drops thousands separators
/// ("1,234"); spells "a.m.", "p.m.", "o.k." as "am", "pm", "ok"; splits "3pm" into "3" "pm";
/// everything else is a separator.
pub fn tokenize(input: &str) -> Vec<String> {
    let mut s: String = input
        .chars()
        .map(|c| match c {
            '\u{2019}' | '\u{2018}' | '`' | '\u{b4}' => '\'',
            c => c,
        })
        .collect::<String>()
        .to_lowercase();
    for (from, to) in [
        ("a.m.", " am "),
        ("p.m.", " pm "),
        ("o.k.", " ok "),
        ("a.m", " am "),
        ("p.m", " pm "),
        ("o.k", " ok "),
    ] {
        s = s.replace(from, to);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let digit_at = |i: usize| chars.get(i).is_some_and(|c| c.is_ascii_digit());
    let alpha_at = |i: usize| chars.get(i).is_some_and(|c| c.is_alphabetic());
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            cur.push(c);
            continue;
        }
        let prev_digit = i > 0 && digit_at(i - 1);
        let prev_alpha = i > 0 && alpha_at(i - 1);
        match c {
            '\'' if prev_alpha && alpha_at(i + 1) => cur.push(c),
            '.' | ':' | '/' | '-' if prev_digit && digit_at(i + 1) => cur.push(c),
            '-' if cur.is_empty() && digit_at(i + 1) => cur.push(c),
            ',' if prev_digit
                && (1..=3).all(|k| digit_at(i + k))
                && !digit_at(i + 4)
                && !cur.is_empty() => {}
            _ => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut out = Vec::with_capacity(tokens.len());
    for t in tokens {
        if t == "oclock" {
            out.push("o'clock".to_string());
            continue;
        }
        // "3pm", "10am", "7p" → number + suffix.
        let split = t
            .char_indices()
            .find(|(_, c)| c.is_alphabetic())
            .map(|(i, _)| i)
            .filter(|&i| i > 0 && t[..i].chars().all(|c| c.is_ascii_digit() || c == ':'));
        match split {
            Some(i) if matches!(&t[i..], "am" | "pm" | "a" | "p") => {
                out.push(t[..i].to_string());
                out.push(if t[i..].starts_with('a') { "am" } else { "pm" }.to_string());
            }
            _ => out.push(t),
        }
    }
    out
}

/// Whether `tokens[i..]` starts with the words of `phrase`.
pub(crate) fn matches_at(tokens: &[&str], i: usize, phrase: &str) -> bool {
    phrase
        .split(' ')
        .enumerate()
        .all(|(k, w)| tokens.get(i + k) == Some(&w))
}

/// The number of words of `phrase`.
pub(crate) fn phrase_len(phrase: &str) -> usize {
    phrase.split(' ').count()
}

/// Whether `tokens` contains `phrase` anywhere.
pub(crate) fn contains_phrase(tokens: &[&str], phrase: &str) -> bool {
    (0..tokens.len()).any(|i| matches_at(tokens, i, phrase))
}

/// Whether the whole of `tokens` is `phrase`.
pub(crate) fn is_phrase(tokens: &[&str], phrase: &str) -> bool {
    phrase_len(phrase) == tokens.len() && matches_at(tokens, 0, phrase)
}

/// `tokens` without any occurrence of the phrases in `list`.
pub(crate) fn remove_phrases<'a>(tokens: &[&'a str], list: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    'outer: while i < tokens.len() {
        for p in list {
            if matches_at(tokens, i, p) {
                i += phrase_len(p);
                continue 'outer;
            }
        }
        out.push(tokens[i]);
        i += 1;
    }
    out
}

/// `tokens` with leading phrases of `list` removed, repeatedly (longest first wins).
pub(crate) fn strip_prefixes<'t, 'a>(mut tokens: &'t [&'a str], list: &[&str]) -> &'t [&'a str] {
    loop {
        let best = list
            .iter()
            .filter(|p| matches_at(tokens, 0, p))
            .map(|p| phrase_len(p))
            .max();
        match best {
            Some(n) if n < tokens.len() => tokens = &tokens[n..],
            _ => return tokens,
        }
    }
}

/// `tokens` with trailing phrases of `list` removed, repeatedly.
pub(crate) fn strip_suffixes<'t, 'a>(mut tokens: &'t [&'a str], list: &[&str]) -> &'t [&'a str] {
    loop {
        let best = list
            .iter()
            .filter(|p| {
                let n = phrase_len(p);
                n < tokens.len() && matches_at(tokens, tokens.len() - n, p)
            })
            .map(|p| phrase_len(p))
            .max();
        match best {
            Some(n) => tokens = &tokens[..tokens.len() - n],
            None => return tokens,
        }
    }
}

/// `tokens` without hesitations (all but `keep`) and without a leading opener.
pub(crate) fn drop_hesitations<'a>(tokens: &[&'a str], keep: &[&str]) -> Vec<&'a str> {
    let kept: Vec<&str> = tokens
        .iter()
        .copied()
        .filter(|t| !HESITATIONS.contains(t) || keep.contains(t))
        .collect();
    let openers: Vec<&str> = OPENERS
        .iter()
        .copied()
        .filter(|o| !keep.contains(o))
        .collect();
    strip_prefixes(&kept, &openers).to_vec()
}

/// Whether the answer asks for the question again.
pub(crate) fn is_repeat(tokens: &[&str]) -> bool {
    let core = remove_phrases(tokens, POLITENESS);
    REPEAT_ANYWHERE.iter().any(|p| contains_phrase(&core, p))
        || REPEAT_WHOLE.iter().any(|p| is_phrase(&core, p))
}

/// The clean-up shared by the strict types (number, choice, date, time): politeness dropped
/// anywhere, a leading acknowledgement and any lead-ins and tails dropped.
pub(crate) fn strict_core<'a>(tokens: &[&'a str], extra_lead_ins: &[&str]) -> Vec<&'a str> {
    let t = remove_phrases(tokens, POLITENESS);
    let mut t: &[&str] = strip_prefixes(&t, LEADING_ACKS);
    loop {
        let before = t.len();
        t = strip_prefixes(t, LEAD_INS);
        t = strip_prefixes(t, extra_lead_ins);
        t = strip_prefixes(t, HESITATIONS);
        if t.len() == before {
            break;
        }
    }
    strip_suffixes(t, TAILS).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_keeps_numbers_and_contractions() {
        assert_eq!(
            tokenize("Um, I don't know—it's 3.5? O.K.!"),
            ["um", "i", "don't", "know", "it's", "3.5", "ok"]
        );
        assert_eq!(
            tokenize("1,234 and 15:30, 12/25"),
            ["1234", "and", "15:30", "12/25"]
        );
        assert_eq!(
            tokenize("3pm 10 a.m. -15 twenty-five"),
            ["3", "pm", "10", "am", "-15", "twenty", "five"]
        );
        assert_eq!(tokenize("five o’clock"), ["five", "o'clock"]);
        assert_eq!(tokenize("2027-06-03"), ["2027-06-03"]);
        assert_eq!(tokenize("a, b"), ["a", "b"]);
        assert_eq!(
            tokenize("in two weeks' time"),
            ["in", "two", "weeks", "time"]
        );
    }

    #[test]
    fn repeat_requests_are_found() {
        let t = |s: &str| {
            let v = tokenize(s);
            is_repeat(&v.iter().map(String::as_str).collect::<Vec<_>>())
        };
        assert!(t("Can you repeat the question?"));
        assert!(t("sorry?"));
        assert!(t("what"));
        assert!(!t("what about friday"));
        assert!(!t("sorry, no"));
    }
}
