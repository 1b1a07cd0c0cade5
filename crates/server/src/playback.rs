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
        return Err(format!("play_wav `{rel}` must be a relative path under media_dir"));
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
        (Some(s), None) if s.chars().count() > MAX_SAY_CHARS => {
            Err(format!("on_beep.say is longer than {MAX_SAY_CHARS} characters"))
        }
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
    let (src_rate, samples) = parse_wav(&wav)?;
    let mut out = resample_linear(&samples, src_rate, rate);
    out.truncate((MAX_MESSAGE_S * rate) as usize);
    Ok(out
        .iter()
        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
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

/// Parse a 16-bit PCM RIFF/WAVE (any channel count, downmixed to mono).
/// Sizes larger than the bytes present are clamped: `espeak-ng --stdout` writes a streaming
/// header with a huge data size.
///
/// Stop-gap until the WAV decoder lands in `tympan_audio`.
pub fn parse_wav(b: &[u8]) -> Result<(u32, Vec<f32>), String> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("WAV: no RIFF/WAVE header at byte 0".into());
    }
    let mut pos = 12usize;
    let mut fmt: Option<(u16, u32, u16)> = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body = pos + 8;
        let end = body.saturating_add(size).min(b.len());
        if id == b"fmt " {
            if end - body < 16 {
                return Err(format!("WAV: fmt chunk at byte {pos} shorter than 16 bytes"));
            }
            let f = &b[body..end];
            let format = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            if !(format == 1 || format == 0xFFFE) || bits != 16 {
                return Err(format!(
                    "WAV: fmt at byte {pos}: format {format}, {bits} bits; 16-bit PCM expected"
                ));
            }
            if channels == 0 || rate == 0 {
                return Err(format!("WAV: fmt at byte {pos}: {channels} channels, {rate} Hz"));
            }
            fmt = Some((channels, rate, bits));
        } else if id == b"data" {
            let Some((channels, rate, _)) = fmt else {
                return Err(format!("WAV: data chunk at byte {pos} before fmt"));
            };
            let ch = channels as usize;
            let frame_bytes = 2 * ch;
            let data = &b[body..end];
            let mut out = Vec::with_capacity(data.len() / frame_bytes);
            for frame in data.chunks_exact(frame_bytes) {
                let sum: f32 = frame
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                    .sum();
                out.push(sum / ch as f32);
            }
            return Ok((rate, out));
        }
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    Err("WAV: no data chunk".into())
}

/// Linear-interpolation resampling.
///
/// Stop-gap until `tympan_audio::resample` is on main: no anti-alias filter, so downsampling
/// folds energy above the new Nyquist frequency back (acceptable for a spoken prompt, not for
/// analysis).
pub fn resample_linear(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() {
        return x.to_vec();
    }
    let n_out = (x.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let step = f64::from(from) / f64::from(to);
    (0..n_out)
        .map(|i| {
            let t = i as f64 * step;
            let k = t.floor() as usize;
            let frac = (t - k as f64) as f32;
            let a = x[k.min(x.len() - 1)];
            let b = x[(k + 1).min(x.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, samples: &[i16], data_size: Option<u32>) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + samples.len() as u32 * 2).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * 2 * channels as u32).to_le_bytes());
        v.extend_from_slice(&(2 * channels).to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        let size = data_size.unwrap_or(samples.len() as u32 * 2);
        v.extend_from_slice(&size.to_le_bytes());
        for s in samples {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn parses_stereo_and_streaming_header() {
        let (r, x) = parse_wav(&wav(8000, 2, &[16384, 0, -16384, -16384], None)).unwrap();
        assert_eq!(r, 8000);
        assert_eq!(x, vec![0.25, -0.5]);
        let (_, x) = parse_wav(&wav(22050, 1, &[1, 2, 3], Some(0x7FFF_F000))).unwrap();
        assert_eq!(x.len(), 3);
    }

    #[test]
    fn rejects_non_pcm16_with_offset() {
        let mut w = wav(8000, 1, &[0; 4], None);
        w[34] = 8; // bits per sample
        let e = parse_wav(&w).unwrap_err();
        assert!(e.contains("byte 12") && e.contains("8 bits"), "{e}");
        assert!(parse_wav(b"RIFX").unwrap_err().contains("byte 0"));
    }

    #[test]
    fn linear_resample_keeps_length_ratio_and_ramp() {
        let x: Vec<f32> = (0..2205).map(|i| i as f32 / 2205.0).collect();
        let y = resample_linear(&x, 22050, 16000);
        assert_eq!(y.len(), 1600);
        // A ramp stays a ramp: sample i of the output sits at time i/16000.
        for (i, v) in y.iter().enumerate().step_by(97) {
            let want = (i as f32 * 22050.0 / 16000.0) / 2205.0;
            assert!((v - want).abs() < 1e-4, "{i}: {v} vs {want}");
        }
    }

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
        if std::process::Command::new("espeak-ng")
            .arg("--version")
            .output()
            .is_err()
        {
            if std::env::var_os("CI").is_some() {
                panic!("espeak-ng missing under CI");
            }
            eprintln!("SKIP: espeak-ng not installed");
            return;
        }
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
