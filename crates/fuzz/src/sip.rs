//! Fuzz targets for the SIP parser facade and its TCP framer (`tympan_telephony::sip`).

use crate::{fnv1a, Outcome, Rng};
use tympan_telephony::sip::{
    parse_datagram, Message, ParseError, StartLine, StreamDecoder, StreamError, Uri,
    MAX_MESSAGE_SIZE,
};

/// RFC 4475 torture messages as the telephony crate's tests write them (raw string literals
/// with `\n` line ends; the test turns them into CRLF, so do the seeds).
const RFC4475_TESTS: &str = include_str!("../../telephony/tests/rfc4475.rs");
/// The telephony crate's stream framing tests (messages split across reads).
const STREAM_TESTS: &str = include_str!("../../telephony/tests/sip_stream.rs");

/// Was a known gap found by this target: the reason phrase of a refusal echoed the header
/// name as written, control characters and any length included (`400 Bad Max-\0orwards`),
/// or empty for a line `: value`. Fixed (`ParseError::bad` keeps token characters, bounded);
/// `false` checks for every control character and a bounded length.
pub const REASON_ECHOES_RAW_HEADER_NAME: bool = false;
/// Longest reason phrase accepted once [`REASON_ECHOES_RAW_HEADER_NAME`] is fixed.
pub const MAX_REASON_CHARS: usize = 128;

/// Most string literals taken from one test file.
const MAX_EXTRACTED: usize = 64;

/// The string literals of a Rust source file that hold a SIP message (`SIP/2.0`), raw
/// (`r#"..."#`) or plain (escapes decoded), with `\n` line ends turned into CRLF as the
/// tests' `crlf` does.
pub fn sip_literals(src: &str) -> Vec<Vec<u8>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() && out.len() < MAX_EXTRACTED {
        let lit = if b[i..].starts_with(b"r#\"") {
            let start = i + 3;
            let Some(len) = src[start..].find("\"#") else {
                break;
            };
            i = start + len + 2;
            src[start..start + len].to_string()
        } else if b[i] == b'"' && (i == 0 || b[i - 1] != b'\'') {
            let (text, end) = plain_literal(&src[i + 1..]);
            i += 1 + end;
            text
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            // A comment: skip to the end of the line (it may hold a lone quote).
            i += src[i..].find('\n').unwrap_or(b.len() - i);
            continue;
        } else {
            i += 1;
            continue;
        };
        if lit.contains("SIP/2.0") {
            out.push(lit.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes());
        }
    }
    out
}

/// Decodes a plain string literal starting just after its opening quote: the text and the
/// index just past the closing quote.
fn plain_literal(s: &str) -> (String, usize) {
    let mut out = String::new();
    let mut it = s.char_indices().peekable();
    while let Some((k, c)) = it.next() {
        match c {
            '"' => return (out, k + 1),
            '\\' => match it.next().map(|(_, e)| e) {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('0') => out.push('\0'),
                Some('x') => {
                    let h: String = (0..2).filter_map(|_| it.next().map(|(_, d)| d)).collect();
                    if let Ok(v) = u8::from_str_radix(&h, 16) {
                        out.push(char::from(v));
                    }
                }
                Some('u') => {
                    let mut h = String::new();
                    for (_, d) in it.by_ref() {
                        match d {
                            '{' => {}
                            '}' => break,
                            d => h.push(d),
                        }
                    }
                    if let Some(ch) = u32::from_str_radix(&h, 16).ok().and_then(char::from_u32) {
                        out.push(ch);
                    }
                }
                Some('\n') => {
                    // Line continuation: the newline and the next line's indentation go.
                    while it.peek().is_some_and(|(_, d)| d.is_whitespace()) {
                        it.next();
                    }
                }
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    (out, s.len())
}

/// Messages of a plain call (both directions), written here.
pub const CALL_MESSAGES: &[&str] = &[
    "INVITE sip:bob@192.0.2.20:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1;rport\r\nMax-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.10:5060>\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\nContent-Type: application/sdp\r\nContent-Length: 131\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    "SIP/2.0 100 Trying\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1;rport=5060;received=192.0.2.10\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.20>\r\nRecord-Route: <sip:p1.example.com;lr>\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@192.0.2.20>\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
    "ACK sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKack1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
    "BYE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
    "CANCEL sip:bob@192.0.2.20:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1\r\nMax-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 487 Request Terminated\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
    "OPTIONS sip:[2001:db8::1]:5070;transport=tcp SIP/2.0\r\nv: SIP/2.0/TCP [2001:db8::2]:5070;branch=z9hG4bKopt\r\nf: <sip:probe@[2001:db8::2]>;tag=o1\r\nt: <tel:+1-201-555-0123;phone-context=example.com>\r\ni: opt1\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n",
    "REGISTER sip:registrar.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=r1\r\nTo: <sip:alice@example.com>\r\nCall-ID: reg1\r\nCSeq: 3 REGISTER\r\nContact: <sip:alice@192.0.2.10>;expires=3600, \"A\" <sip:a2@192.0.2.11>;q=0.5\r\nAuthorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:registrar.example.com\", response=\"0123456789abcdef0123456789abcdef\", algorithm=SHA-256\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg\r\nFrom: <sip:alice@example.com>;tag=r1\r\nTo: <sip:alice@example.com>;tag=s1\r\nCall-ID: reg1\r\nCSeq: 3 REGISTER\r\nWWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinv1\r\nFrom: <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 1 INVITE\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n",
    "INFO sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinfo\r\nFrom: <sip:alice@192.0.2.10>;tag=a1\r\nTo: <sip:bob@192.0.2.20>;tag=b1\r\nCall-ID: c1@192.0.2.10\r\nCSeq: 3 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\nSignal=5\r\nDuration=160\r\n",
];

/// Tokens for the SIP targets' dictionary.
pub const SIP_DICT: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"\r\n ",
    b"SIP/2.0",
    b"SIP/2.0 ",
    b"Via: SIP/2.0/UDP ",
    b"Via: SIP/2.0/TCP ",
    b";branch=z9hG4bK",
    b";tag=",
    b";received=",
    b";rport",
    b";lr",
    b";transport=tcp",
    b"Content-Length: ",
    b"l: ",
    b"Content-Length: 4294967296",
    b"CSeq: ",
    b"CSeq: 4294967295 INVITE",
    b"Call-ID: ",
    b"From: ",
    b"To: ",
    b"Contact: ",
    b"Contact: *",
    b"Route: ",
    b"Record-Route: ",
    b"Max-Forwards: ",
    b"Require: ",
    b"Content-Type: application/sdp",
    b"INVITE",
    b"ACK",
    b"BYE",
    b"CANCEL",
    b"OPTIONS",
    b"REGISTER",
    b"sip:",
    b"sips:",
    b"tel:+1",
    b"<sip:a@[2001:db8::1]:5060>",
    b"\"",
    b"\\",
    b"<",
    b">",
    b"%",
    b"@",
    b":",
    b";",
    b",",
    b"=",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"999",
    b"0",
    b"65536",
    b"100",
    b"180",
    b"200",
    b"487",
    b"699",
    b"700",
];

/// Every seed of the `sip_message` target: the RFC 4475 torture messages, the stream
/// tests' messages, a call's messages, and concatenations (for the stream framer).
pub fn sip_message_seeds() -> Vec<Vec<u8>> {
    let mut v = sip_literals(RFC4475_TESTS);
    v.extend(sip_literals(STREAM_TESTS));
    v.extend(CALL_MESSAGES.iter().map(|m| m.as_bytes().to_vec()));
    let mut all = Vec::new();
    for m in CALL_MESSAGES {
        all.extend_from_slice(b"\r\n\r\n");
        all.extend_from_slice(m.as_bytes());
    }
    v.push(all);
    v.push(
        [CALL_MESSAGES[0], CALL_MESSAGES[3], CALL_MESSAGES[4]]
            .concat()
            .into_bytes(),
    );
    v
}

/// The class of a parse error: its kind and the header it names.
fn parse_error_class(e: &ParseError) -> u64 {
    let kind = match e {
        ParseError::TooLarge { .. } => 1,
        ParseError::NoHeaderEnd => 2,
        ParseError::NotUtf8 { .. } => 3,
        ParseError::StartLine(_) => 4,
        ParseError::RequestUri(_) => 5,
        ParseError::Version(_) => 6,
        ParseError::Header { .. } => 7,
        ParseError::Missing(_) => 8,
        ParseError::Duplicate(_) => 9,
        ParseError::TooManyHeaders { .. } => 10,
        ParseError::BodyTooShort { .. } => 11,
    };
    kind ^ (fnv1a(e.header().unwrap_or("").to_ascii_lowercase().as_bytes()) << 4)
}

/// What every refusal promises: a status the server can answer with, a reason phrase that
/// fits in a status line and names the header at fault (or the start line, size or
/// encoding), and byte offsets that point into the input.
fn check_parse_error(e: &ParseError, input: &[u8]) {
    let code = e.status_code();
    assert!([400, 505, 513].contains(&code), "status {code} for {e}");
    let reason = e.reason_phrase();
    assert!(!reason.is_empty(), "empty reason phrase for {e:?}");
    assert!(
        !reason.contains(['\r', '\n']),
        "reason phrase {reason:?} has CR or LF (response splitting)"
    );
    if !REASON_ECHOES_RAW_HEADER_NAME {
        assert!(
            !reason.chars().any(|c| c.is_control()),
            "reason phrase {reason:?} has a control character"
        );
        assert!(
            reason.chars().count() <= MAX_REASON_CHARS,
            "reason phrase of {} chars",
            reason.chars().count()
        );
    }
    if let Some(h) = e.header() {
        // A line `: value` is refused naming the empty name (part of the known gap).
        assert!(
            REASON_ECHOES_RAW_HEADER_NAME || !h.is_empty(),
            "empty header name in {e:?}"
        );
        assert!(reason.contains(h), "reason {reason:?} does not name {h}");
    }
    match e {
        ParseError::NotUtf8 { offset } => {
            assert!(
                *offset < input.len(),
                "UTF-8 offset {offset} past the input"
            );
            assert!(
                std::str::from_utf8(&input[..*offset]).is_ok(),
                "bytes before offset {offset} are not valid UTF-8"
            );
            assert_eq!(
                std::str::from_utf8(&input[*offset..]).map_err(|x| x.valid_up_to()),
                Err(0),
                "no invalid UTF-8 at offset {offset}"
            );
        }
        ParseError::TooLarge { size, limit } => assert!(size > limit),
        ParseError::BodyTooShort {
            declared,
            available,
        } => assert!(declared > available, "{e}"),
        _ => {}
    }
}

/// Known round-trip gaps of the facade found by this target (reported to its owner); while
/// this is `true`, [`round_trip_gap`] names the messages that do not round-trip and they are
/// skipped. Set it to `false` once fixed.
pub const KNOWN_ROUND_TRIP_GAPS: bool = true;

/// Why `m` is known not to round-trip, if it is: (a) a name-addr written without `<...>`
/// whose URI has a scheme other than sip/sips/tel keeps a `>` or `<` in its text, and is
/// then written inside `<...>` where that `>` ends it early; (b) a SIP URI header written
/// without `=` (`?name`) is written back as `?name=`, with an empty value instead of none.
pub fn round_trip_gap(m: &Message) -> Option<&'static str> {
    let addrs = [&m.from, &m.to]
        .into_iter()
        .chain(&m.contact)
        .chain(&m.route)
        .chain(&m.record_route);
    let uris = addrs.map(|a| &a.uri).chain(m.request().map(|r| &r.uri));
    for u in uris {
        match u {
            Uri::Other { rest, .. } if rest.contains(['<', '>']) => {
                return Some("angle bracket inside an unbracketed URI")
            }
            Uri::Sip(s) if s.headers.iter().any(|h| h.value.is_none()) => {
                return Some("URI header without a value")
            }
            _ => {}
        }
    }
    None
}

/// A parsed message re-serialises and re-parses to the same message, and serialising that
/// gives the same bytes (the serialisation is canonical: one header per line, long names,
/// Content-Length always written).
fn check_round_trip(m: &Message) {
    if KNOWN_ROUND_TRIP_GAPS && round_trip_gap(m).is_some() {
        return;
    }
    let bytes = m.to_bytes();
    let again = match parse_datagram(&bytes) {
        Ok(a) => a,
        Err(e) => panic!(
            "own serialisation refused: {e}\n{}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(&again, m, "parse(to_bytes(m)) != m");
    assert_eq!(again.to_bytes(), bytes, "serialisation is not stable");
    match &m.start {
        StartLine::Response(r) => assert!((100..=699).contains(&r.code), "status {}", r.code),
        StartLine::Request(_) => assert_eq!(m.cseq.method, *m.method()),
    }
}

/// Feeds `input` to a [`StreamDecoder`] in reads of sizes drawn from `rng` (0 = all at
/// once) and returns the messages and the error that stopped it, if any.
fn frame(input: &[u8], rng: Option<&mut Rng>) -> (Vec<Message>, Option<StreamError>) {
    let mut d = StreamDecoder::new(MAX_MESSAGE_SIZE);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut rng = rng;
    while pos < input.len() {
        let n = match rng.as_deref_mut() {
            None => input.len(),
            Some(r) => {
                let big = r.chance(1, 4);
                1 + r.below(if big { 512 } else { 24 })
            }
        };
        let end = (pos + n).min(input.len());
        d.push(&input[pos..end]);
        pos = end;
        loop {
            match d.next_message() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        assert!(
            d.buffered() <= MAX_MESSAGE_SIZE + n,
            "decoder holds {} bytes",
            d.buffered()
        );
    }
    (out, None)
}

/// `sip_message`: one datagram through [`parse_datagram`] and the same bytes as a TCP stream
/// through [`StreamDecoder`], whole and cut into arbitrary reads.
///
/// Checks: a parsed message re-serialises and re-parses to itself; refusals carry a status,
/// a reason naming the header and offsets inside the input; framing does not depend on how
/// the stream is cut; a stream error's offset is the first byte of a message; the framed
/// messages re-serialised and concatenated frame to the same messages.
pub fn sip_message(input: &[u8]) -> Outcome {
    let dgram = parse_datagram(input);
    match &dgram {
        Ok(m) => {
            assert!(input.len() <= MAX_MESSAGE_SIZE);
            check_round_trip(m);
        }
        Err(e) => check_parse_error(e, input),
    }

    let (whole, whole_err) = frame(input, None);
    let mut rng = Rng::new(fnv1a(input));
    let (cut, cut_err) = frame(input, Some(&mut rng));
    assert_eq!(whole, cut, "framed messages depend on read sizes");
    assert_eq!(whole_err, cut_err, "framing error depends on read sizes");
    let mut again = Vec::new();
    for m in &whole {
        check_round_trip(m);
        again.extend_from_slice(&m.to_bytes());
    }
    let gap = KNOWN_ROUND_TRIP_GAPS && whole.iter().any(|m| round_trip_gap(m).is_some());
    if !gap {
        let (back, back_err) = frame(&again, None);
        assert!(
            back_err.is_none(),
            "own serialisation refused: {back_err:?}"
        );
        assert_eq!(back, whole, "frame(concat(to_bytes)) != messages");
    }
    match &whole_err {
        Some(StreamError::Bad { offset, error }) => {
            let o = *offset as usize;
            assert!(o < input.len(), "stream offset {o} past the input");
            assert!(
                !matches!(input[o], b'\r' | b'\n'),
                "stream offset {o} is not a message's first byte"
            );
            check_parse_error(error, &input[o..]);
        }
        Some(StreamError::TooLarge { limit }) => assert_eq!(*limit, MAX_MESSAGE_SIZE),
        None => {}
    }

    let stream_class = (whole.len().min(3) as u64) << 40
        ^ match &whole_err {
            None => 0,
            Some(StreamError::TooLarge { .. }) => 1 << 44,
            Some(StreamError::Bad { error, .. }) => parse_error_class(error) << 45,
        };
    match dgram {
        Ok(m) => {
            let start = match &m.start {
                StartLine::Request(r) => fnv1a(r.method.as_str().as_bytes()) & 0xffff,
                StartLine::Response(r) => u64::from(r.code / 100) << 16,
            };
            Outcome::Accepted(start ^ stream_class ^ (u64::from(!m.body.is_empty()) << 20))
        }
        Err(e) => Outcome::Refused(parse_error_class(&e) ^ stream_class),
    }
}
