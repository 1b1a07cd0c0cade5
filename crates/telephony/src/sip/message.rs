//! Tympan's SIP message types and their serialisation.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::uri::{Host, Uri};

/// Max-Forwards a request gets when the message carries none (RFC 3261 §8.1.1.6).
pub const DEFAULT_MAX_FORWARDS: u8 = 70;

/// A SIP method. Methods are case-sensitive: `invite` is an unknown method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// OPTIONS
    Options,
    /// REGISTER
    Register,
    /// INFO
    Info,
    /// REFER
    Refer,
    /// NOTIFY
    Notify,
    /// SUBSCRIBE
    Subscribe,
    /// MESSAGE
    Message,
    /// PRACK
    Prack,
    /// UPDATE
    Update,
    /// Any other token.
    Other(String),
}

impl Method {
    /// The method for a token (exact, case-sensitive match).
    pub fn from_token(t: &str) -> Method {
        match t {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            other => Method::Other(other.to_string()),
        }
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `name[=value]` parameter, value unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name as written.
    pub name: String,
    /// Value, `None` for a flag parameter.
    pub value: Option<String>,
}

impl Param {
    /// A `name=value` parameter.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Param {
            name: name.into(),
            value: Some(value.into()),
        }
    }
    /// A flag parameter (`;lr`).
    pub fn flag(name: impl Into<String>) -> Self {
        Param {
            name: name.into(),
            value: None,
        }
    }
}

pub(crate) fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Param> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for p in params {
        write!(f, ";{}", p.name)?;
        if let Some(v) = &p.value {
            if v.is_empty()
                || v.chars()
                    .any(|c| !is_token_char(c) && c != ':' && c != '[' && c != ']')
            {
                f.write_str("=\"")?;
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str("\"")?;
            } else {
                write!(f, "={v}")?;
            }
        }
    }
    Ok(())
}

/// RFC 3261 `token` characters.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// One `Via` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ... upper-cased).
    pub transport: String,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, when given.
    pub port: Option<u16>,
    /// All parameters in order (`branch`, `received`, `rport`, ...).
    pub params: Vec<Param>,
}

impl Via {
    /// A Via with a branch parameter.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Self {
        Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: vec![Param::new("branch", branch)],
        }
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch")
    }

    /// Parameter value by name (case-insensitive), `Some("")` for a flag.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// The sent-by as `host[:port]`.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.to_string(),
        }
    }

    /// `true` when the branch carries RFC 3261's magic cookie `z9hG4bK`.
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    /// What a server does to the top Via of a request received from `source` (RFC 3261
    /// §18.2.1, RFC 3581 §4): `received=<source IP>` when the sent-by host is not that IP
    /// or the client asked for `rport`; a valueless `rport` gets the source port. Earlier
    /// `received`/`rport` values (a forged or stale one) are replaced.
    pub fn stamp_received(&mut self, source: SocketAddr) {
        let wants_rport = self.param("rport").is_some_and(str::is_empty);
        let sent_by_is_source = match (&self.host, source.ip()) {
            (Host::V4(a), IpAddr::V4(b)) => *a == b,
            (Host::V6(a), IpAddr::V6(b)) => *a == b,
            _ => false,
        };
        if sent_by_is_source && !wants_rport {
            return;
        }
        self.params
            .retain(|p| !p.name.eq_ignore_ascii_case("received"));
        let received = Param::new("received", source.ip().to_string());
        match self
            .params
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case("rport"))
        {
            Some(i) if wants_rport => {
                self.params[i] = Param::new("rport", source.port().to_string());
                self.params.insert(i, received);
            }
            _ => self.params.push(received),
        }
    }

    /// The address a server saw this Via's request come from, from the `received` and
    /// `rport` values it stamped in a response (RFC 3581 §9): `None` unless both are there
    /// and well formed.
    pub fn received_from(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self
            .param("received")?
            .trim_matches(['[', ']'])
            .parse()
            .ok()?;
        let port: u16 = self.param("rport")?.parse().ok()?;
        (port != 0).then(|| SocketAddr::new(ip, port))
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by())?;
        write_params(f, &self.params)
    }
}

/// A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped.
    pub display: Option<String>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (`tag`, `expires`, `q`, `lr` for a Route written as addr-spec...).
    pub params: Vec<Param>,
}

impl NameAddr {
    /// A bare `<uri>`.
    pub fn new(uri: Uri) -> Self {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// Parameter value by name (case-insensitive), `Some("")` for a flag.
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// Sets (or replaces) the tag.
    pub fn set_tag(&mut self, tag: &str) {
        self.params.retain(|p| !p.name.eq_ignore_ascii_case("tag"));
        self.params.push(Param::new("tag", tag));
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            f.write_str("\"")?;
            for c in d.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// The CSeq header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (< 2**31 when we generate it, < 2**32 accepted).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

/// Any header kept as text (unknown headers and those we do not type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Name: the canonical long form for a known header, else as written.
    pub name: String,
    /// Value, folding replaced by single spaces.
    pub value: String,
}

/// The start line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// A request line.
    Request(Request),
    /// A status line.
    Response(Response),
}

/// Request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Request-URI.
    pub uri: Uri,
}

/// Status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, 100..=699.
    pub code: u16,
    /// Reason phrase (may be empty).
    pub reason: String,
}

/// A parsed SIP message: the headers every layer needs are typed, the rest kept in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Request or status line.
    pub start: StartLine,
    /// Via values, topmost first.
    pub via: Vec<Via>,
    /// From.
    pub from: NameAddr,
    /// To.
    pub to: NameAddr,
    /// Call-ID.
    pub call_id: String,
    /// CSeq.
    pub cseq: CSeq,
    /// Max-Forwards, when present.
    pub max_forwards: Option<u8>,
    /// Contact values (empty when absent; `Contact: *` is kept in `other`).
    pub contact: Vec<NameAddr>,
    /// Route values in order.
    pub route: Vec<NameAddr>,
    /// Record-Route values in order.
    pub record_route: Vec<NameAddr>,
    /// Content-Type, when present.
    pub content_type: Option<String>,
    /// Every other header, in order.
    pub other: Vec<Header>,
    /// The body (exactly Content-Length bytes).
    pub body: Vec<u8>,
}

impl Message {
    /// The request line, for a request.
    pub fn request(&self) -> Option<&Request> {
        match &self.start {
            StartLine::Request(r) => Some(r),
            StartLine::Response(_) => None,
        }
    }

    /// The status line, for a response.
    pub fn response(&self) -> Option<&Response> {
        match &self.start {
            StartLine::Response(r) => Some(r),
            StartLine::Request(_) => None,
        }
    }

    /// The method: the request's, or the CSeq's for a response.
    pub fn method(&self) -> &Method {
        match &self.start {
            StartLine::Request(r) => &r.method,
            StartLine::Response(_) => &self.cseq.method,
        }
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<&Via> {
        self.via.first()
    }

    /// Values of an untyped header (case-insensitive name, canonical long form).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.other
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Option tags of `Require` this element does not support (RFC 3261 §8.2.2.3: a UAS
    /// answers 420 Bad Extension listing them in `Unsupported`).
    pub fn unsupported_requires(&self, supported: &[&str]) -> Vec<String> {
        self.header_values("Require")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty() && !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .map(str::to_string)
            .collect()
    }

    /// Serialises the message; Content-Length is always written and equals the body length.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.head_string().into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    fn head_string(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(512);
        match &self.start {
            StartLine::Request(r) => {
                let _ = write!(s, "{} {} SIP/2.0\r\n", r.method, r.uri);
            }
            StartLine::Response(r) => {
                let _ = write!(s, "SIP/2.0 {} {}\r\n", r.code, r.reason);
            }
        }
        for v in &self.via {
            let _ = write!(s, "Via: {v}\r\n");
        }
        for r in &self.record_route {
            let _ = write!(s, "Record-Route: {r}\r\n");
        }
        for r in &self.route {
            let _ = write!(s, "Route: {r}\r\n");
        }
        if let Some(m) = self.max_forwards {
            let _ = write!(s, "Max-Forwards: {m}\r\n");
        }
        let _ = write!(s, "From: {}\r\n", self.from);
        let _ = write!(s, "To: {}\r\n", self.to);
        let _ = write!(s, "Call-ID: {}\r\n", self.call_id);
        let _ = write!(s, "CSeq: {} {}\r\n", self.cseq.seq, self.cseq.method);
        for c in &self.contact {
            let _ = write!(s, "Contact: {c}\r\n");
        }
        for h in &self.other {
            let _ = write!(s, "{}: {}\r\n", h.name, h.value);
        }
        if let Some(ct) = &self.content_type {
            let _ = write!(s, "Content-Type: {ct}\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        s
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.head_string())?;
        f.write_str(&String::from_utf8_lossy(&self.body))
    }
}

impl Message {
    /// A response to `request` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq and
    /// Timestamp copied; no body. Add a To tag with [`NameAddr::set_tag`] as needed.
    pub fn response_to(request: &Message, code: u16, reason: &str) -> Message {
        Message {
            start: StartLine::Response(Response {
                code,
                reason: reason.to_string(),
            }),
            via: request.via.clone(),
            from: request.from.clone(),
            to: request.to.clone(),
            call_id: request.call_id.clone(),
            cseq: request.cseq.clone(),
            max_forwards: None,
            contact: Vec::new(),
            route: Vec::new(),
            record_route: Vec::new(),
            content_type: None,
            other: request
                .other
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("Timestamp"))
                .cloned()
                .collect(),
            body: Vec::new(),
        }
    }
}
