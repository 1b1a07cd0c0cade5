//! `[sip.auth]`: digest authentication of inbound INVITEs (RFC 3261 §22, RFC 8760). When
//! the table is present, an INVITE without valid credentials gets `401 Unauthorized` with
//! one `WWW-Authenticate` challenge per algorithm; nonces expire after
//! `nonce_lifetime_s` (an expired one is re-challenged with `stale=true`).
//!
//! ```toml
//! [sip.auth]
//! realm = "tympan"
//! nonce_lifetime_s = 300
//! algorithms = ["SHA-256", "MD5"]   # offered in this order (RFC 8760: strongest first)
//! [[sip.auth.users]]
//! username = "alice"
//! password = "s3cret"
//! ```

use serde::{Deserialize, Serialize};
use tympan_telephony::digest::{Algorithm, DigestServer};

/// Default nonce lifetime (s).
pub const DEFAULT_NONCE_LIFETIME_S: u64 = 300;
/// Longest nonce lifetime accepted (s): a day.
pub const MAX_NONCE_LIFETIME_S: u64 = 86_400;

/// One user allowed to call in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SipUser {
    /// Digest username.
    pub username: String,
    /// Digest password.
    pub password: String,
}

/// `[sip.auth]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SipAuthConfig {
    /// Digest realm of the challenges.
    pub realm: String,
    /// How long an issued nonce is accepted (s).
    #[serde(default = "default_lifetime")]
    pub nonce_lifetime_s: u64,
    /// Algorithms offered, one challenge each, in order (`SHA-256`, `MD5`, `-sess`
    /// variants).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// The users.
    pub users: Vec<SipUser>,
}

fn default_lifetime() -> u64 {
    DEFAULT_NONCE_LIFETIME_S
}

fn default_algorithms() -> Vec<String> {
    vec!["SHA-256".into(), "MD5".into()]
}

impl SipAuthConfig {
    /// Checks the table; the error names the key (and the entry).
    pub fn validate(&self) -> Result<(), String> {
        if self.realm.is_empty() || self.realm.contains(['"', '\\', '\r', '\n']) {
            return Err(format!(
                "sip.auth.realm {:?} must be non-empty without quotes, backslashes or line breaks",
                self.realm
            ));
        }
        if self.nonce_lifetime_s == 0 || self.nonce_lifetime_s > MAX_NONCE_LIFETIME_S {
            return Err(format!(
                "sip.auth.nonce_lifetime_s ({}) must be between 1 and {MAX_NONCE_LIFETIME_S}",
                self.nonce_lifetime_s
            ));
        }
        if self.algorithms.is_empty() {
            return Err("sip.auth.algorithms must name at least one algorithm".into());
        }
        for (i, a) in self.algorithms.iter().enumerate() {
            if Algorithm::from_token(a).is_none() {
                return Err(format!(
                    "sip.auth.algorithms[{i}] {a:?} is not one of SHA-256, SHA-256-sess, MD5, MD5-sess"
                ));
            }
        }
        if self.users.is_empty() {
            return Err("sip.auth.users must list at least one user".into());
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.username.is_empty() || u.username.contains(['"', '\\', '\r', '\n']) {
                return Err(format!(
                    "sip.auth.users[{i}].username {:?} must be non-empty without quotes, \
                     backslashes or line breaks",
                    u.username
                ));
            }
            if u.password.is_empty() {
                return Err(format!("sip.auth.users[{i}].password is empty"));
            }
            if self.users[..i].iter().any(|o| o.username == u.username) {
                return Err(format!(
                    "sip.auth.users[{i}].username {:?} is listed twice",
                    u.username
                ));
            }
        }
        Ok(())
    }

    /// The digest server for the user agent (call after [`Self::validate`]; unknown
    /// algorithms are skipped).
    pub fn digest_server(&self) -> DigestServer {
        let algorithms = self
            .algorithms
            .iter()
            .filter_map(|a| Algorithm::from_token(a))
            .collect();
        let mut s = DigestServer::new(self.realm.clone())
            .with_nonce_lifetime_ms(self.nonce_lifetime_s.saturating_mul(1000))
            .with_algorithms(algorithms);
        for u in &self.users {
            s.add_user(u.username.clone(), u.password.clone());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ServerConfig;

    #[test]
    fn auth_table_parses_and_refuses_unknown_keys() {
        let c = ServerConfig::from_toml(
            "[sip]\nlisten = \"127.0.0.1:0\"\n[sip.auth]\nrealm = \"r\"\nalgorithms = [\"MD5\"]\n\
             [[sip.auth.users]]\nusername = \"alice\"\npassword = \"pw\"\n",
        )
        .unwrap();
        let a = c.sip.auth.as_ref().unwrap();
        assert_eq!(a.nonce_lifetime_s, super::DEFAULT_NONCE_LIFETIME_S);
        assert!(c.sip.validate().is_ok());
        assert_eq!(a.digest_server().realm(), "r");
        for (text, key) in [
            ("[sip.auth]\nrealm = \"r\"\nusers = []\nrelm = \"x\"\n", "relm"),
            (
                "[sip.auth]\nrealm = \"r\"\n[[sip.auth.users]]\nusername = \"a\"\npassword = \"b\"\npw = \"c\"\n",
                "pw",
            ),
        ] {
            let e = ServerConfig::from_toml(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn bad_auth_values_are_named() {
        let base =
            "[sip.auth]\nrealm = \"r\"\n[[sip.auth.users]]\nusername = \"a\"\npassword = \"b\"\n";
        for (extra, key) in [
            ("[sip.auth]\nrealm = \"r\"\nusers = []\n", "sip.auth.users"),
            (
                "[sip.auth]\nrealm = \"r\"\nalgorithms = [\"SHA-1\"]\n[[sip.auth.users]]\nusername = \"a\"\npassword = \"b\"\n",
                "sip.auth.algorithms[0]",
            ),
            (
                "[sip.auth]\nrealm = \"r\"\nnonce_lifetime_s = 0\n[[sip.auth.users]]\nusername = \"a\"\npassword = \"b\"\n",
                "sip.auth.nonce_lifetime_s",
            ),
            (
                &format!("{base}[[sip.auth.users]]\nusername = \"a\"\npassword = \"c\"\n"),
                "sip.auth.users[1].username",
            ),
            (
                "[sip.auth]\nrealm = \"\"\n[[sip.auth.users]]\nusername = \"a\"\npassword = \"b\"\n",
                "sip.auth.realm",
            ),
        ] {
            let c = ServerConfig::from_toml(extra).unwrap();
            let e = c.sip.validate().unwrap_err();
            assert!(e.contains(key), "{extra}: {e}");
        }
        assert!(ServerConfig::from_toml(base)
            .unwrap()
            .sip
            .validate()
            .is_ok());
    }
}
