//! URIs: SIP/SIPS (parsed by `ezk-sip-types`), `tel:` (RFC 3966, ours) and any other
//! absolute URI kept opaque.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ezk_sip_types::host::Host as EzkHost;
use ezk_sip_types::uri::{SipUri as EzkSipUri, SipUriUserPart};

use super::message::Param;

/// A host: name, IPv4 or IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, kept as written (compare case-insensitively).
    Name(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written `[...]`).
    V6(Ipv6Addr),
}

impl Host {
    pub(crate) fn from_ezk(h: &EzkHost) -> Self {
        match h {
            EzkHost::IP4(a) => Host::V4(*a),
            EzkHost::IP6(a) => Host::V6(*a),
            EzkHost::Name(n) => Host::Name(n.to_string()),
        }
    }

    /// Case-insensitive equality (RFC 3261 §19.1.4 compares hosts case-insensitively).
    pub fn eq_ignore_case(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Name(a), Host::Name(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A `sip:` or `sips:` URI with its user part unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// User part, %-escapes decoded (may contain `;`, `@`, even NUL).
    pub user: Option<String>,
    /// Password (deprecated, kept as written).
    pub password: Option<String>,
    /// Host.
    pub host: Host,
    /// Port, when given.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp`, `;lr`, ...), %-escapes decoded once.
    pub params: Vec<Param>,
    /// URI headers (`?Route=...`), %-escapes decoded once.
    pub headers: Vec<Param>,
}

impl SipUri {
    /// A plain `sip:host[:port]` URI.
    pub fn new(host: Host, port: Option<u16>) -> Self {
        SipUri {
            secure: false,
            user: None,
            password: None,
            host,
            port,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The value of URI parameter `name` (case-insensitive); `Some("")` for a flag.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// Builds our URI from ezk's parse (user, host, port) and the original text, whose
    /// parameters and headers we split ourselves (ezk keeps them opaque).
    fn from_ezk(u: &EzkSipUri, text: &str) -> Result<Self, String> {
        let (user, password) = match &u.user_part {
            SipUriUserPart::Empty => (None, None),
            SipUriUserPart::User(user) => (Some(user.to_string()), None),
            SipUriUserPart::UserPw(up) => {
                (Some(up.user.to_string()), Some(up.password.to_string()))
            }
        };
        // A raw '@' only ever ends the userinfo: params and headers cannot contain one.
        let after_scheme = text.find(':').map_or(0, |i| i + 1);
        let host_start = text.find('@').map_or(after_scheme, |i| i + 1);
        let tail = &text[host_start..];
        let (params, headers) = match tail.find([';', '?']) {
            None => ("", ""),
            Some(i) => {
                let rest = &tail[i..];
                match rest.find('?') {
                    Some(q) => (&rest[..q], &rest[q + 1..]),
                    None => (rest, ""),
                }
            }
        };
        let split = |s: &str, sep: char, what: &str| -> Result<Vec<Param>, String> {
            let mut out = Vec::new();
            if s.is_empty() {
                return Ok(out);
            }
            for item in s.split(sep) {
                let (n, v) = match item.split_once('=') {
                    Some((n, v)) => (n, Some(percent_decode(v))),
                    None => (item, None),
                };
                if n.is_empty() {
                    return Err(format!("empty URI {what} name in {text:?}"));
                }
                out.push(Param {
                    name: percent_decode(n),
                    value: v,
                });
            }
            Ok(out)
        };
        Ok(SipUri {
            secure: u.sips,
            user,
            password,
            host: Host::from_ezk(&u.host_port.host),
            port: u.host_port.port,
            params: split(params.strip_prefix(';').unwrap_or(params), ';', "parameter")?,
            headers: split(headers, '&', "header")?,
        })
    }
}

/// Decodes `%HH` escapes once; a `%` not followed by two hex digits stays as written.
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Characters of a SIP user part that need no escaping (RFC 3261 §25.1 `user`).
fn user_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b)
}

/// Characters of a parameter name or value that need no escaping (`paramchar`).
fn param_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:&+$%".contains(&b)
}

fn escape(f: &mut fmt::Formatter<'_>, s: &str, keep: fn(u8) -> bool) -> fmt::Result {
    for &b in s.as_bytes() {
        if keep(b) {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            escape(f, user, user_char)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for p in &self.params {
            f.write_str(";")?;
            escape(f, &p.name, |b| b != b'%' && param_char(b))?;
            if let Some(v) = &p.value {
                f.write_str("=")?;
                escape(f, v, |b| b != b'%' && param_char(b))?;
            }
        }
        for (i, h) in self.headers.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            escape(f, &h.name, |b| {
                b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:+$".contains(&b)
            })?;
            f.write_str("=")?;
            escape(f, h.value.as_deref().unwrap_or(""), |b| {
                b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:+$".contains(&b)
            })?;
        }
        Ok(())
    }
}

/// A `tel:` URI (RFC 3966): a global (`+` E.164) or local number with parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    /// The number as written, visual separators (`-.()`) included.
    pub number: String,
    /// Parameters (`;phone-context=`, `;ext=`, `;isub=`, ...).
    pub params: Vec<Param>,
}

impl TelUri {
    /// `true` for a global number (`+` then digits).
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }

    /// The number without visual separators (`+1-212-555-0101` gives `+12125550101`).
    pub fn digits(&self) -> String {
        self.number
            .chars()
            .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
            .collect()
    }

    /// Parses the part after `tel:`.
    pub fn parse(rest: &str) -> Result<TelUri, String> {
        let mut parts = rest.split(';');
        let number = parts.next().unwrap_or("");
        let visual = |c: char| matches!(c, '-' | '.' | '(' | ')');
        let global = number.strip_prefix('+');
        let ok = match global {
            Some(g) => {
                g.chars().any(|c| c.is_ascii_digit())
                    && g.chars().all(|c| c.is_ascii_digit() || visual(c))
            }
            None => {
                number
                    .chars()
                    .any(|c| c.is_ascii_hexdigit() || c == '*' || c == '#')
                    && number
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || c == '*' || c == '#' || visual(c))
            }
        };
        if !ok {
            return Err(format!(
                "tel: number {number:?} is not a global or local number"
            ));
        }
        let mut params = Vec::new();
        for p in parts {
            let (name, value) = match p.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (p, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(format!("tel: parameter name {name:?} is not valid"));
            }
            params.push(Param {
                name: name.to_string(),
                value,
            });
        }
        if global.is_none()
            && !params
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case("phone-context"))
        {
            return Err("a local tel: number needs a phone-context parameter".into());
        }
        Ok(TelUri {
            number: number.to_string(),
            params,
        })
    }
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}", self.number)?;
        for p in &self.params {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

/// Any URI a SIP message can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` / `sips:`.
    Sip(SipUri),
    /// `tel:`.
    Tel(TelUri),
    /// Another absolute URI (`http:`, `urn:`, ...), kept as written.
    Other {
        /// The scheme, lower-cased.
        scheme: String,
        /// Everything after the colon.
        rest: String,
    },
}

impl Uri {
    /// Parses an absolute URI. Fails on an empty or invalid scheme, on whitespace, and on a
    /// malformed `sip:`/`sips:`/`tel:` URI.
    pub fn parse(s: &str) -> Result<Uri, String> {
        let (scheme, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} has no scheme"))?;
        let mut chars = scheme.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) {
            return Err(format!("{scheme:?} is not a URI scheme"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{s:?} contains whitespace or control characters"));
        }
        let lower = scheme.to_ascii_lowercase();
        match lower.as_str() {
            "sip" | "sips" => {
                let u: EzkSipUri = s
                    .parse()
                    .map_err(|_| format!("{s:?} is not a valid SIP URI"))?;
                Ok(Uri::Sip(SipUri::from_ezk(&u, s)?))
            }
            "tel" => Ok(Uri::Tel(TelUri::parse(rest)?)),
            _ => {
                if rest.is_empty() {
                    return Err(format!("{s:?} has nothing after the scheme"));
                }
                Ok(Uri::Other {
                    scheme: lower,
                    rest: rest.to_string(),
                })
            }
        }
    }

    /// The SIP URI, when this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme (`sip`, `sips`, `tel`, ...).
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) if u.secure => "sips",
            Uri::Sip(_) => "sip",
            Uri::Tel(_) => "tel",
            Uri::Other { scheme, .. } => scheme,
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(u) => u.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}
