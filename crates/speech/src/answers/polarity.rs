//! Yes/no and OK answers: a scan for cue phrases (longest match first) with negation.
//!
//! Each cue is positive ("yes", "that's right", "I do"), negative ("no", "nope"), a negator
//! ("not", "don't", "I'm not") that turns the next positive cue negative (and on its own at the
//! end means no: "no I don't"), or a doubt ("I don't know", "maybe", "not sure") that makes the
//! whole answer no match. Words that are no cue are ignored ("yes I'd like that").
//! Positive and negative cues together ("yes and no", "no, yes") are no match: the caller is
//! asked again rather than guessed at.

use super::text::matches_at;

/// What a cue phrase says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cue {
    Yes,
    No,
    Not,
    Doubt,
}

use Cue::*;

/// Cues shared by yes/no and OK answers.
const SHARED: &[(&str, Cue)] = &[
    // Negators (some longer than the positives they contain: "i do not" beats "i do").
    ("not", Not),
    ("don't", Not),
    ("do not", Not),
    ("doesn't", Not),
    ("does not", Not),
    ("didn't", Not),
    ("did not", Not),
    ("won't", Not),
    ("will not", Not),
    ("wouldn't", Not),
    ("would not", Not),
    ("can't", Not),
    ("cannot", Not),
    ("isn't", Not),
    ("is not", Not),
    ("aren't", Not),
    ("wasn't", Not),
    ("haven't", Not),
    ("hasn't", Not),
    ("i'm not", Not),
    ("i am not", Not),
    ("it's not", Not),
    ("it is not", Not),
    ("that's not", Not),
    ("that is not", Not),
    ("i do not", Not),
    ("i don't", Not),
    ("we don't", Not),
    ("i would not", Not),
    ("i will not", Not),
    ("i have not", Not),
    ("i did not", Not),
    ("i can not", Not),
    ("it does not", Not),
    ("we do not", Not),
    // Plain no.
    ("no", No),
    ("nope", No),
    ("nah", No),
    ("naw", No),
    ("no way", No),
    ("negative", No),
    ("never", No),
    ("not at all", No),
    ("not really", No),
    ("absolutely not", No),
    ("definitely not", No),
    ("certainly not", No),
    ("of course not", No),
    ("nuh uh", No),
    ("no thanks", No),
    ("no thank you", No),
    // Doubt: no match.
    ("i don't know", Doubt),
    ("don't know", Doubt),
    ("i do not know", Doubt),
    ("do not know", Doubt),
    ("dunno", Doubt),
    ("not sure", Doubt),
    ("i'm not sure", Doubt),
    ("i am not sure", Doubt),
    ("not really sure", Doubt),
    ("i'm not certain", Doubt),
    ("not certain", Doubt),
    ("unsure", Doubt),
    ("no idea", Doubt),
    ("no clue", Doubt),
    ("maybe", Doubt),
    ("perhaps", Doubt),
    ("possibly", Doubt),
    ("probably", Doubt),
    ("probably not", Doubt),
    ("it depends", Doubt),
    ("depends", Doubt),
    ("kind of", Doubt),
    ("sort of", Doubt),
    ("kinda", Doubt),
    ("sometimes", Doubt),
    ("hard to say", Doubt),
    ("i don't remember", Doubt),
    ("don't remember", Doubt),
    ("can't remember", Doubt),
    ("no problem", Doubt),
];

/// Positive cues of a yes/no answer.
const YES_NO: &[(&str, Cue)] = &[
    ("yes", Yes),
    ("yeah", Yes),
    ("yea", Yes),
    ("yep", Yes),
    ("yup", Yes),
    ("ya", Yes),
    ("yah", Yes),
    ("yes please", Yes),
    ("aye", Yes),
    ("uh huh", Yes),
    ("mm hmm", Yes),
    ("mhm", Yes),
    ("sure", Yes),
    ("sure thing", Yes),
    ("correct", Yes),
    ("right", Yes),
    ("that's right", Yes),
    ("true", Yes),
    ("absolutely", Yes),
    ("definitely", Yes),
    ("certainly", Yes),
    ("indeed", Yes),
    ("exactly", Yes),
    ("affirmative", Yes),
    ("positive", Yes),
    ("of course", Yes),
    ("agreed", Yes),
    ("i agree", Yes),
    ("i do", Yes),
    ("i am", Yes),
    ("i have", Yes),
    ("i did", Yes),
    ("i will", Yes),
    ("i would", Yes),
    ("i can", Yes),
    ("we do", Yes),
    ("it is", Yes),
    ("it does", Yes),
    ("that is", Yes),
    ("please do", Yes),
    ("go ahead", Yes),
    ("think so", Yes),
    ("believe so", Yes),
    ("guess so", Yes),
    ("sounds good", Yes),
    ("ok", Yes),
    ("okay", Yes),
    ("alright", Yes),
    ("all right", Yes),
    ("fine", Yes),
    ("why not", Yes),
    ("don't mind", Yes),
    ("wouldn't mind", Yes),
    ("i don't mind", Yes),
    ("i do not mind", Yes),
    ("i wouldn't mind", Yes),
    // Negative cues a positive word hides in.
    ("wrong", No),
    ("incorrect", No),
    ("false", No),
];

/// Positive cues of an OK (acknowledgement) answer.
const OK: &[(&str, Cue)] = &[
    ("ok", Yes),
    ("okay", Yes),
    ("okey", Yes),
    ("okey dokey", Yes),
    ("okie dokie", Yes),
    ("o k", Yes),
    ("k", Yes),
    ("kay", Yes),
    ("alright", Yes),
    ("all right", Yes),
    ("got it", Yes),
    ("i got it", Yes),
    ("got that", Yes),
    ("gotcha", Yes),
    ("understood", Yes),
    ("understand", Yes),
    ("i understand", Yes),
    ("i see", Yes),
    ("noted", Yes),
    ("roger", Yes),
    ("roger that", Yes),
    ("copy", Yes),
    ("copy that", Yes),
    ("will do", Yes),
    ("sure", Yes),
    ("fine", Yes),
    ("very well", Yes),
    ("sounds good", Yes),
    ("good", Yes),
    ("great", Yes),
    ("perfect", Yes),
    ("cool", Yes),
    ("thanks", Yes),
    ("thank you", Yes),
    ("yes", Yes),
    ("yeah", Yes),
    ("yep", Yes),
    ("yup", Yes),
    ("uh huh", Yes),
    ("mm hmm", Yes),
    ("of course", Yes),
    ("no problem", Yes),
    ("right", Yes),
];

/// The cue tables for one type, in lookup order (the type's own table overrides shared
/// entries of the same phrase, e.g. "no problem" is an OK).
fn tables(ok: bool) -> [&'static [(&'static str, Cue)]; 2] {
    if ok {
        [OK, SHARED]
    } else {
        [YES_NO, SHARED]
    }
}

/// The verdict of a yes/no scan: `Some(true)` yes, `Some(false)` no, `None` no match.
pub(crate) fn polarity(tokens: &[&str], ok: bool) -> Option<bool> {
    let tables = tables(ok);
    let mut saw_yes = false;
    let mut saw_no = false;
    let mut pending_not = false;
    let mut i = 0;
    while i < tokens.len() {
        let mut best: Option<(usize, Cue)> = None;
        for table in tables {
            for &(phrase, cue) in table {
                let n = phrase.split(' ').count();
                if best.is_none_or(|(m, _)| n > m) && matches_at(tokens, i, phrase) {
                    best = Some((n, cue));
                }
            }
        }
        let Some((n, cue)) = best else {
            i += 1;
            continue;
        };
        match cue {
            Doubt => return None,
            Not => {
                if pending_not {
                    // "not not": too confusing to guess.
                    return None;
                }
                pending_not = true;
            }
            Yes if pending_not => {
                saw_no = true;
                pending_not = false;
            }
            Yes => saw_yes = true,
            No if pending_not => return None,
            No => saw_no = true,
        }
        i += n;
    }
    if pending_not {
        saw_no = true;
    }
    match (saw_yes, saw_no) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

/// Every word of the cue phrases of one type (for [`super::vocabulary`]).
pub(crate) fn words(ok: bool) -> impl Iterator<Item = &'static str> {
    tables(ok)
        .into_iter()
        .flat_map(|t| t.iter())
        .flat_map(|(p, _)| p.split(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yn(s: &str) -> Option<bool> {
        polarity(&s.split(' ').collect::<Vec<_>>(), false)
    }

    #[test]
    fn negation_and_conflicts() {
        assert_eq!(yn("yes i do"), Some(true));
        assert_eq!(yn("no i don't"), Some(false));
        assert_eq!(yn("not yes"), Some(false));
        assert_eq!(yn("that's not right"), Some(false));
        assert_eq!(yn("i don't think so"), Some(false));
        assert_eq!(yn("yes and no"), None);
        assert_eq!(yn("i don't know"), None);
        assert_eq!(yn("i'm not sure"), None);
        assert_eq!(yn("blue"), None);
    }
}
