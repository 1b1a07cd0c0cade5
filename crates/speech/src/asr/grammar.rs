//! One JSGF grammar per [`AnswerType`] (`crates/speech/grammars/*.jsgf`, embedded at compile
//! time), each with the shared "repeat" rule (`grammars/repeat.jsgf`) appended.
//!
//! The transcript the recogniser returns is always a sentence of its grammar, spelled as the
//! grammar spells it (lower case; "okay", not "ok"; "pm"; "o'clock"). [`Grammar::accepts`]
//! checks a word sequence against a grammar without audio (a small matcher over the subset of
//! JSGF the files use: rules, alternatives `|`, sequences, optional `[ ]`, groups `( )`, rule
//! references `<name>`), so tests can prove that every phrasing they speak is in the grammar
//! and the recogniser can tell a "repeat" request ([`Grammar::is_repeat`]).

use std::collections::HashMap;

use super::AsrError;
use crate::AnswerType;

/// The name of the shared rule for "say that again" phrases, in every grammar.
pub const REPEAT_RULE: &str = "repeat";

/// The JSGF text of the grammar for `t` (the answer rules plus the repeat rule).
pub fn jsgf(t: AnswerType) -> &'static str {
    macro_rules! g {
        ($f:literal) => {
            concat!(
                include_str!(concat!("../../grammars/", $f)),
                include_str!("../../grammars/repeat.jsgf")
            )
        };
    }
    match t {
        AnswerType::Ok => g!("ok.jsgf"),
        AnswerType::YesNo => g!("yes_no.jsgf"),
        AnswerType::Choice => g!("choice.jsgf"),
        AnswerType::Number => g!("number.jsgf"),
        AnswerType::Date => g!("date.jsgf"),
        AnswerType::Time => g!("time.jsgf"),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Word(String),
    Rule(String),
    Seq(Vec<Expr>),
    Alt(Vec<Expr>),
    Opt(Box<Expr>),
}

/// A parsed grammar, for matching word sequences.
#[derive(Debug, Clone)]
pub struct Grammar {
    name: String,
    public: String,
    rules: HashMap<String, Expr>,
}

/// Largest number of partial matches kept while matching (bounds the work on long inputs).
const MAX_STATES: usize = 100_000;

impl Grammar {
    /// The grammar of an answer type.
    pub fn for_type(t: AnswerType) -> Grammar {
        Grammar::parse(t.as_str(), jsgf(t)).expect("the embedded grammars parse (tested)")
    }

    /// Parses JSGF text in the subset the grammar files use; errors name the line.
    pub fn parse(name: &str, text: &str) -> Result<Grammar, AsrError> {
        let err = |line: usize, why: String| AsrError::Grammar {
            name: name.to_string(),
            why: format!("line {line}: {why}"),
        };
        // Strip comments, keep line numbers for statements.
        let mut statements: Vec<(usize, String)> = Vec::new();
        let mut current = String::new();
        let mut start_line = 1;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split("//").next().unwrap_or("");
            if current.trim().is_empty() {
                start_line = i + 1;
            }
            for c in line.chars() {
                if c == ';' {
                    statements.push((start_line, std::mem::take(&mut current)));
                    start_line = i + 1;
                } else {
                    current.push(c);
                }
            }
            current.push(' ');
        }
        if !current.trim().is_empty() {
            return Err(err(start_line, "statement without ';'".into()));
        }
        let mut rules = HashMap::new();
        let mut public = None;
        for (line, st) in statements {
            let st = st.trim();
            if st.starts_with("#JSGF") || st.starts_with("grammar ") {
                continue;
            }
            let (lhs, rhs) = st
                .split_once('=')
                .ok_or_else(|| err(line, format!("expected a rule, found {st:?}")))?;
            let lhs = lhs.trim();
            let (is_public, lhs) = match lhs.strip_prefix("public") {
                Some(r) => (true, r.trim()),
                None => (false, lhs),
            };
            let rule = lhs
                .strip_prefix('<')
                .and_then(|r| r.strip_suffix('>'))
                .ok_or_else(|| err(line, format!("bad rule name {lhs:?}")))?
                .to_string();
            let tokens = tokenize(rhs).map_err(|w| err(line, w))?;
            let mut pos = 0;
            let expr = parse_alt(&tokens, &mut pos).map_err(|w| err(line, w))?;
            if pos != tokens.len() {
                return Err(err(line, format!("unexpected {:?}", tokens[pos])));
            }
            if is_public {
                if public.is_some() {
                    return Err(err(line, "more than one public rule".into()));
                }
                public = Some(rule.clone());
            }
            if rules.insert(rule.clone(), expr).is_some() {
                return Err(err(line, format!("rule <{rule}> defined twice")));
            }
        }
        let public = public.ok_or_else(|| err(0, "no public rule".into()))?;
        let g = Grammar {
            name: name.to_string(),
            public,
            rules,
        };
        for (rule, e) in &g.rules {
            g.check_refs(e).map_err(|r| AsrError::Grammar {
                name: name.to_string(),
                why: format!("rule <{rule}> refers to undefined <{r}>"),
            })?;
        }
        Ok(g)
    }

    fn check_refs(&self, e: &Expr) -> Result<(), String> {
        match e {
            Expr::Word(_) => Ok(()),
            Expr::Rule(r) => {
                if self.rules.contains_key(r) {
                    Ok(())
                } else {
                    Err(r.clone())
                }
            }
            Expr::Seq(v) | Expr::Alt(v) => v.iter().try_for_each(|x| self.check_refs(x)),
            Expr::Opt(x) => self.check_refs(x),
        }
    }

    /// The grammar's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every word the grammar can produce (for dictionary checks).
    pub fn words(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::Word(w) => out.push(w.clone()),
                Expr::Rule(_) => {}
                Expr::Seq(v) | Expr::Alt(v) => v.iter().for_each(|x| walk(x, out)),
                Expr::Opt(x) => walk(x, out),
            }
        }
        let mut out = Vec::new();
        for e in self.rules.values() {
            walk(e, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether the public rule produces exactly `sentence` (words separated by whitespace).
    pub fn accepts(&self, sentence: &str) -> bool {
        self.rule_accepts(&self.public, sentence)
    }

    /// Whether the "repeat" rule produces exactly `sentence`.
    pub fn is_repeat(&self, sentence: &str) -> bool {
        self.rules.contains_key(REPEAT_RULE) && self.rule_accepts(REPEAT_RULE, sentence)
    }

    /// Whether rule `rule` produces exactly `sentence`.
    pub fn rule_accepts(&self, rule: &str, sentence: &str) -> bool {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        let Some(e) = self.rules.get(rule) else {
            return false;
        };
        let ends = self.match_expr(e, &words, vec![0], 0);
        ends.contains(&words.len())
    }

    /// All positions reachable after matching `e` from each of `starts`.
    fn match_expr(&self, e: &Expr, words: &[&str], starts: Vec<usize>, depth: usize) -> Vec<usize> {
        if depth > 64 || starts.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<usize> = match e {
            Expr::Word(w) => starts
                .into_iter()
                .filter(|&p| words.get(p) == Some(&w.as_str()))
                .map(|p| p + 1)
                .collect(),
            Expr::Rule(r) => match self.rules.get(r) {
                Some(x) => self.match_expr(x, words, starts, depth + 1),
                None => Vec::new(),
            },
            Expr::Seq(v) => {
                let mut cur = starts;
                for x in v {
                    cur = self.match_expr(x, words, cur, depth + 1);
                    if cur.is_empty() {
                        break;
                    }
                }
                cur
            }
            Expr::Alt(v) => {
                let mut all = Vec::new();
                for x in v {
                    all.extend(self.match_expr(x, words, starts.clone(), depth + 1));
                }
                all
            }
            Expr::Opt(x) => {
                let mut all = starts.clone();
                all.extend(self.match_expr(x, words, starts, depth + 1));
                all
            }
        };
        out.sort_unstable();
        out.dedup();
        out.truncate(MAX_STATES);
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Rule(String),
    Bar,
    LParen,
    RParen,
    LBracket,
    RBracket,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '|' => {
                chars.next();
                out.push(Tok::Bar);
            }
            '(' => {
                chars.next();
                out.push(Tok::LParen);
            }
            ')' => {
                chars.next();
                out.push(Tok::RParen);
            }
            '[' => {
                chars.next();
                out.push(Tok::LBracket);
            }
            ']' => {
                chars.next();
                out.push(Tok::RBracket);
            }
            '<' => {
                chars.next();
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('>') => break,
                        Some(c) => name.push(c),
                        None => return Err(format!("unterminated rule reference <{name}")),
                    }
                }
                out.push(Tok::Rule(name));
            }
            c if c.is_ascii_lowercase() || c == '\'' => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_lowercase() || c == '\'' {
                        w.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Word(w));
            }
            c => {
                return Err(format!(
                    "unsupported character {c:?} (this subset has no weights, tags or repeats)"
                ))
            }
        }
    }
    Ok(out)
}

fn parse_alt(t: &[Tok], pos: &mut usize) -> Result<Expr, String> {
    let mut alts = vec![parse_seq(t, pos)?];
    while t.get(*pos) == Some(&Tok::Bar) {
        *pos += 1;
        alts.push(parse_seq(t, pos)?);
    }
    Ok(if alts.len() == 1 {
        alts.pop().expect("one")
    } else {
        Expr::Alt(alts)
    })
}

fn parse_seq(t: &[Tok], pos: &mut usize) -> Result<Expr, String> {
    let mut items = Vec::new();
    loop {
        match t.get(*pos) {
            Some(Tok::Word(w)) => {
                items.push(Expr::Word(w.clone()));
                *pos += 1;
            }
            Some(Tok::Rule(r)) => {
                items.push(Expr::Rule(r.clone()));
                *pos += 1;
            }
            Some(Tok::LParen) => {
                *pos += 1;
                let e = parse_alt(t, pos)?;
                if t.get(*pos) != Some(&Tok::RParen) {
                    return Err("missing ')'".into());
                }
                *pos += 1;
                items.push(e);
            }
            Some(Tok::LBracket) => {
                *pos += 1;
                let e = parse_alt(t, pos)?;
                if t.get(*pos) != Some(&Tok::RBracket) {
                    return Err("missing ']'".into());
                }
                *pos += 1;
                items.push(Expr::Opt(Box::new(e)));
            }
            _ => break,
        }
    }
    if items.is_empty() {
        return Err("empty alternative".into());
    }
    Ok(if items.len() == 1 {
        items.pop().expect("one")
    } else {
        Expr::Seq(items)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grammar_parses_and_has_repeat() {
        for t in AnswerType::ALL {
            let g = Grammar::for_type(t);
            assert!(g.is_repeat("repeat that"), "{t}");
            assert!(g.accepts("say that again please"), "{t}");
            assert!(!g.accepts("banana"), "{t}");
            assert!(!g.is_repeat("banana"), "{t}");
        }
    }

    #[test]
    fn matcher_follows_optional_and_groups() {
        let g = Grammar::parse(
            "t",
            "#JSGF V1.0; grammar t; public <a> = [the] (b | c d) [e]; <unused> = x;",
        )
        .unwrap();
        for ok in ["b", "the b", "c d", "the c d e", "b e"] {
            assert!(g.accepts(ok), "{ok}");
        }
        for no in ["", "the", "c", "d", "b b", "e"] {
            assert!(!g.accepts(no), "{no}");
        }
        let e = Grammar::parse("t", "public <a> = <b>;").unwrap_err();
        assert!(e.to_string().contains("undefined <b>"), "{e}");
        let e = Grammar::parse("t", "public <a> = x /2/;").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
