//! Audio played into a call on a beep: espeak-ng speech or a WAV file, at the call's rate.

use crate::config::BeepAction;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// Longest `say` text accepted, in characters.
pub const MAX_SAY_CHARS: usize = 1_000;
/// Largest WAV (file or espeak-ng output) accepted, in bytes.
pub const MAX_WAV_BYTES: usize = 20 << 20;
/// Longest message played, in seconds (longer audio is cut).
pub const MAX_MESSAGE_S: u32 = 60;
/// How long espeak-ng may run.
pub const ESPEAK_TIMEOUT: Duration = Duration::from_secs(10);

/// Check a per-call `play_wav` path: relative, inside `media_dir`, no `..`.
pub fn media_path(media_dir: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if rel.is_empty() || p.is_absolute() {
        return Err(format!(
            "play_wav `{rel}` must be a relative path under media_dir"
        ));
    }
    if p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(format!("play_wav `{rel}` may not contain `..` or `.`"));
    }
    Ok(media_dir.join(p))
}

/// Check an action's fields without running anything (used when a call starts).
pub fn check_action(a: &BeepAction, media_dir: &Path) -> Result<(), String> {
    match (&a.say, &a.play_wav) {
        (Some(_), Some(_)) => Err("on_beep: give `say` or `play_wav`, not both".into()),
        (Some(s), None) if s.trim().is_empty() => Err("on_beep.say is empty".into()),
        (Some(s), None) if s.chars().count() > MAX_SAY_CHARS => Err(format!(
            "on_beep.say is longer than {MAX_SAY_CHARS} characters"
        )),
        (None, Some(p)) => media_path(media_dir, p).map(|_| ()),
        _ => Ok(()),
    }
}

/// Render the action's message as 16-bit mono PCM at `rate` (empty when it has none).
pub async fn render(
    a: &BeepAction,
    rate: u32,
    espeak: &str,
    media_dir: &Path,
) -> Result<Vec<i16>, String> {
    let wav = if let Some(text) = &a.say {
        // espeak-ng writes to a pipe with a placeholder `data` size; the decoder reads such
        // a chunk to the end of the input.
        synthesize(espeak, text).await?
    } else if let Some(rel) = &a.play_wav {
        let path = media_path(media_dir, rel)?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes.len() > MAX_WAV_BYTES {
            return Err(format!(
                "{}: larger than {MAX_WAV_BYTES} bytes",
                path.display()
            ));
        }
        bytes
    } else {
        return Ok(Vec::new());
    };
    let mut out = decode_pcm(&wav, rate)?;
    out.truncate((MAX_MESSAGE_S * rate) as usize);
    Ok(out)
}

/// Audio file bytes (WAV, or any format the decoder reads) as 16-bit mono PCM at `rate`
/// (channels down-mixed).
pub fn decode_pcm(bytes: &[u8], rate: u32) -> Result<Vec<i16>, String> {
    let audio = tympan_audio::decode::decode_bytes(bytes).map_err(|e| format!("WAV: {e}"))?;
    let mono = audio.downmix();
    let out = tympan_audio::resample::resample(&mono, audio.sample_rate, rate)
        .map_err(|e| format!("resampling: {e}"))?;
    Ok(out
        .iter()
        .map(|&x| tympan_audio::pcm::f32_to_i16(x))
        .collect())
}

/// Run `espeak-ng --stdout TEXT` and return its WAV bytes.
pub async fn synthesize(espeak: &str, text: &str) -> Result<Vec<u8>, String> {
    let mut cmd = tokio::process::Command::new(espeak);
    cmd.arg("--stdout")
        .arg("--")
        .arg(text)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(ESPEAK_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("{espeak}: no answer within {ESPEAK_TIMEOUT:?}"))?
        .map_err(|e| format!("{espeak}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{espeak}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_stay_inside_media_dir() {
        let d = Path::new("/srv/media");
        assert_eq!(media_path(d, "a/b.wav").unwrap(), d.join("a/b.wav"));
        assert!(media_path(d, "../etc/passwd").is_err());
        assert!(media_path(d, "/etc/passwd").is_err());
        assert!(media_path(d, "").is_err());
    }

    #[test]
    fn action_checks() {
        let d = Path::new("m");
        let both = BeepAction {
            say: Some("x".into()),
            play_wav: Some("a.wav".into()),
            hangup: false,
        };
        assert!(check_action(&both, d).unwrap_err().contains("not both"));
        let long = BeepAction {
            say: Some("a".repeat(MAX_SAY_CHARS + 1)),
            ..Default::default()
        };
        assert!(check_action(&long, d).is_err());
    }

    #[tokio::test]
    async fn espeak_renders_speech_at_call_rate() {
        // espeak-ng is installed by scripts/setup.sh; without it this test fails.
        assert!(
            std::process::Command::new("espeak-ng")
                .arg("--version")
                .output()
                .is_ok(),
            "espeak-ng is not runnable: run scripts/setup.sh"
        );
        let a = BeepAction {
            say: Some("Hello there".into()),
            ..Default::default()
        };
        let pcm = render(&a, 8000, "espeak-ng", Path::new(".")).await.unwrap();
        // About a second of speech at 8 kHz, not silence.
        assert!(pcm.len() > 4000 && pcm.len() < 40_000, "{}", pcm.len());
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 3000, "peak {peak}");
    }
}
