//! Hang-up through the platforms' call-control REST APIs.

use crate::config::{TwilioConfig, VonageConfig};
use crate::ids::encode_segment;
use std::time::Duration;

/// Time allowed for one call-control request.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// Vonage: `PUT {api_base}/v1/calls/{uuid}` with `{"action":"hangup"}` and the configured JWT.
/// `uuid` is percent-encoded as one path segment. Returns the HTTP status.
pub async fn vonage_hangup(
    http: &reqwest::Client,
    cfg: &VonageConfig,
    uuid: &str,
) -> Result<u16, String> {
    let jwt = cfg
        .jwt
        .as_deref()
        .ok_or("vonage.jwt is not configured; cannot hang up")?;
    let url = vonage_hangup_url(cfg, uuid);
    let resp = http
        .put(&url)
        .bearer_auth(jwt)
        .header("content-type", "application/json")
        .body(r#"{"action":"hangup"}"#)
        .timeout(CONTROL_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("PUT {url}: {e}"))?;
    status_ok(resp.status().as_u16(), &url)
}

/// Twilio: `POST {api_base}/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json` with
/// `Status=completed` and basic auth. Returns the HTTP status.
pub async fn twilio_hangup(
    http: &reqwest::Client,
    cfg: &TwilioConfig,
    call_sid: &str,
) -> Result<u16, String> {
    let (Some(sid), Some(token)) = (cfg.account_sid.as_deref(), cfg.auth_token.as_deref()) else {
        return Err("twilio.account_sid/auth_token are not configured; cannot hang up".into());
    };
    let url = twilio_hangup_url(cfg, sid, call_sid);
    let resp = http
        .post(&url)
        .basic_auth(sid, Some(token))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Status=completed")
        .timeout(CONTROL_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    status_ok(resp.status().as_u16(), &url)
}

/// `{api_base}/v1/calls/{uuid}`, the uuid percent-encoded.
pub fn vonage_hangup_url(cfg: &VonageConfig, uuid: &str) -> String {
    format!(
        "{}/v1/calls/{}",
        cfg.api_base.trim_end_matches('/'),
        encode_segment(uuid)
    )
}

/// `{api_base}/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json`, both ids percent-encoded.
pub fn twilio_hangup_url(cfg: &TwilioConfig, account_sid: &str, call_sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}/Calls/{}.json",
        cfg.api_base.trim_end_matches('/'),
        encode_segment(account_sid),
        encode_segment(call_sid)
    )
}

fn status_ok(status: u16, url: &str) -> Result<u16, String> {
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!("{url}: HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_every_data_segment() {
        let v = VonageConfig {
            api_base: "http://h/".into(),
            jwt: None,
        };
        assert_eq!(vonage_hangup_url(&v, "abc"), "http://h/v1/calls/abc");
        assert_eq!(vonage_hangup_url(&v, ".."), "http://h/v1/calls/%2E%2E");
        assert_eq!(
            vonage_hangup_url(&v, "abc?x=1"),
            "http://h/v1/calls/abc%3Fx%3D1"
        );
        let t = TwilioConfig {
            api_base: "http://h".into(),
            account_sid: None,
            auth_token: None,
        };
        assert_eq!(
            twilio_hangup_url(&t, "AC/1", "CA#2"),
            "http://h/2010-04-01/Accounts/AC%2F1/Calls/CA%232.json"
        );
    }
}
