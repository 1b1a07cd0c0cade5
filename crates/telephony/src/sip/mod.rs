//! SIP message syntax (RFC 3261 §7, §20, §25) behind Tympan's own types.
//!
//! Parsing leans on `ezk-sip-types` for header-line splitting (folded lines), header names
//! (long and compact forms), SIP/SIPS URIs (IPv6 references included) and `Via` values; the
//! rest (start lines, name-addr, parameters, `tel:` URIs, scalar headers, framing) is ours.
//! Every error names the header at fault, so it maps straight to a `400 Bad <Header>`.

mod error;
mod message;
mod parse;
mod stream;
mod uri;

pub use error::{ParseError, MAX_NAME_IN_ERROR};
pub use message::{
    CSeq, Header, Message, Method, NameAddr, Param, Request, Response, StartLine, Via,
    DEFAULT_MAX_FORWARDS,
};
pub use parse::{parse_datagram, MAX_HEADERS, MAX_MESSAGE_SIZE};
pub use stream::{StreamDecoder, StreamError};
pub use uri::{Host, SipUri, TelUri, Uri};
