//! Transports: each one file of bytes ↔ PCM and action execution around the one call loop
//! ([`crate::call_task`]).

pub mod audiosocket;
pub mod sip;
pub mod sip_auth;
pub mod sip_tcp;
pub mod sip_trace;
pub mod twilio;
pub mod vonage;
