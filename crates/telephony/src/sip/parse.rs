//! The SIP message parser: start line, header lines (via `ezk-sip-types`' pull parser, which
//! joins folded lines), typed headers, body framing by Content-Length.

use ezk_sip_types::host::HostPort;
use ezk_sip_types::msg::PullParser;
use ezk_sip_types::Name;

use super::error::ParseError;
use super::message::{
    is_token_char, CSeq, Header, Message, Method, NameAddr, Param, Request, Response, StartLine,
    Via,
};
use super::uri::{Host, Uri};

/// Largest message accepted: a UDP datagram's payload limit. Larger messages are refused
/// with 513 (the TCP decoder has its own limit, [`super::StreamDecoder::new`]).
pub const MAX_MESSAGE_SIZE: usize = 65_535;

/// Most header lines accepted in one message (a guard against header floods; RFC 4475's
/// longest torture message has 45).
pub const MAX_HEADERS: usize = 256;

/// Parses one datagram (RFC 3261 §18.3): the body is Content-Length bytes (bytes after it
/// are ignored), or everything after the header section when Content-Length is absent.
/// A Content-Length larger than what arrived is an error.
pub fn parse_datagram(bytes: &[u8]) -> Result<Message, ParseError> {
    parse_message(bytes, false)
}

/// Index just past the empty line ending the header section, after any leading CRLFs.
pub(crate) fn head_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'\n' {
            if bytes[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if bytes[i + 1] == b'\r' && bytes.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// Parses a complete message. With `require_length` (stream transports) Content-Length
/// must be present.
pub(crate) fn parse_message(bytes: &[u8], require_length: bool) -> Result<Message, ParseError> {
    if bytes.len() > MAX_MESSAGE_SIZE {
        return Err(ParseError::TooLarge {
            size: bytes.len(),
            limit: MAX_MESSAGE_SIZE,
        });
    }
    let skip = bytes
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(bytes.len());
    let bytes = &bytes[skip..];
    let end = head_end(bytes).ok_or(ParseError::NoHeaderEnd)?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|e| ParseError::NotUtf8 {
        offset: skip + e.valid_up_to(),
    })?;
    let mut lines = PullParser::new(head.as_bytes(), 0);
    let first = match lines.next() {
        Some(Ok(l)) => unfold(l),
        _ => return Err(ParseError::StartLine("empty message".into())),
    };
    let start = parse_start_line(&first)?;
    let mut b = Builder::default();
    let mut count = 0;
    for line in lines {
        let line = line.map_err(|_| ParseError::NoHeaderEnd)?;
        count += 1;
        if count > MAX_HEADERS {
            return Err(ParseError::TooManyHeaders { limit: MAX_HEADERS });
        }
        let line = unfold(line);
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError::bad(line.trim(), "header line without a colon"))?;
        let name = name.trim_end_matches([' ', '\t']);
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(ParseError::bad(name, "header name is not a token"));
        }
        b.add(name, value.trim())?;
    }
    let body_avail = &bytes[end..];
    let body = match b.content_length {
        Some(n) if n > body_avail.len() => {
            return Err(ParseError::BodyTooShort {
                declared: n,
                available: body_avail.len(),
            })
        }
        Some(n) => body_avail[..n].to_vec(),
        None if require_length => return Err(ParseError::Missing("Content-Length")),
        None => body_avail.to_vec(),
    };
    b.finish(start, body)
}

/// Joins a folded header line: CRLF (or LF) followed by whitespace becomes one space.
fn unfold(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    if !s.contains('\n') {
        return s.into_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' || c == '\n' {
            while matches!(chars.peek(), Some('\r' | '\n' | ' ' | '\t')) {
                chars.next();
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let (version, rest) = rest
            .split_once(' ')
            .ok_or_else(|| ParseError::StartLine(format!("{line:?} has no status code")))?;
        if version != "2.0" {
            return Err(ParseError::Version(format!("SIP/{version}")));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code_ok = code.len() == 3 && code.chars().all(|c| c.is_ascii_digit());
        let code: u16 = if code_ok {
            code.parse().unwrap_or(0)
        } else {
            0
        };
        if !(100..=699).contains(&code) {
            return Err(ParseError::StartLine(format!(
                "status code {:?} is not three digits in 100..=699",
                rest.split(' ').next().unwrap_or("")
            )));
        }
        return Ok(StartLine::Response(Response {
            code,
            reason: reason.to_string(),
        }));
    }
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(ParseError::StartLine(format!(
            "{line:?} is not `Method SP Request-URI SP SIP-Version`"
        )));
    }
    let (method, uri, version) = (parts[0], parts[1], parts[2]);
    if !method.chars().all(is_token_char) {
        return Err(ParseError::StartLine(format!(
            "method {method:?} is not a token"
        )));
    }
    if version != "SIP/2.0" {
        if version.starts_with("SIP/") {
            return Err(ParseError::Version(version.to_string()));
        }
        return Err(ParseError::StartLine(format!(
            "{version:?} is not a SIP version"
        )));
    }
    let uri = Uri::parse(uri).map_err(ParseError::RequestUri)?;
    if let Uri::Sip(u) = &uri {
        if !u.headers.is_empty() {
            return Err(ParseError::RequestUri(
                "a Request-URI cannot carry URI headers".into(),
            ));
        }
    }
    Ok(StartLine::Request(Request {
        method: Method::from_token(method),
        uri,
    }))
}

/// Splits a header value at commas outside quotes and angle brackets.
fn split_commas<'a>(value: &'a str, header: &str) -> Result<Vec<&'a str>, ParseError> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => angle = true,
            '>' => angle = false,
            ',' if !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(ParseError::bad(header, "unterminated quoted string"));
    }
    out.push(value[start..].trim());
    if out.iter().any(|v| v.is_empty()) {
        return Err(ParseError::bad(
            header,
            "empty value in a comma-separated list",
        ));
    }
    Ok(out)
}

/// Parses a quoted string at the start of `s`; returns (unescaped content, rest).
fn quoted_string<'a>(s: &'a str, header: &str) -> Result<(String, &'a str), ParseError> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            '"' => return Ok((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    Err(ParseError::bad(header, "unterminated quoted string"))
}

fn ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// Parses `*( SEMI generic-param )`, LWS allowed around `;` and `=`.
fn parse_params(mut s: &str, header: &str) -> Result<Vec<Param>, ParseError> {
    let mut out = Vec::new();
    loop {
        s = ws(s);
        if s.is_empty() {
            return Ok(out);
        }
        s = s.strip_prefix(';').ok_or_else(|| {
            ParseError::bad(header, format!("unexpected {s:?} before parameters"))
        })?;
        s = ws(s);
        let n = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
        if n == 0 {
            return Err(ParseError::bad(header, "empty parameter"));
        }
        let name = s[..n].to_string();
        s = ws(&s[n..]);
        let mut value = None;
        if let Some(rest) = s.strip_prefix('=') {
            let rest = ws(rest);
            if rest.starts_with('"') {
                let (v, r) = quoted_string(rest, header)?;
                value = Some(v);
                s = r;
            } else {
                let n = rest
                    .find([';', ',', '"', '<', '>', ' ', '\t'])
                    .unwrap_or(rest.len());
                if n == 0 {
                    return Err(ParseError::bad(
                        header,
                        format!("parameter {name} has no value"),
                    ));
                }
                value = Some(rest[..n].to_string());
                s = &rest[n..];
            }
        }
        out.push(Param { name, value });
    }
}

/// Parses a name-addr (`"Display" <uri>;params`, `token token <uri>`) or an addr-spec
/// (`uri;params`, where the URI may not contain `;`, `,` or `?`).
pub(crate) fn parse_name_addr(s: &str, header: &str) -> Result<NameAddr, ParseError> {
    let s = s.trim();
    let bad_uri = |e: String| ParseError::bad(header, e);
    let (display, rest) = if s.starts_with('"') {
        let (d, rest) = quoted_string(s, header)?;
        let rest = ws(rest);
        if !rest.starts_with('<') {
            return Err(ParseError::bad(
                header,
                "a quoted display name must be followed by <URI>",
            ));
        }
        (Some(d), rest)
    } else if let Some(lt) = s.find('<') {
        let prefix = &s[..lt];
        if prefix
            .chars()
            .all(|c| is_token_char(c) || c == ' ' || c == '\t')
        {
            let d = prefix.trim();
            (
                if d.is_empty() {
                    None
                } else {
                    Some(d.to_string())
                },
                &s[lt..],
            )
        } else if prefix.contains(':') && !prefix.contains(' ') {
            return addr_spec(s, header);
        } else {
            return Err(ParseError::bad(
                header,
                format!(
                    "display name {:?} must be tokens or a quoted string",
                    prefix.trim()
                ),
            ));
        }
    } else {
        return addr_spec(s, header);
    };
    let inner = &rest[1..];
    let gt = inner
        .find('>')
        .ok_or_else(|| ParseError::bad(header, "missing '>'"))?;
    let uri = Uri::parse(&inner[..gt]).map_err(bad_uri)?;
    let params = parse_params(&inner[gt + 1..], header)?;
    Ok(NameAddr {
        display,
        uri,
        params,
    })
}

fn addr_spec(s: &str, header: &str) -> Result<NameAddr, ParseError> {
    let end = s.find(';').unwrap_or(s.len());
    let uri_text = s[..end].trim_end();
    if uri_text.contains(['?', ',']) {
        return Err(ParseError::bad(
            header,
            "a URI with headers or commas must be written in <...>",
        ));
    }
    let uri = Uri::parse(uri_text).map_err(|e| ParseError::bad(header, e))?;
    let params = parse_params(&s[end..], header)?;
    Ok(NameAddr {
        display: None,
        uri,
        params,
    })
}

/// Parses one Via value: `SIP / 2.0 / transport sent-by *(; param)`.
pub(crate) fn parse_via(s: &str) -> Result<Via, ParseError> {
    let bad = |r: String| ParseError::bad("Via", r);
    let mut rest = s;
    for expect in ["SIP", "/", "2.0", "/"] {
        rest = ws(rest);
        rest = rest
            .strip_prefix(expect)
            .ok_or_else(|| bad(format!("expected {expect:?} in sent-protocol of {s:?}")))?;
    }
    rest = ws(rest);
    let n = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
    if n == 0 {
        return Err(bad(format!("no transport in {s:?}")));
    }
    let transport = rest[..n].to_ascii_uppercase();
    rest = &rest[n..];
    if !rest.starts_with([' ', '\t']) {
        return Err(bad(format!("no sent-by in {s:?}")));
    }
    rest = ws(rest);
    let end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
    let hp: HostPort = rest[..end]
        .parse()
        .map_err(|_| bad(format!("sent-by {:?} is not host[:port]", &rest[..end])))?;
    let params = parse_params(&rest[end..], "Via")?;
    for p in &params {
        let v = p.value.as_deref();
        match p.name.to_ascii_lowercase().as_str() {
            "branch" if v.is_none_or(str::is_empty) => {
                return Err(bad("branch parameter without a value".into()))
            }
            "ttl" if v.and_then(|v| v.parse::<u8>().ok()).is_none() => {
                return Err(bad("ttl is not 0..=255".into()))
            }
            "rport" if v.is_some_and(|v| v.parse::<u16>().is_err()) => {
                return Err(bad("rport is not a port".into()))
            }
            _ => {}
        }
    }
    Ok(Via {
        transport,
        host: Host::from_ezk(&hp.host),
        port: hp.port,
        params,
    })
}

#[derive(Default)]
struct Builder {
    via: Vec<Via>,
    from: Option<NameAddr>,
    to: Option<NameAddr>,
    call_id: Option<String>,
    cseq: Option<CSeq>,
    max_forwards: Option<u8>,
    contact: Vec<NameAddr>,
    route: Vec<NameAddr>,
    record_route: Vec<NameAddr>,
    content_type: Option<String>,
    content_length: Option<usize>,
    other: Vec<Header>,
}

fn once<T>(slot: &mut Option<T>, v: T, name: &'static str) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError::Duplicate(name));
    }
    *slot = Some(v);
    Ok(())
}

fn digits<T: std::str::FromStr>(
    v: &str,
    header: &'static str,
    what: &str,
) -> Result<T, ParseError> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
        return Err(ParseError::bad(
            header,
            format!("{what} {v:?} is not a number"),
        ));
    }
    v.parse()
        .map_err(|_| ParseError::bad(header, format!("{what} {v:?} is out of range")))
}

impl Builder {
    fn add(&mut self, raw_name: &str, value: &str) -> Result<(), ParseError> {
        let name = Name::from(raw_name.to_string());
        let canonical = name.as_print_str().to_string();
        match canonical.as_str() {
            "Via" => {
                for v in split_commas(value, "Via")? {
                    self.via.push(parse_via(v)?);
                }
            }
            "From" => once(&mut self.from, parse_name_addr(value, "From")?, "From")?,
            "To" => once(&mut self.to, parse_name_addr(value, "To")?, "To")?,
            "Call-ID" => {
                if value.is_empty() || value.contains([' ', '\t']) {
                    return Err(ParseError::bad(
                        "Call-ID",
                        format!("{value:?} is not a word[@word]"),
                    ));
                }
                once(&mut self.call_id, value.to_string(), "Call-ID")?
            }
            "CSeq" => {
                let mut it = value.split([' ', '\t']).filter(|s| !s.is_empty());
                let (seq, method) = match (it.next(), it.next(), it.next()) {
                    (Some(s), Some(m), None) => (s, m),
                    _ => {
                        return Err(ParseError::bad(
                            "CSeq",
                            format!("{value:?} is not `number method`"),
                        ))
                    }
                };
                let seq: u32 = digits(seq, "CSeq", "sequence number")?;
                if !method.chars().all(is_token_char) {
                    return Err(ParseError::bad(
                        "CSeq",
                        format!("method {method:?} is not a token"),
                    ));
                }
                let cseq = CSeq {
                    seq,
                    method: Method::from_token(method),
                };
                once(&mut self.cseq, cseq, "CSeq")?
            }
            "Max-Forwards" => {
                let mf: u8 = digits(value, "Max-Forwards", "value")?;
                once(&mut self.max_forwards, mf, "Max-Forwards")?
            }
            "Content-Length" => {
                let n: usize = digits(value, "Content-Length", "value")?;
                once(&mut self.content_length, n, "Content-Length")?
            }
            "Content-Type" => {
                if !value.contains('/') {
                    return Err(ParseError::bad(
                        "Content-Type",
                        format!("{value:?} is not type/subtype"),
                    ));
                }
                once(&mut self.content_type, value.to_string(), "Content-Type")?
            }
            "Contact" if value != "*" => {
                for v in split_commas(value, "Contact")? {
                    self.contact.push(parse_name_addr(v, "Contact")?);
                }
            }
            "Route" => {
                for v in split_commas(value, "Route")? {
                    self.route.push(parse_name_addr(v, "Route")?);
                }
            }
            "Record-Route" => {
                for v in split_commas(value, "Record-Route")? {
                    self.record_route.push(parse_name_addr(v, "Record-Route")?);
                }
            }
            _ => self.other.push(Header {
                name: canonical,
                value: value.to_string(),
            }),
        }
        Ok(())
    }

    fn finish(self, start: StartLine, body: Vec<u8>) -> Result<Message, ParseError> {
        if self.via.is_empty() {
            return Err(ParseError::Missing("Via"));
        }
        let from = self.from.ok_or(ParseError::Missing("From"))?;
        let to = self.to.ok_or(ParseError::Missing("To"))?;
        let call_id = self.call_id.ok_or(ParseError::Missing("Call-ID"))?;
        let cseq = self.cseq.ok_or(ParseError::Missing("CSeq"))?;
        if let StartLine::Request(r) = &start {
            if r.method != cseq.method {
                return Err(ParseError::bad(
                    "CSeq",
                    format!(
                        "method {} does not match the request's {}",
                        cseq.method, r.method
                    ),
                ));
            }
        }
        Ok(Message {
            start,
            via: self.via,
            from,
            to,
            call_id,
            cseq,
            max_forwards: self.max_forwards,
            contact: self.contact,
            route: self.route,
            record_route: self.record_route,
            content_type: self.content_type,
            other: self.other,
            body,
        })
    }
}
