//! SIP dialogs (RFC 3261 §12-§15) for a user agent, sans I/O: [`UserAgent`] composes the
//! transaction layer with INVITE dialogs as UAS and UAC (provisional responses, early
//! media, 2xx retransmission until ACK, route sets, CSeq and tags, CANCEL, BYE, OPTIONS,
//! re-INVITE hold, INFO DTMF both ways, one digest retry on 401/407, digest-authenticated inbound INVITEs), REGISTER as a client with refresh, a
//! digest-authenticated registrar, and REFER blind transfer.

mod info;
mod invite_auth;
mod random;
mod register;
mod registrar;
mod reoffer;
mod transfer;
mod ua;

pub use info::{
    dtmf_relay_body, parse_info_dtmf, InfoDtmf, InfoError, INFO_ACCEPT, INFO_DTMF_DURATION_MS,
    MAX_INFO_DURATION_MS, MAX_INFO_QUEUE,
};
pub use random::{Random, SplitMix64};
pub use register::{
    RegEvent, RegId, Registration, RegistrationRequest, REFRESH_MARGIN_MS, REGISTER_RETRY_MS,
};
pub use registrar::{
    Binding, DEFAULT_REGISTER_EXPIRES_S, MAX_BINDINGS_PER_AOR, MAX_REGISTER_EXPIRES_S,
};
pub use transfer::REFER_SUBSCRIPTION_S;
pub use ua::{
    CallId, Dialog, DialogEvent, DialogState, IncomingCall, OutboundCall, Role, UaConfig, UaError,
    UserAgent, ACCEPT, ALLOW, GIVE_UP_REASON, MAX_MAPPED_PEERS, SUPPORTED, TOKEN_HEX,
};
