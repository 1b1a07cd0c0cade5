//! The SSML subset prompts are written in: parsing, validation and normalisation.
//!
//! Accepted (SSML 1.1 names, as Amazon Connect / Polly prompts use them — the Callouts prompts
//! are SSML inside `<speak>`, `../shared/SEEDS.md` §3):
//!
//! | element | attributes | rendering |
//! |---|---|---|
//! | `speak` | `version`, `xmlns`, `xmlns:*`, `xml:lang`, `xml:base` (ignored) | the root; required |
//! | `break` | `time` (`500ms`, `1.5s`, ≤ [`MAX_BREAK_MS`]), `strength` (`none` … `x-strong`) | silence |
//! | `say-as` | `interpret-as` = `digits`, `characters`/`spell-out`, `date` (`format` = `mdy`, `dmy`, `ymd`, `md`, `dm`, `ym`, `my`, `d`, `m`, `y`), `telephone`, `cardinal`/`number`, `ordinal` | text normalised to words here |
//! | `prosody` | `rate`, `pitch`, `volume` (keywords, `N%`, `+N%`/`-N%`; volume also `±NdB`; pitch also `±Nst`) | a [`Style`] |
//! | `emphasis` | `level` = `strong`, `moderate` (default), `reduced`, `none` | a [`Style`] |
//! | `p`, `s` | — | a pause after the paragraph / sentence |
//! | `sub` | `alias` (required) | the alias is spoken instead of the content |
//!
//! `xml:lang` is accepted (and ignored) on every element. Anything else — another element, an
//! attribute not in the table, a bad value, a DOCTYPE or CDATA section, an unknown entity —
//! is an [`SsmlError`] naming the element or attribute and the **byte offset** in the input.
//! Comments and an `<?xml …?>` declaration are skipped.
//!
//! [`parse`] gives a [`Document`]: a tree in which every `say-as` is already spoken words (or
//! a [`Node::Characters`] run); [`Document::segments`] flattens it into speech runs with their
//! style and explicit silences, and [`Document::to_espeak_ssml`] writes the canonical SSML that
//! espeak-ng's own SSML mode reads (see [`crate::tts::espeak`] for which one is used).

use std::fmt::Write as _;

use crate::tts::words as numbers;

/// Longest SSML document accepted, bytes.
pub const MAX_SSML_BYTES: usize = 64 * 1024;
/// Longest `break`, ms (Amazon Polly's limit too).
pub const MAX_BREAK_MS: u32 = 10_000;
/// Deepest element nesting accepted.
pub const MAX_DEPTH: usize = 32;
/// Silence after a `</s>`, ms (a `medium` break).
pub const SENTENCE_PAUSE_MS: u32 = 400;
/// Silence after a `</p>`, ms (a `strong` break).
pub const PARAGRAPH_PAUSE_MS: u32 = 700;

/// What is wrong with an SSML document. Every variant names the byte offset in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsmlError {
    /// Longer than [`MAX_SSML_BYTES`].
    #[error("SSML is {len} bytes; at most {max} are accepted")]
    TooLong {
        /// Input length.
        len: usize,
        /// [`MAX_SSML_BYTES`].
        max: usize,
    },
    /// Not well-formed XML (or a construct the parser refuses, e.g. CDATA).
    #[error("SSML syntax error at byte {offset}: {why}")]
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        why: String,
    },
    /// An element outside the subset.
    #[error("unsupported SSML element <{name}> at byte {offset} (supported: speak, break, say-as, prosody, emphasis, p, s, sub)")]
    UnknownElement {
        /// The element name as written.
        name: String,
        /// Byte offset of its `<`.
        offset: usize,
    },
    /// An attribute the element does not take.
    #[error("unsupported attribute {attr:?} on <{element}> at byte {offset}")]
    UnknownAttribute {
        /// The element.
        element: String,
        /// The attribute name as written.
        attr: String,
        /// Byte offset of the attribute name.
        offset: usize,
    },
    /// A required attribute is missing.
    #[error("<{element}> at byte {offset} needs the attribute {attr:?}")]
    MissingAttribute {
        /// The element.
        element: String,
        /// The attribute.
        attr: &'static str,
        /// Byte offset of the element's `<`.
        offset: usize,
    },
    /// An attribute or content value that does not parse.
    #[error("bad {what} {value:?} at byte {offset}: {why}")]
    BadValue {
        /// What the value is (`break/@time`, `say-as date`…).
        what: String,
        /// The value as written.
        value: String,
        /// Byte offset of the value.
        offset: usize,
        /// Why it is refused.
        why: String,
    },
}

fn syntax(offset: usize, why: impl Into<String>) -> SsmlError {
    SsmlError::Syntax {
        offset,
        why: why.into(),
    }
}

fn bad(what: &str, value: &str, offset: usize, why: impl Into<String>) -> SsmlError {
    SsmlError::BadValue {
        what: what.to_string(),
        value: value.to_string(),
        offset,
        why: why.into(),
    }
}

/// Emphasis levels (`emphasis/@level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmphasisLevel {
    /// `strong`.
    Strong,
    /// `moderate` (the default).
    Moderate,
    /// `none`.
    None,
    /// `reduced`.
    Reduced,
}

/// Prosody changes relative to the surrounding speech (1.0 = unchanged).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProsodyChange {
    /// Speaking-rate factor (0.5 = half speed).
    pub rate: f32,
    /// Pitch factor.
    pub pitch: f32,
    /// Amplitude factor (0 = silent).
    pub volume: f32,
}

impl Default for ProsodyChange {
    fn default() -> Self {
        ProsodyChange {
            rate: 1.0,
            pitch: 1.0,
            volume: 1.0,
        }
    }
}

/// The style of a run of speech: the product of the enclosing `prosody` and `emphasis`
/// changes, plus the innermost emphasis level.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Style {
    /// Combined prosody factors.
    pub prosody: ProsodyChange,
    /// Innermost emphasis, if any.
    pub emphasis: Option<EmphasisLevel>,
}

/// Lowest and highest prosody factors accepted (keeps the engine inside its range).
pub const PROSODY_FACTOR_RANGE: (f32, f32) = (0.2, 4.0);

impl EmphasisLevel {
    /// The prosody change a segment renderer applies for this level.
    pub fn change(self) -> ProsodyChange {
        match self {
            EmphasisLevel::Strong => ProsodyChange {
                rate: 0.8,
                pitch: 1.15,
                volume: 1.4,
            },
            EmphasisLevel::Moderate => ProsodyChange {
                rate: 0.9,
                pitch: 1.08,
                volume: 1.2,
            },
            EmphasisLevel::None => ProsodyChange::default(),
            EmphasisLevel::Reduced => ProsodyChange {
                rate: 1.1,
                pitch: 0.95,
                volume: 0.8,
            },
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            EmphasisLevel::Strong => "strong",
            EmphasisLevel::Moderate => "moderate",
            EmphasisLevel::None => "none",
            EmphasisLevel::Reduced => "reduced",
        }
    }
}

/// A node of a parsed document (the content of `<speak>`).
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Words to speak (entities decoded; `say-as` digits, dates, telephone numbers, cardinals,
    /// ordinals and `sub` aliases already turned into words).
    Text(String),
    /// `say-as interpret-as="characters"`: read letter by letter.
    Characters(String),
    /// Silence, ms.
    Break(u32),
    /// `prosody`.
    Prosody(ProsodyChange, Vec<Node>),
    /// `emphasis`.
    Emphasis(EmphasisLevel, Vec<Node>),
    /// `p`: a pause of [`PARAGRAPH_PAUSE_MS`] follows.
    Paragraph(Vec<Node>),
    /// `s`: a pause of [`SENTENCE_PAUSE_MS`] follows.
    Sentence(Vec<Node>),
}

/// A parsed, validated SSML document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The children of `<speak>`.
    pub nodes: Vec<Node>,
}

/// A piece of a flattened document.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Speech in one style. `characters` marks a letter-by-letter run.
    Speech {
        /// What to say.
        text: String,
        /// Read letter by letter (`say-as characters`).
        characters: bool,
        /// Its style.
        style: Style,
    },
    /// Silence, ms (consecutive silences are merged).
    Silence(u32),
}

impl Document {
    /// Speech runs with their style, and silences; whitespace-only runs are dropped and
    /// adjacent silences summed.
    pub fn segments(&self) -> Vec<Segment> {
        let mut raw = Vec::new();
        flatten(&self.nodes, Style::default(), &mut raw);
        // 1. Join adjacent runs of one style as written (a run ends at every element edge).
        let mut joined: Vec<Segment> = Vec::with_capacity(raw.len());
        for seg in raw {
            if let (
                Some(Segment::Speech {
                    text: prev,
                    characters: pc,
                    style: ps,
                }),
                Segment::Speech {
                    text,
                    characters,
                    style,
                },
            ) = (joined.last_mut(), &seg)
            {
                if pc == characters && ps == style {
                    prev.push_str(text);
                    continue;
                }
            }
            joined.push(seg);
        }
        // 2. Collapse whitespace, drop empty runs, merge what became adjacent.
        let mut merged: Vec<Segment> = Vec::with_capacity(joined.len());
        for seg in joined {
            match seg {
                Segment::Speech {
                    text,
                    characters,
                    style,
                } => {
                    let t = collapse_ws(&text);
                    if t.is_empty() {
                        continue;
                    }
                    if let Some(Segment::Speech {
                        text: prev,
                        characters: pc,
                        style: ps,
                    }) = merged.last_mut()
                    {
                        if *pc == characters && *ps == style {
                            prev.push(' ');
                            prev.push_str(&t);
                            continue;
                        }
                    }
                    merged.push(Segment::Speech {
                        text: t,
                        characters,
                        style,
                    });
                }
                Segment::Silence(ms) => {
                    if ms == 0 {
                        continue;
                    }
                    if let Some(Segment::Silence(prev)) = merged.last_mut() {
                        *prev += ms;
                    } else {
                        merged.push(Segment::Silence(ms));
                    }
                }
            }
        }
        merged
    }

    /// The document as the SSML espeak-ng's SSML mode reads: `say-as` other than characters
    /// already in words, prosody as percentages (espeak-ng ignores dB), breaks in ms, text
    /// escaped.
    pub fn to_espeak_ssml(&self) -> String {
        let mut s = String::from("<speak>");
        write_espeak(&self.nodes, &mut s);
        s.push_str("</speak>");
        s
    }

    /// The words of the document without markup (silences as spaces): what a listener hears,
    /// for logs and traces.
    pub fn plain_text(&self) -> String {
        let parts: Vec<String> = self
            .segments()
            .into_iter()
            .filter_map(|s| match s {
                Segment::Speech { text, .. } => Some(text),
                Segment::Silence(_) => None,
            })
            .collect();
        parts.join(" ")
    }
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn combine(a: ProsodyChange, b: ProsodyChange) -> ProsodyChange {
    ProsodyChange {
        rate: a.rate * b.rate,
        pitch: a.pitch * b.pitch,
        volume: a.volume * b.volume,
    }
}

fn flatten(nodes: &[Node], style: Style, out: &mut Vec<Segment>) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push(Segment::Speech {
                text: t.clone(),
                characters: false,
                style,
            }),
            Node::Characters(t) => out.push(Segment::Speech {
                text: t.clone(),
                characters: true,
                style,
            }),
            Node::Break(ms) => out.push(Segment::Silence(*ms)),
            Node::Prosody(p, kids) => flatten(
                kids,
                Style {
                    prosody: combine(style.prosody, *p),
                    ..style
                },
                out,
            ),
            Node::Emphasis(level, kids) => flatten(
                kids,
                Style {
                    prosody: combine(style.prosody, level.change()),
                    emphasis: Some(*level),
                },
                out,
            ),
            Node::Paragraph(kids) => {
                flatten(kids, style, out);
                out.push(Segment::Silence(PARAGRAPH_PAUSE_MS));
            }
            Node::Sentence(kids) => {
                flatten(kids, style, out);
                out.push(Segment::Silence(SENTENCE_PAUSE_MS));
            }
        }
    }
}

/// Escapes `&`, `<`, `>` and quotes for XML text and attribute values.
pub fn escape_xml(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

fn pct(f: f32) -> u32 {
    (f * 100.0).round() as u32
}

fn write_espeak(nodes: &[Node], s: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => escape_xml(t, s),
            Node::Characters(t) => {
                s.push_str("<say-as interpret-as=\"characters\">");
                escape_xml(t, s);
                s.push_str("</say-as>");
            }
            Node::Break(ms) => {
                let _ = write!(s, "<break time=\"{ms}ms\"/>");
            }
            Node::Prosody(p, kids) => {
                let _ = write!(
                    s,
                    "<prosody rate=\"{}%\" pitch=\"{}%\" volume=\"{}%\">",
                    pct(p.rate),
                    pct(p.pitch),
                    pct(p.volume)
                );
                write_espeak(kids, s);
                s.push_str("</prosody>");
            }
            Node::Emphasis(level, kids) => {
                let _ = write!(s, "<emphasis level=\"{}\">", level.as_str());
                write_espeak(kids, s);
                s.push_str("</emphasis>");
            }
            Node::Paragraph(kids) => {
                s.push_str("<p>");
                write_espeak(kids, s);
                s.push_str("</p>");
            }
            Node::Sentence(kids) => {
                s.push_str("<s>");
                write_espeak(kids, s);
                s.push_str("</s>");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

struct Attr {
    name: String,
    name_at: usize,
    value: String,
    value_at: usize,
}

enum Token {
    Start {
        name: String,
        at: usize,
        attrs: Vec<Attr>,
        empty: bool,
    },
    End {
        name: String,
        at: usize,
    },
    Text {
        text: String,
        at: usize,
    },
}

struct Lexer<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_name_char(c: u8) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == b'-' || c == b'.'
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Self {
        Lexer {
            s,
            b: s.as_bytes(),
            i: 0,
        }
    }

    fn skip_ws(&mut self) {
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn name(&mut self) -> Result<String, SsmlError> {
        let start = self.i;
        if self.i >= self.b.len() || !is_name_start(self.b[self.i]) {
            return Err(syntax(self.i, "expected a name"));
        }
        while self.i < self.b.len() && is_name_char(self.b[self.i]) {
            self.i += 1;
        }
        Ok(self.s[start..self.i].to_string())
    }

    fn next(&mut self) -> Result<Option<Token>, SsmlError> {
        loop {
            if self.i >= self.b.len() {
                return Ok(None);
            }
            let at = self.i;
            if self.b[at] != b'<' {
                let end = self.s[at..].find('<').map_or(self.b.len(), |k| at + k);
                let text = decode_entities(&self.s[at..end], at)?;
                self.i = end;
                return Ok(Some(Token::Text { text, at }));
            }
            let rest = &self.s[at..];
            if rest.starts_with("<!--") {
                let end = rest
                    .find("-->")
                    .ok_or_else(|| syntax(at, "unterminated comment"))?;
                self.i = at + end + 3;
                continue;
            }
            if rest.starts_with("<?") {
                let end = rest
                    .find("?>")
                    .ok_or_else(|| syntax(at, "unterminated processing instruction"))?;
                self.i = at + end + 2;
                continue;
            }
            if rest.starts_with("<![CDATA[") {
                return Err(syntax(at, "CDATA sections are not supported"));
            }
            if rest.starts_with("<!") {
                return Err(syntax(
                    at,
                    "DOCTYPE and other declarations are not supported",
                ));
            }
            if rest.starts_with("</") {
                self.i = at + 2;
                let name = self.name()?;
                self.skip_ws();
                if self.b.get(self.i) != Some(&b'>') {
                    return Err(syntax(self.i, format!("expected '>' to close </{name}")));
                }
                self.i += 1;
                return Ok(Some(Token::End { name, at }));
            }
            self.i = at + 1;
            let name = self.name()?;
            let mut attrs: Vec<Attr> = Vec::new();
            loop {
                let before_ws = self.i;
                self.skip_ws();
                match self.b.get(self.i) {
                    None => return Err(syntax(at, format!("unterminated tag <{name}"))),
                    Some(b'>') => {
                        self.i += 1;
                        return Ok(Some(Token::Start {
                            name,
                            at,
                            attrs,
                            empty: false,
                        }));
                    }
                    Some(b'/') => {
                        if self.b.get(self.i + 1) != Some(&b'>') {
                            return Err(syntax(self.i, "expected '/>'"));
                        }
                        self.i += 2;
                        return Ok(Some(Token::Start {
                            name,
                            at,
                            attrs,
                            empty: true,
                        }));
                    }
                    Some(_) => {
                        if self.i == before_ws {
                            return Err(syntax(self.i, "expected whitespace before an attribute"));
                        }
                        let name_at = self.i;
                        let aname = self.name()?;
                        self.skip_ws();
                        if self.b.get(self.i) != Some(&b'=') {
                            return Err(syntax(
                                self.i,
                                format!("expected '=' after attribute {aname}"),
                            ));
                        }
                        self.i += 1;
                        self.skip_ws();
                        let q = match self.b.get(self.i) {
                            Some(&q @ (b'"' | b'\'')) => q,
                            _ => {
                                return Err(syntax(
                                    self.i,
                                    format!("the value of {aname} must be quoted"),
                                ))
                            }
                        };
                        let value_at = self.i + 1;
                        let close = self.s[value_at..]
                            .find(q as char)
                            .ok_or_else(|| syntax(value_at - 1, "unterminated attribute value"))?;
                        let raw = &self.s[value_at..value_at + close];
                        if let Some(k) = raw.find('<') {
                            return Err(syntax(value_at + k, "'<' inside an attribute value"));
                        }
                        let value = decode_entities(raw, value_at)?;
                        self.i = value_at + close + 1;
                        if attrs.iter().any(|a| a.name == aname) {
                            return Err(syntax(name_at, format!("duplicate attribute {aname}")));
                        }
                        attrs.push(Attr {
                            name: aname,
                            name_at,
                            value,
                            value_at,
                        });
                    }
                }
            }
        }
    }
}

fn decode_entities(raw: &str, at: usize) -> Result<String, SsmlError> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    let mut pos = at;
    while let Some(k) = rest.find('&') {
        out.push_str(&rest[..k]);
        let amp = pos + k;
        let after = &rest[k + 1..];
        let semi = after
            .find(';')
            .filter(|&j| j <= 10)
            .ok_or_else(|| syntax(amp, "'&' must start an entity such as &amp;"))?;
        let ent = &after[..semi];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                u32::from_str_radix(&ent[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| syntax(amp, format!("bad character reference &{ent};")))?
            }
            _ if ent.starts_with('#') => ent[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| syntax(amp, format!("bad character reference &{ent};")))?,
            _ => return Err(syntax(amp, format!("unknown entity &{ent};"))),
        };
        out.push(c);
        let consumed = k + 1 + semi + 1;
        rest = &rest[consumed..];
        pos += consumed;
    }
    out.push_str(rest);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Tree building and validation

/// Attributes every element may carry and that are ignored.
fn ignorable(attr: &str) -> bool {
    attr == "xml:lang"
}

struct Open {
    kind: Kind,
    name: String,
    at: usize,
    kids: Vec<Node>,
    /// For say-as / sub: the collected text and where it started.
    text: String,
    text_at: Option<usize>,
}

#[derive(Clone)]
enum Kind {
    Speak,
    Prosody(ProsodyChange),
    Emphasis(EmphasisLevel),
    Paragraph,
    Sentence,
    SayAs {
        interpret: Interpret,
        format: Option<(String, usize)>,
    },
    Sub(String),
    Break(u32),
}

#[derive(Clone, Copy, PartialEq)]
enum Interpret {
    Digits,
    Characters,
    Date,
    Telephone,
    Cardinal,
    Ordinal,
}

fn check_attrs(
    element: &str,
    attrs: &[Attr],
    allowed: &[&str],
    extra_ok: impl Fn(&str) -> bool,
) -> Result<(), SsmlError> {
    for a in attrs {
        if !(allowed.contains(&a.name.as_str()) || ignorable(&a.name) || extra_ok(&a.name)) {
            return Err(SsmlError::UnknownAttribute {
                element: element.to_string(),
                attr: a.name.clone(),
                offset: a.name_at,
            });
        }
    }
    Ok(())
}

fn attr<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name == name)
}

/// Parses and validates `input` (must be one `<speak>` element); see the module docs.
pub fn parse(input: &str) -> Result<Document, SsmlError> {
    if input.len() > MAX_SSML_BYTES {
        return Err(SsmlError::TooLong {
            len: input.len(),
            max: MAX_SSML_BYTES,
        });
    }
    let mut lx = Lexer::new(input);
    let mut stack: Vec<Open> = Vec::new();
    let mut done: Option<Vec<Node>> = None;
    while let Some(tok) = lx.next()? {
        match tok {
            Token::Text { text, at } => {
                let Some(top) = stack.last_mut() else {
                    if text.trim().is_empty() {
                        continue;
                    }
                    let k = text.len() - text.trim_start().len();
                    let what = if done.is_some() { "after" } else { "before" };
                    return Err(syntax(at + k, format!("text {what} the <speak> element")));
                };
                match top.kind {
                    Kind::SayAs { .. } | Kind::Sub(_) => {
                        if top.text_at.is_none() {
                            top.text_at = Some(at);
                        }
                        top.text.push_str(&text);
                    }
                    Kind::Break(_) => unreachable!("break is never left open"),
                    _ => top.kids.push(Node::Text(text)),
                }
            }
            Token::Start {
                name,
                at,
                attrs,
                empty,
            } => {
                if done.is_some() {
                    return Err(syntax(at, format!("<{name}> after the <speak> element")));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(syntax(at, format!("elements nest deeper than {MAX_DEPTH}")));
                }
                if stack.is_empty() && name != "speak" {
                    return Err(syntax(
                        at,
                        format!("the root element must be <speak>, not <{name}>"),
                    ));
                }
                if let Some(top) = stack.last() {
                    if matches!(top.kind, Kind::SayAs { .. } | Kind::Sub(_)) {
                        return Err(syntax(
                            at,
                            format!("<{}> may hold only text, not <{name}>", top.name),
                        ));
                    }
                }
                let kind = start_kind(&name, at, &attrs, stack.is_empty())?;
                if let Kind::Break(ms) = kind {
                    if !empty {
                        // `<break ...></break>` is accepted; content is not.
                        match lx.next()? {
                            Some(Token::End { name: n, .. }) if n == "break" => {}
                            Some(Token::Text { at, .. })
                            | Some(Token::Start { at, .. })
                            | Some(Token::End { at, .. }) => {
                                return Err(syntax(at, "<break> must be empty"));
                            }
                            None => return Err(syntax(at, "unterminated <break>")),
                        }
                    }
                    stack
                        .last_mut()
                        .expect("break is never the root")
                        .kids
                        .push(Node::Break(ms));
                    continue;
                }
                let open = Open {
                    kind,
                    name,
                    at,
                    kids: Vec::new(),
                    text: String::new(),
                    text_at: None,
                };
                if empty {
                    close(open, &mut stack, &mut done)?;
                } else {
                    stack.push(open);
                }
            }
            Token::End { name, at } => {
                let Some(top) = stack.pop() else {
                    return Err(syntax(at, format!("</{name}> without an open element")));
                };
                if top.name != name {
                    return Err(syntax(
                        at,
                        format!("</{name}> closes <{}> opened at byte {}", top.name, top.at),
                    ));
                }
                close(top, &mut stack, &mut done)?;
            }
        }
    }
    if let Some(top) = stack.last() {
        return Err(syntax(
            input.len(),
            format!("<{}> opened at byte {} is not closed", top.name, top.at),
        ));
    }
    match done {
        Some(nodes) => Ok(Document { nodes }),
        None => Err(syntax(0, "no <speak> element")),
    }
}

fn start_kind(name: &str, at: usize, attrs: &[Attr], root: bool) -> Result<Kind, SsmlError> {
    let none = |_: &str| false;
    Ok(match name {
        "speak" => {
            if !root {
                return Err(syntax(at, "<speak> inside <speak>"));
            }
            check_attrs(name, attrs, &["version", "xmlns", "xml:base"], |a| {
                a.starts_with("xmlns:")
            })?;
            Kind::Speak
        }
        "break" => {
            check_attrs(name, attrs, &["time", "strength"], none)?;
            let ms = match (attr(attrs, "time"), attr(attrs, "strength")) {
                (Some(t), _) => parse_time(&t.value, t.value_at)?,
                (None, Some(s)) => strength_ms(&s.value, s.value_at)?,
                (None, None) => strength_ms("medium", at)?,
            };
            Kind::Break(ms)
        }
        "prosody" => {
            check_attrs(name, attrs, &["rate", "pitch", "volume"], none)?;
            let mut p = ProsodyChange::default();
            if let Some(a) = attr(attrs, "rate") {
                p.rate = parse_rate(&a.value, a.value_at)?;
            }
            if let Some(a) = attr(attrs, "pitch") {
                p.pitch = parse_pitch(&a.value, a.value_at)?;
            }
            if let Some(a) = attr(attrs, "volume") {
                p.volume = parse_volume(&a.value, a.value_at)?;
            }
            Kind::Prosody(p)
        }
        "emphasis" => {
            check_attrs(name, attrs, &["level"], none)?;
            let level = match attr(attrs, "level") {
                None => EmphasisLevel::Moderate,
                Some(a) => match a.value.as_str() {
                    "strong" => EmphasisLevel::Strong,
                    "moderate" => EmphasisLevel::Moderate,
                    "none" => EmphasisLevel::None,
                    "reduced" => EmphasisLevel::Reduced,
                    v => {
                        return Err(bad(
                            "emphasis/@level",
                            v,
                            a.value_at,
                            "expected strong, moderate, none or reduced",
                        ))
                    }
                },
            };
            Kind::Emphasis(level)
        }
        "p" | "s" => {
            check_attrs(name, attrs, &[], none)?;
            if name == "p" {
                Kind::Paragraph
            } else {
                Kind::Sentence
            }
        }
        "sub" => {
            check_attrs(name, attrs, &["alias"], none)?;
            let alias = attr(attrs, "alias").ok_or(SsmlError::MissingAttribute {
                element: name.to_string(),
                attr: "alias",
                offset: at,
            })?;
            Kind::Sub(alias.value.clone())
        }
        "say-as" => {
            check_attrs(name, attrs, &["interpret-as", "format", "detail"], none)?;
            let ia = attr(attrs, "interpret-as").ok_or(SsmlError::MissingAttribute {
                element: name.to_string(),
                attr: "interpret-as",
                offset: at,
            })?;
            let interpret = match ia.value.as_str() {
                "digits" => Interpret::Digits,
                "characters" | "spell-out" => Interpret::Characters,
                "date" => Interpret::Date,
                "telephone" => Interpret::Telephone,
                "cardinal" | "number" => Interpret::Cardinal,
                "ordinal" => Interpret::Ordinal,
                v => return Err(bad(
                    "say-as/@interpret-as",
                    v,
                    ia.value_at,
                    "expected digits, characters, spell-out, date, telephone, cardinal, number or ordinal",
                )),
            };
            let format = attr(attrs, "format").map(|a| (a.value.clone(), a.value_at));
            if format.is_some() && interpret != Interpret::Date {
                let a = attr(attrs, "format").expect("checked");
                return Err(SsmlError::UnknownAttribute {
                    element: name.to_string(),
                    attr: "format".into(),
                    offset: a.name_at,
                });
            }
            Kind::SayAs { interpret, format }
        }
        _ => {
            return Err(SsmlError::UnknownElement {
                name: name.to_string(),
                offset: at,
            })
        }
    })
}

fn close(open: Open, stack: &mut [Open], done: &mut Option<Vec<Node>>) -> Result<(), SsmlError> {
    let node = match open.kind {
        Kind::Speak => {
            *done = Some(open.kids);
            return Ok(());
        }
        Kind::Prosody(p) => Node::Prosody(p, open.kids),
        Kind::Emphasis(l) => Node::Emphasis(l, open.kids),
        Kind::Paragraph => Node::Paragraph(open.kids),
        Kind::Sentence => Node::Sentence(open.kids),
        Kind::Sub(alias) => Node::Text(alias),
        Kind::SayAs { interpret, format } => {
            let at = open.text_at.unwrap_or(open.at);
            say_as(interpret, format, &open.text, at)?
        }
        Kind::Break(_) => unreachable!("break is closed where it is opened"),
    };
    stack
        .last_mut()
        .expect("every element but speak has a parent")
        .kids
        .push(node);
    Ok(())
}

fn parse_number(s: &str) -> Option<f64> {
    let v: f64 = s.parse().ok()?;
    v.is_finite().then_some(v)
}

fn parse_time(v: &str, at: usize) -> Result<u32, SsmlError> {
    let t = v.trim();
    let ms = if let Some(n) = t.strip_suffix("ms") {
        parse_number(n)
    } else if let Some(n) = t.strip_suffix('s') {
        parse_number(n).map(|s| s * 1000.0)
    } else {
        None
    }
    .ok_or_else(|| {
        bad(
            "break/@time",
            v,
            at,
            "expected a time such as 500ms or 1.5s",
        )
    })?;
    if !(0.0..=MAX_BREAK_MS as f64).contains(&ms) {
        return Err(bad(
            "break/@time",
            v,
            at,
            format!("must be between 0 and {MAX_BREAK_MS} ms"),
        ));
    }
    Ok(ms.round() as u32)
}

fn strength_ms(v: &str, at: usize) -> Result<u32, SsmlError> {
    Ok(match v {
        "none" => 0,
        "x-weak" => 100,
        "weak" => 200,
        "medium" => SENTENCE_PAUSE_MS,
        "strong" => PARAGRAPH_PAUSE_MS,
        "x-strong" => 1200,
        _ => {
            return Err(bad(
                "break/@strength",
                v,
                at,
                "expected none, x-weak, weak, medium, strong or x-strong",
            ))
        }
    })
}

fn check_factor(what: &str, v: &str, at: usize, f: f64) -> Result<f32, SsmlError> {
    let (lo, hi) = PROSODY_FACTOR_RANGE;
    if !(f >= lo as f64 && f <= hi as f64) {
        return Err(bad(
            what,
            v,
            at,
            format!("the factor {f:.2} is outside {lo}..{hi}"),
        ));
    }
    Ok(f as f32)
}

/// `N%` (of normal), `+N%`/`-N%` (change), or a bare multiplier.
fn percent_factor(t: &str) -> Option<f64> {
    if let Some(p) = t.strip_suffix('%') {
        let relative = p.starts_with('+') || p.starts_with('-');
        let n = parse_number(p)?;
        Some(if relative { 1.0 + n / 100.0 } else { n / 100.0 })
    } else {
        None
    }
}

fn parse_rate(v: &str, at: usize) -> Result<f32, SsmlError> {
    let what = "prosody/@rate";
    let t = v.trim();
    let f = match t {
        "x-slow" => 0.5,
        "slow" => 0.75,
        "medium" | "default" => 1.0,
        "fast" => 1.25,
        "x-fast" => 1.75,
        _ => percent_factor(t)
            .or_else(|| parse_number(t).filter(|n| *n > 0.0))
            .ok_or_else(|| {
                bad(
                    what,
                    v,
                    at,
                    "expected x-slow, slow, medium, fast, x-fast, N%, +N%, -N% or a factor",
                )
            })?,
    };
    check_factor(what, v, at, f)
}

fn parse_pitch(v: &str, at: usize) -> Result<f32, SsmlError> {
    let what = "prosody/@pitch";
    let t = v.trim();
    let f = match t {
        "x-low" => 0.7,
        "low" => 0.85,
        "medium" | "default" => 1.0,
        "high" => 1.15,
        "x-high" => 1.3,
        _ => {
            if let Some(st) = t.strip_suffix("st") {
                let n = parse_number(st)
                    .ok_or_else(|| bad(what, v, at, "expected semitones such as +2st"))?;
                2f64.powf(n / 12.0)
            } else {
                percent_factor(t).ok_or_else(|| {
                    bad(
                        what,
                        v,
                        at,
                        "expected x-low, low, medium, high, x-high, N%, +N%, -N% or ±Nst",
                    )
                })?
            }
        }
    };
    check_factor(what, v, at, f)
}

fn parse_volume(v: &str, at: usize) -> Result<f32, SsmlError> {
    let what = "prosody/@volume";
    let t = v.trim();
    let f = match t {
        "silent" => return Ok(0.0),
        "x-soft" => 0.25,
        "soft" => 0.5,
        "medium" | "default" => 1.0,
        "loud" => 1.5,
        "x-loud" => 2.0,
        _ => {
            if let Some(db) = t.strip_suffix("dB") {
                let n = parse_number(db)
                    .ok_or_else(|| bad(what, v, at, "expected decibels such as +6dB"))?;
                10f64.powf(n / 20.0)
            } else {
                percent_factor(t).ok_or_else(|| {
                    bad(
                        what,
                        v,
                        at,
                        "expected silent, x-soft, soft, medium, loud, x-loud, ±NdB, N% or ±N%",
                    )
                })?
            }
        }
    };
    check_factor(what, v, at, f)
}

// ---------------------------------------------------------------------------------------------
// say-as

fn say_as(
    interpret: Interpret,
    format: Option<(String, usize)>,
    text: &str,
    at: usize,
) -> Result<Node, SsmlError> {
    let t = text.trim();
    let lead = text.len() - text.trim_start().len();
    let at = at + lead;
    if t.is_empty() {
        return Err(bad("say-as content", text, at, "is empty"));
    }
    Ok(match interpret {
        Interpret::Characters => Node::Characters(t.to_string()),
        Interpret::Digits => Node::Text(digit_words(t, at, "say-as digits")?),
        Interpret::Telephone => Node::Text(telephone_words(t, at)?),
        Interpret::Cardinal => {
            let n = parse_int(t, at, "say-as cardinal")?;
            Node::Text(numbers::cardinal(n))
        }
        Interpret::Ordinal => {
            let n = parse_int(t, at, "say-as ordinal")?;
            Node::Text(numbers::ordinal(n))
        }
        Interpret::Date => Node::Text(date_words(t, at, format)?),
    })
}

fn parse_int(t: &str, at: usize, what: &str) -> Result<u64, SsmlError> {
    let cleaned: String = t.chars().filter(|c| *c != ',').collect();
    let n: u64 = cleaned
        .parse()
        .map_err(|_| bad(what, t, at, "expected a whole number"))?;
    if n > numbers::MAX_SPOKEN {
        return Err(bad(
            what,
            t,
            at,
            format!("numbers above {} are not spoken", numbers::MAX_SPOKEN),
        ));
    }
    Ok(n)
}

fn digit_words(t: &str, at: usize, what: &str) -> Result<String, SsmlError> {
    let mut words = Vec::new();
    for (k, c) in t.char_indices() {
        match c {
            '0'..='9' => words.push(numbers::DIGITS[(c as u8 - b'0') as usize]),
            ' ' | '-' | '.' | ',' | '(' | ')' | '/' => {
                if words.last() != Some(&",") && !words.is_empty() {
                    words.push(",");
                }
            }
            _ => {
                return Err(bad(
                    what,
                    t,
                    at + k,
                    format!("{c:?} is not a digit or separator"),
                ))
            }
        }
    }
    if words.last() == Some(&",") {
        words.pop();
    }
    Ok(words.join(" ").replace(" ,", ","))
}

fn telephone_words(t: &str, at: usize) -> Result<String, SsmlError> {
    let (plus, body, body_at) = match t.strip_prefix('+') {
        Some(b) => (true, b, at + 1),
        None => (false, t, at),
    };
    if !body.chars().any(|c| c.is_ascii_digit()) {
        return Err(bad("say-as telephone", t, at, "has no digits"));
    }
    let words = digit_words(body, body_at, "say-as telephone")?;
    Ok(if plus { format!("plus {words}") } else { words })
}

fn date_words(t: &str, at: usize, format: Option<(String, usize)>) -> Result<String, SsmlError> {
    let what = "say-as date";
    let fields: Vec<&str> = t
        .split(['-', '/', '.', ' '])
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty()
        || fields.len() > 3
        || fields
            .iter()
            .any(|f| !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad(
            what,
            t,
            at,
            "expected numeric fields such as 2025-06-03 or 6/3/2025",
        ));
    }
    let (fmt, fmt_at) = match format {
        Some((f, a)) => (f, a),
        None => (
            match fields.len() {
                3 if fields[0].len() == 4 => "ymd".to_string(),
                3 => "mdy".to_string(),
                2 if fields[0].len() == 4 => "ym".to_string(),
                2 => "md".to_string(),
                _ if fields[0].len() == 4 => "y".to_string(),
                _ => "d".to_string(),
            },
            at,
        ),
    };
    let valid_fmt = ["mdy", "dmy", "ymd", "md", "dm", "ym", "my", "d", "m", "y"];
    if !valid_fmt.contains(&fmt.as_str()) {
        return Err(bad(
            "say-as/@format",
            &fmt,
            fmt_at,
            "expected mdy, dmy, ymd, md, dm, ym, my, d, m or y",
        ));
    }
    if fmt.len() != fields.len() {
        return Err(bad(
            what,
            t,
            at,
            format!(
                "format {fmt} needs {} fields, found {}",
                fmt.len(),
                fields.len()
            ),
        ));
    }
    let (mut y, mut m, mut d) = (None, None, None);
    for (c, f) in fmt.chars().zip(&fields) {
        let v: u32 = f.parse().map_err(|_| bad(what, t, at, "field too long"))?;
        match c {
            'y' => y = Some(v),
            'm' => m = Some(v),
            _ => d = Some(v),
        }
    }
    if let Some(m) = m {
        if !(1..=12).contains(&m) {
            return Err(bad(what, t, at, format!("month {m} is not 1..12")));
        }
    }
    if let Some(y) = y {
        if y > 9999 {
            return Err(bad(what, t, at, format!("year {y} is not 0..9999")));
        }
    }
    if let Some(d) = d {
        let max = match (m, y) {
            (Some(m), y) => numbers::days_in_month(m, y),
            (None, _) => 31,
        };
        if !(1..=max).contains(&d) {
            return Err(bad(what, t, at, format!("day {d} is not 1..{max}")));
        }
    }
    let mut words = Vec::new();
    if let Some(m) = m {
        words.push(numbers::MONTHS[m as usize - 1].to_string());
    }
    if let Some(d) = d {
        if m.is_some() {
            words.push(numbers::ordinal(d as u64));
        } else {
            words.push(format!("the {}", numbers::ordinal(d as u64)));
        }
    }
    if let Some(y) = y {
        if !words.is_empty() {
            let last = words.pop().expect("not empty");
            words.push(format!("{last},"));
        }
        words.push(numbers::year(y));
    }
    Ok(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_offsets() {
        assert_eq!(
            decode_entities("a &amp; b &#65;&#x42;", 0).unwrap(),
            "a & b AB"
        );
        let e = decode_entities("x &nope; y", 10).unwrap_err();
        assert_eq!(
            e,
            SsmlError::Syntax {
                offset: 12,
                why: "unknown entity &nope;".into()
            }
        );
    }
}
