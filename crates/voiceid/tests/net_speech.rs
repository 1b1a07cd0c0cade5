//! Net-speech accounting on espeak-ng speech (espeak-ng is required; `scripts/setup.sh`
//! installs it — without it this test fails) through the telephone channel, with silence and
//! a tone around it.

use tympan_audio::synth;
use tympan_voiceid::channel::{telephone_round_trip, Law};
use tympan_voiceid::speech::{net_speech, SpeechMeter, SpeechRequirements};
use tympan_voiceid::VoiceIdError;

/// espeak-ng speech at its native 22 050 Hz.
fn espeak(text: &str) -> Vec<f32> {
    let out = std::process::Command::new("espeak-ng")
        .args(["--stdout", "-v", "en-us", "-s", "150", text])
        .output()
        .unwrap_or_else(|e| panic!("espeak-ng is required (scripts/setup.sh installs it): {e}"));
    assert!(out.status.success(), "espeak-ng failed");
    let audio = tympan_audio::decode::decode_bytes(&out.stdout).expect("espeak-ng WAV");
    assert_eq!(audio.sample_rate, 22_050);
    audio.channels[0].clone()
}

#[test]
fn silence_and_tones_do_not_count() {
    let speech = espeak(
        "Thank you for calling. Please say your account number, then the reason for your call.",
    );
    let speech_8k = telephone_round_trip(&speech, 22_050, Law::Ulaw).unwrap();
    let speech_ms = speech_8k.len() as f64 / 8.0;
    let mut call = synth::white_noise(8_000, 2_000.0, -60.0, 1);
    call.extend(&speech_8k);
    call.extend(synth::sine(8_000, 1_000.0, 1_500.0, -12.0)); // a beep is not speech
    call.extend(synth::white_noise(8_000, 2_000.0, -60.0, 2));
    let ns = net_speech(&call, 8_000).unwrap();
    assert!(
        ns.net_speech_ms > 0.5 * speech_ms && ns.net_speech_ms <= speech_ms,
        "net {} ms of {} ms of speech",
        ns.net_speech_ms,
        speech_ms
    );
    assert!((ns.duration_ms - call.len() as f64 / 8.0).abs() < 1e-9);
    // Segments lie inside the speech part (2 s of noise before it).
    for &(s, e) in &ns.segments {
        assert!(
            s >= 1_900.0 && e <= 2_000.0 + speech_ms + 100.0,
            "segment {s}..{e}"
        );
    }
    // The same count whatever the chunking.
    let mut m = SpeechMeter::new(8_000).unwrap();
    for chunk in call.chunks(137) {
        m.push(chunk);
    }
    assert_eq!(m.net_speech_ms(), ns.net_speech_ms);
    assert_eq!(m.finish(), ns);

    // A few seconds of speech are not enough to authenticate (10 s) or enroll (30 s).
    let req = SpeechRequirements::default();
    match req.check_authentication(ns.net_speech_ms) {
        Err(VoiceIdError::NotEnoughSpeech { need_ms, .. }) => assert_eq!(need_ms, 10_000.0),
        other => panic!("{other:?}"),
    }
    // Voice ID allows 5 s: the requirement is configurable.
    let five = SpeechRequirements {
        authentication_ms: 5_000.0,
        ..req
    };
    five.validate().unwrap();
    assert_eq!(
        five.check_authentication(ns.net_speech_ms).is_ok(),
        ns.net_speech_ms >= 5_000.0
    );
    // Pure noise has no speech at all.
    let quiet = synth::white_noise(8_000, 5_000.0, -55.0, 3);
    assert_eq!(net_speech(&quiet, 8_000).unwrap().net_speech_ms, 0.0);
}
