//! SDP offer/answer (RFC 3264) for G.711 calls, on `sdp-types`.
//!
//! We speak PCMU and PCMA at 8 kHz with RFC 4733 telephone-events, 20 ms packets. An offer
//! is answered with one m-line per offered m-line (RFC 3264 §6): the first audio stream we
//! can use is accepted, every other stream is refused with port 0. Hold is honoured
//! (`sendonly`/`inactive`, or the RFC 2543 `c=0.0.0.0`). An offer we cannot use gives an
//! error whose status is 488 Not Acceptable Here.

use std::net::{IpAddr, SocketAddr};

use sdp_types::{Attribute, Connection, Media, MediaType, Origin, Session, Time, TransportProto};
use thiserror::Error;

/// Packetisation time we send and ask for.
pub const PTIME_MS: u32 = 20;
/// RTP clock rate of G.711 and of telephone-events alongside it.
pub const CLOCK_RATE: u32 = 8000;
/// Payload type we use for telephone-event when we make the offer.
pub const DEFAULT_TELEPHONE_EVENT_PT: u8 = 101;
/// DTMF events we accept and send (RFC 4733 §3.2: 0-9, *, #, A-D).
pub const TELEPHONE_EVENTS: &str = "0-15";

/// An audio codec we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// Static payload type.
    pub fn static_pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
    /// rtpmap encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Media direction of a stream, from the point of view of whoever wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// Writer sends only (the other side is put on hold).
    SendOnly,
    /// Writer receives only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// The answer's direction for an offered one (RFC 3264 §6.1).
    pub fn reverse(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
    /// `true` if the writer sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
    /// `true` if the writer receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// Our side of the media session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address RTP is received on.
    pub address: IpAddr,
    /// RTP port (RTCP is port + 1).
    pub port: u16,
    /// Codecs in our order of preference (used when we offer).
    pub codecs: Vec<Codec>,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version; bump it for every new offer or answer that changes.
    pub session_version: u64,
}

/// The outcome of a negotiation: what to send where, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Where to send RTP (the remote `c=` and port; symmetric RTP may override it).
    pub remote_addr: IpAddr,
    /// Remote RTP port.
    pub remote_port: u16,
    /// Codec.
    pub codec: Codec,
    /// Its payload type in this session.
    pub payload_type: u8,
    /// telephone-event payload type, when both sides support it.
    pub telephone_event: Option<u8>,
    /// Our direction.
    pub direction: Direction,
    /// Remote ptime, when given.
    pub remote_ptime_ms: Option<u32>,
    /// Where to send RTCP: `a=rtcp:` (RFC 3605) when the remote wrote it, else the RTP
    /// address at port + 1 (RFC 3550 §11). Symmetric RTCP may override it.
    pub remote_rtcp: SocketAddr,
}

/// Why an SDP could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// The SDP does not parse.
    #[error("SDP does not parse: {0}")]
    Parse(String),
    /// No audio stream with a port.
    #[error("no usable audio stream (RTP/AVP with a non-zero port) in the SDP")]
    NoAudio,
    /// Audio offered, but none of our codecs.
    #[error("no common codec: offered {offered:?}, we speak PCMU and PCMA")]
    NoCommonCodec {
        /// The offered formats (`0`, `18 G729/8000`, ...).
        offered: Vec<String>,
    },
    /// An accepted stream has no connection address.
    #[error("audio stream without a c= connection address")]
    NoConnection,
}

impl SdpError {
    /// SIP status to answer an INVITE carrying this SDP: 488, or 400 when it does not parse.
    pub fn status_code(&self) -> u16 {
        match self {
            SdpError::Parse(_) => 400,
            _ => 488,
        }
    }
}

fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs.iter().rev().find_map(|a| match a.attribute.as_str() {
        "sendrecv" => Some(Direction::SendRecv),
        "sendonly" => Some(Direction::SendOnly),
        "recvonly" => Some(Direction::RecvOnly),
        "inactive" => Some(Direction::Inactive),
        _ => None,
    })
}

/// (payload type, encoding name, clock rate) of every rtpmap.
fn rtpmaps(m: &Media) -> Vec<(u8, String, u32)> {
    m.attributes
        .iter()
        .filter(|a| a.attribute == "rtpmap")
        .filter_map(|a| {
            let v = a.value.as_deref()?;
            let (pt, enc) = v.split_once(' ')?;
            let mut parts = enc.trim().split('/');
            let name = parts.next()?.to_string();
            let rate = parts.next()?.parse().ok()?;
            Some((pt.trim().parse().ok()?, name, rate))
        })
        .collect()
}

struct Choice {
    codec: Codec,
    pt: u8,
    te: Option<u8>,
}

/// Picks the first offered format we speak (offerer's order), and telephone-event.
fn choose(m: &Media) -> Result<Choice, Vec<String>> {
    let maps = rtpmaps(m);
    let fmts: Vec<u8> = m
        .fmt
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let name_of = |pt: u8| maps.iter().find(|(p, _, _)| *p == pt);
    let mut codec = None;
    let mut te = None;
    for &pt in &fmts {
        let c = match name_of(pt) {
            Some((_, n, 8000)) if n.eq_ignore_ascii_case("PCMU") => Some(Codec::Pcmu),
            Some((_, n, 8000)) if n.eq_ignore_ascii_case("PCMA") => Some(Codec::Pcma),
            Some((_, n, 8000)) if n.eq_ignore_ascii_case("telephone-event") => {
                te.get_or_insert(pt);
                None
            }
            Some(_) => None,
            None if pt == 0 => Some(Codec::Pcmu),
            None if pt == 8 => Some(Codec::Pcma),
            None => None,
        };
        if let (None, Some(c)) = (codec, c) {
            codec = Some((c, pt));
        }
    }
    match codec {
        Some((codec, pt)) => Ok(Choice { codec, pt, te }),
        None => Err(m
            .fmt
            .split_whitespace()
            .map(|f| match f.parse().ok().and_then(name_of) {
                Some((_, n, r)) => format!("{f} {n}/{r}"),
                None => f.to_string(),
            })
            .collect()),
    }
}

fn connection_of(s: &Session, m: &Media) -> Option<IpAddr> {
    m.connections
        .first()
        .or(s.connection.as_ref())
        .and_then(|c| c.connection_address.split('/').next()?.parse().ok())
}

/// RFC 3605 `a=rtcp:PORT [IN IP4|IP6 ADDRESS]`, else RTP address and port + 1.
fn rtcp_of(m: &Media, rtp_addr: IpAddr) -> SocketAddr {
    let default = SocketAddr::new(rtp_addr, m.port.saturating_add(1));
    let Some(v) = m
        .attributes
        .iter()
        .find(|a| a.attribute == "rtcp")
        .and_then(|a| a.value.as_deref())
    else {
        return default;
    };
    let mut words = v.split_whitespace();
    let Some(port) = words.next().and_then(|p| p.parse::<u16>().ok()) else {
        return default;
    };
    let addr = match (words.next(), words.next(), words.next()) {
        (Some(net), Some(_), Some(a)) if net.eq_ignore_ascii_case("IN") => {
            a.parse().unwrap_or(rtp_addr)
        }
        _ => rtp_addr,
    };
    SocketAddr::new(addr, port)
}

fn ptime_of(m: &Media) -> Option<u32> {
    m.attributes
        .iter()
        .find(|a| a.attribute == "ptime")
        .and_then(|a| a.value.as_deref()?.trim().parse().ok())
}

fn audio_media(local: &LocalMedia, pts: &[(u8, &str)], te: Option<u8>, dir: Direction) -> Media {
    let mut fmt: Vec<String> = pts.iter().map(|(pt, _)| pt.to_string()).collect();
    if let Some(te) = te {
        fmt.push(te.to_string());
    }
    let mut m = Media::new(
        MediaType::Audio,
        local.port,
        TransportProto::RtpAvp,
        fmt.join(" "),
    );
    for (pt, name) in pts {
        m.attributes.push(Attribute::with_value(
            "rtpmap",
            format!("{pt} {name}/{CLOCK_RATE}"),
        ));
    }
    if let Some(te) = te {
        m.attributes.push(Attribute::with_value(
            "rtpmap",
            format!("{te} telephone-event/{CLOCK_RATE}"),
        ));
        m.attributes.push(Attribute::with_value(
            "fmtp",
            format!("{te} {TELEPHONE_EVENTS}"),
        ));
    }
    m.attributes.push(Attribute::with_value("ptime", PTIME_MS));
    m.attributes.push(Attribute::new(dir.attr()));
    m
}

fn session(local: &LocalMedia) -> Session {
    let mut s = Session::new(
        Origin::with_ip_addr(local.session_id, local.session_version, local.address),
        "-",
    );
    s.origin.set_username("tympan");
    s.connection = Some(Connection::from_ip_addr(local.address));
    s.times.push(Time::new(0, 0));
    s
}

fn write(s: &Session) -> Vec<u8> {
    let mut out = Vec::new();
    s.write(&mut out).expect("writing to a Vec cannot fail");
    out
}

/// Our offer for an outbound call (or a re-INVITE: `Direction::SendOnly` puts the other
/// side on hold).
pub fn offer(local: &LocalMedia, direction: Direction) -> Vec<u8> {
    let pts: Vec<(u8, &str)> = local
        .codecs
        .iter()
        .map(|c| (c.static_pt(), c.name()))
        .collect();
    let mut s = session(local);
    s.medias.push(audio_media(
        local,
        &pts,
        Some(DEFAULT_TELEPHONE_EVENT_PT),
        direction,
    ));
    write(&s)
}

/// Answers an offer: returns the answer SDP and what was agreed.
pub fn answer(offer: &[u8], local: &LocalMedia) -> Result<(Vec<u8>, Negotiated), SdpError> {
    let o = Session::parse(offer).map_err(|e| SdpError::Parse(e.to_string()))?;
    let session_dir = direction_of(&o.attributes).unwrap_or(Direction::SendRecv);
    let mut s = session(local);
    let mut agreed = None;
    let mut refused_codecs = None;
    for m in &o.medias {
        let usable = agreed.is_none()
            && m.media == "audio"
            && m.port != 0
            && m.proto.eq_ignore_ascii_case("RTP/AVP");
        let choice = if usable { Some(choose(m)) } else { None };
        match choice {
            Some(Ok(c)) => {
                let addr = connection_of(&o, m).ok_or(SdpError::NoConnection)?;
                let mut dir = direction_of(&m.attributes).unwrap_or(session_dir);
                if addr.is_unspecified() && dir.receives() {
                    // RFC 2543 hold: c=0.0.0.0 means "do not send to me".
                    dir = if dir.sends() {
                        Direction::SendOnly
                    } else {
                        Direction::Inactive
                    };
                }
                let ours = dir.reverse();
                s.medias
                    .push(audio_media(local, &[(c.pt, c.codec.name())], c.te, ours));
                agreed = Some(Negotiated {
                    remote_addr: addr,
                    remote_port: m.port,
                    codec: c.codec,
                    payload_type: c.pt,
                    telephone_event: c.te,
                    direction: ours,
                    remote_ptime_ms: ptime_of(m),
                    remote_rtcp: rtcp_of(m, addr),
                });
            }
            other => {
                if let Some(Err(offered)) = other {
                    refused_codecs.get_or_insert(offered);
                }
                let mut r = Media::new(MediaType::Audio, 0, TransportProto::RtpAvp, &m.fmt);
                r.media = m.media.clone();
                r.proto = m.proto.clone();
                s.medias.push(r);
            }
        }
    }
    match agreed {
        Some(n) => Ok((write(&s), n)),
        None => Err(match refused_codecs {
            Some(offered) => SdpError::NoCommonCodec { offered },
            None => SdpError::NoAudio,
        }),
    }
}

/// Reads the answer to our offer.
pub fn read_answer(answer: &[u8]) -> Result<Negotiated, SdpError> {
    let a = Session::parse(answer).map_err(|e| SdpError::Parse(e.to_string()))?;
    let session_dir = direction_of(&a.attributes).unwrap_or(Direction::SendRecv);
    let m = a
        .medias
        .iter()
        .find(|m| m.media == "audio" && m.port != 0)
        .ok_or(SdpError::NoAudio)?;
    let c = choose(m).map_err(|offered| SdpError::NoCommonCodec { offered })?;
    let remote_addr = connection_of(&a, m).ok_or(SdpError::NoConnection)?;
    Ok(Negotiated {
        remote_addr,
        remote_port: m.port,
        codec: c.codec,
        payload_type: c.pt,
        telephone_event: c.te,
        direction: direction_of(&m.attributes).unwrap_or(session_dir).reverse(),
        remote_ptime_ms: ptime_of(m),
        remote_rtcp: rtcp_of(m, remote_addr),
    })
}
