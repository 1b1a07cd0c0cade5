//! The call core on calls the tests synthesise: determinism whatever the chunking (with and
//! without a learned model), the on-beep policy, DTMF from both sources, hang-ups, JSON
//! shapes and config errors. 8 kHz and 16 kHz.

mod common;

use common::{clip_model, ms_of, speech_like, voicemail};
use serde_json::{json, Value};
use tympan_amd::{AmdConfig, AmdEvent, AnsweredBy, AsteriskStatus, Mode};
use tympan_audio::synth;
use tympan_call::config::{MAX_MESSAGE_MS, PLAYBACK_GRACE_MS};
use tympan_call::{
    push_chunked, replay, Action, Analyzer, BeepPolicy, Call, CallConfig, CallEvent, CallState,
    DtmfSource, PlaybackOutcome, Prompt, Signal, Transcript,
};

const RATES: [u32; 2] = [8000, 16000];

fn cfg(rate: u32) -> CallConfig {
    CallConfig {
        inband_dtmf: true,
        ..CallConfig::new("call-1", "file", rate)
    }
}

fn say_and_hang_up() -> Option<BeepPolicy> {
    Some(BeepPolicy {
        message: Some(Prompt::Say {
            text: "Please call us back.".into(),
        }),
        hangup: true,
    })
}

fn beeps(t: &Transcript) -> Vec<u64> {
    t.events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Amd(AmdEvent::Beep { at_ms, .. }) => Some(*at_ms),
            _ => None,
        })
        .collect()
}

#[test]
fn events_do_not_depend_on_chunking_with_or_without_a_model() {
    let model = clip_model();
    for rate in RATES {
        let (mut x, _, _) = voicemail(rate, 800.0);
        x.extend(synth::dtmf_sequence("42#", rate, 90.0, 70.0, -10.0).unwrap());
        x.extend(synth::cadence(
            rate,
            &[480.0, 620.0],
            -14.0,
            500.0,
            500.0,
            2,
        ));
        x.extend(synth::white_noise(rate, 1000.0, -65.0, 3));
        for with_model in [false, true] {
            let make = || CallConfig {
                amd: Some(AmdConfig {
                    sample_rate: rate,
                    mode: Mode::DetectMessageEnd,
                    ..AmdConfig::default()
                }),
                amd_model: with_model.then(|| model.clone()),
                call_progress: true,
                on_beep: say_and_hang_up(),
                ..cfg(rate)
            };
            let want = replay(make(), &x, 160).unwrap();
            let clips: Vec<_> = want
                .events
                .iter()
                .filter_map(|e| match e {
                    CallEvent::Amd(AmdEvent::Clip { at_ms, clip }) => Some((*at_ms, clip)),
                    _ => None,
                })
                .collect();
            if with_model {
                assert!(clips.len() >= 2, "{rate} Hz: {:?}", want.events);
                for (at, c) in &clips {
                    assert_eq!(*at, c.end_ms + 300, "{c:?} stamped {at}");
                }
                assert!(clips.iter().any(|(_, c)| c.label == "beep"), "{clips:?}");
            } else {
                assert!(clips.is_empty());
            }
            // Every analyzer spoke: AMD (beep), in-band DTMF, call-progress tones; the policy
            // asked to play.
            assert_eq!(beeps(&want).len(), 1, "{:?}", want.events);
            let digits: String = want
                .events
                .iter()
                .filter_map(|e| match e {
                    CallEvent::Dtmf { digit, .. } => Some(*digit),
                    _ => None,
                })
                .collect();
            assert_eq!(digits, "42#");
            assert!(want
                .events
                .iter()
                .any(|e| matches!(e, CallEvent::Tone { .. })));
            assert!(matches!(want.actions[..], [Action::Play { id: 1, .. }]));
            for chunk in [37, 8000, 1] {
                let got = replay(make(), &x, chunk).unwrap();
                assert_eq!(got, want, "{rate} Hz, chunk {chunk}, model {with_model}");
            }
        }
    }
}

#[test]
fn a_beep_plays_the_message_then_hangs_up_after_playback() {
    for rate in RATES {
        let (x, start, end) = voicemail(rate, 1500.0);
        let mut call = Call::new(CallConfig {
            on_beep: say_and_hang_up(),
            ..cfg(rate)
        })
        .unwrap();
        let mut t = Transcript::default();
        t.drain(&mut call);
        let now = push_chunked(&mut call, &x, (rate / 50) as usize, 5_000, &mut t);
        let b = beeps(&t);
        assert_eq!(b.len(), 1, "{rate} Hz: {:?}", t.events);
        assert!(
            b[0] >= end && b[0] <= end + 150,
            "beep at {} ({start}..{end})",
            b[0]
        );
        let beep_ev = t
            .events
            .iter()
            .find(|e| matches!(e, CallEvent::Amd(AmdEvent::Beep { .. })))
            .unwrap();
        let msgs = beep_ev.to_json("call-1");
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0]["type"], "beep");
        assert_eq!(msgs[0]["call_id"], "call-1");
        assert_eq!(msgs[0]["at_ms"], b[0]);
        assert!(
            msgs[0]["beep"]["start_ms"]
                .as_u64()
                .unwrap()
                .abs_diff(start)
                <= 30
        );
        assert_eq!(msgs[1], json!({"uuids": ["call-1"], "beep_detected": true}));
        // The message, and no hang-up yet.
        let prompt = Prompt::Say {
            text: "Please call us back.".into(),
        };
        assert_eq!(
            t.actions,
            vec![Action::Play {
                id: 1,
                prompt: prompt.clone()
            }]
        );
        let play_ev = t
            .events
            .iter()
            .find(|e| matches!(e, CallEvent::Action { .. }))
            .unwrap();
        assert_eq!(play_ev.at_ms(), b[0]);
        let j = &play_ev.to_json("call-1")[0];
        assert_eq!(
            (&j["type"], &j["action"], &j["id"], &j["say"]),
            (
                &json!("action"),
                &json!("play"),
                &json!(1),
                &json!("Please call us back.")
            )
        );
        assert_eq!(call.state(), CallState::Active);
        // The safety deadline waits for the longest message after the beep's clock time.
        let d = call.poll_timeout().unwrap();
        assert!(
            d >= 5_000 + b[0] + MAX_MESSAGE_MS + PLAYBACK_GRACE_MS - 40,
            "{d}"
        );
        // Reports about other playbacks change nothing.
        call.playback_finished(9, now);
        t.drain(&mut call);
        assert_eq!(t.actions.len(), 1);
        call.playback_finished(1, now + 10);
        t.drain(&mut call);
        assert_eq!(
            t.actions[1..],
            [Action::Hangup {
                reason: "on_beep".into()
            }]
        );
        assert_eq!(call.state(), CallState::HangingUp);
        let tail: Vec<String> = t.events.iter().rev().take(2).map(|e| e.kind()).collect();
        assert_eq!(tail, ["action", "playback_finished"]);
        let j = &t.events.last().unwrap().to_json("call-1")[0];
        assert_eq!(
            (&j["action"], &j["reason"]),
            (&json!("hangup"), &json!("on_beep"))
        );
        assert_eq!(j["at_ms"], ms_of(rate, x.len()));
        // The platform ends the call.
        call.signal(Signal::RemoteHangup, now + 500);
        t.drain(&mut call);
        assert_eq!(call.state(), CallState::Ended);
        assert!(matches!(t.events.last(), Some(CallEvent::CallEnd { .. })));
        assert_eq!(t.actions.len(), 2);
        let r = call.result().unwrap();
        assert_eq!(r.answered_by, AnsweredBy::MachineStart, "{r:?}");
    }
}

#[test]
fn a_beep_without_message_hangs_up_at_once_and_failed_playback_too() {
    for rate in RATES {
        let (x, _, end) = voicemail(rate, 1000.0);
        let t = replay(
            CallConfig {
                on_beep: Some(BeepPolicy {
                    message: None,
                    hangup: true,
                }),
                ..cfg(rate)
            },
            &x,
            320,
        )
        .unwrap();
        assert_eq!(
            t.actions,
            [Action::Hangup {
                reason: "on_beep".into()
            }]
        );
        let at = t
            .events
            .iter()
            .find_map(|e| match e {
                CallEvent::Action { at_ms, .. } => Some(*at_ms),
                _ => None,
            })
            .unwrap();
        assert_eq!(Some(at), beeps(&t).first().copied());
        assert!(at >= end);

        // A message that cannot be played: hang up anyway, with the failure recorded.
        let mut call = Call::new(CallConfig {
            on_beep: Some(BeepPolicy {
                message: Some(Prompt::File {
                    path: "msgs/missing.wav".into(),
                }),
                hangup: true,
            }),
            ..cfg(rate)
        })
        .unwrap();
        let mut t = Transcript::default();
        let now = push_chunked(&mut call, &x, 160, 0, &mut t);
        assert!(matches!(
            &t.actions[..],
            [Action::Play { id: 1, prompt: Prompt::File { path } }] if path == "msgs/missing.wav"
        ));
        call.playback_failed(1, "msgs/missing.wav: not found", now);
        t.drain(&mut call);
        assert!(matches!(t.actions[..], [_, Action::Hangup { .. }]));
        let failed = t
            .events
            .iter()
            .find(|e| matches!(e, CallEvent::Playback { .. }))
            .unwrap();
        let j = &failed.to_json("call-1")[0];
        assert_eq!(j["type"], "playback_failed");
        assert_eq!(j["reason"], "msgs/missing.wav: not found");

        // hangup = false: the message plays, nothing follows.
        let mut call = Call::new(CallConfig {
            on_beep: Some(BeepPolicy {
                hangup: false,
                ..say_and_hang_up().unwrap()
            }),
            ..cfg(rate)
        })
        .unwrap();
        let mut t = Transcript::default();
        let now = push_chunked(&mut call, &x, 160, 0, &mut t);
        call.playback_finished(1, now);
        call.finish(now);
        t.drain(&mut call);
        assert!(
            matches!(t.actions[..], [Action::Play { .. }]),
            "{:?}",
            t.actions
        );
    }
}

#[test]
fn the_safety_deadline_hangs_up_when_playback_never_finishes() {
    let rate = 8000;
    let (x, _, _) = voicemail(rate, 1000.0);
    let mut call = Call::new(CallConfig {
        on_beep: say_and_hang_up(),
        ..cfg(rate)
    })
    .unwrap();
    let mut t = Transcript::default();
    let now = push_chunked(&mut call, &x, 160, 0, &mut t);
    assert_eq!(t.actions.len(), 1);
    // The shell says the message is 2 s long: the deadline is 2 s + grace after that.
    call.playback_started(1, 2_000, now);
    let d = call.poll_timeout().unwrap();
    assert_eq!(d, now + 2_000 + PLAYBACK_GRACE_MS);
    call.handle_timeout(d - 1);
    t.drain(&mut call);
    assert_eq!(t.actions.len(), 1, "not before the deadline");
    call.handle_timeout(d);
    t.drain(&mut call);
    assert_eq!(
        t.actions[1..],
        [Action::Hangup {
            reason: "on_beep".into()
        }]
    );
    assert!(t.events.iter().any(|e| matches!(
        e,
        CallEvent::Playback {
            id: 1,
            outcome: PlaybackOutcome::TimedOut,
            ..
        }
    )));
    assert_eq!(call.poll_timeout(), None);
    // A late report does not hang up twice.
    call.playback_finished(1, d + 100);
    t.drain(&mut call);
    assert_eq!(t.actions.len(), 2);
}

#[test]
fn dtmf_in_band_and_from_the_transport_each_reported_once() {
    for rate in RATES {
        // In-band only.
        let mut x = synth::white_noise(rate, 300.0, -65.0, 1);
        x.extend(synth::dtmf_sequence("159#", rate, 100.0, 80.0, -10.0).unwrap());
        x.extend(synth::white_noise(rate, 300.0, -65.0, 2));
        let t = replay(cfg(rate), &x, 160).unwrap();
        let got: Vec<(char, DtmfSource)> = t
            .events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Dtmf { digit, source, .. } => Some((*digit, *source)),
                _ => None,
            })
            .collect();
        let want: Vec<_> = "159#".chars().map(|c| (c, DtmfSource::Inband)).collect();
        assert_eq!(got, want, "{rate} Hz");
        let first = t
            .events
            .iter()
            .find(|e| matches!(e, CallEvent::Dtmf { .. }))
            .unwrap();
        // The first tone ends at 400 ms.
        assert!(first.at_ms().abs_diff(400) <= 30, "{first:?}");
        let j = &first.to_json("call-1")[0];
        assert_eq!(
            (&j["type"], &j["digit"], &j["source"]),
            (&json!("dtmf"), &json!("1"), &json!("inband"))
        );

        // Both: the platform also signals each key press, a little after its tone.
        let mut call = Call::new(cfg(rate)).unwrap();
        let mut t = Transcript::default();
        let mut now = push_chunked(&mut call, &synth::silence(rate, 200.0), 160, 0, &mut t);
        let press = |d: char| {
            let mut p = synth::dtmf_tone(d, rate, 100.0, -10.0).unwrap();
            p.extend(synth::silence(rate, 100.0));
            p
        };
        now = push_chunked(&mut call, &press('5'), 160, now, &mut t);
        call.dtmf('5', now).unwrap();
        // From the first transport digit on, in-band detection is off.
        now = push_chunked(&mut call, &press('8'), 160, now, &mut t);
        call.dtmf('8', now).unwrap();
        call.dtmf('b', now).unwrap();
        assert!(call.dtmf('x', now).unwrap_err().field == "digit");
        call.finish(now);
        t.drain(&mut call);
        let got: Vec<(char, DtmfSource)> = t
            .events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Dtmf { digit, source, .. } => Some((*digit, *source)),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            [
                ('5', DtmfSource::Inband),
                ('8', DtmfSource::Transport),
                ('B', DtmfSource::Transport)
            ],
            "{rate} Hz"
        );
        assert_eq!(
            t.events
                .iter()
                .find(|e| matches!(
                    e,
                    CallEvent::Dtmf {
                        source: DtmfSource::Transport,
                        ..
                    }
                ))
                .unwrap()
                .to_json("c")[0]["source"],
            "transport"
        );

        // Transport first, the tone still sounding: only the transport's digit.
        let mut call = Call::new(cfg(rate)).unwrap();
        let mut t = Transcript::default();
        let tone = synth::dtmf_tone('3', rate, 120.0, -10.0).unwrap();
        let now = push_chunked(&mut call, &tone[..tone.len() / 2], 160, 0, &mut t);
        call.dtmf('3', now).unwrap();
        let now = push_chunked(&mut call, &tone[tone.len() / 2..], 160, now, &mut t);
        push_chunked(&mut call, &synth::silence(rate, 200.0), 160, now, &mut t);
        call.finish(now + 200);
        t.drain(&mut call);
        let n = t
            .events
            .iter()
            .filter(|e| matches!(e, CallEvent::Dtmf { .. }))
            .count();
        assert_eq!(n, 1);
        assert_eq!(call.analyzer_names(), ["amd"]);
    }
}

#[test]
fn a_remote_hangup_ends_the_call_with_a_final_amd_result() {
    for rate in RATES {
        let mut call = Call::new(cfg(rate)).unwrap();
        let mut t = Transcript::default();
        let x = speech_like(rate, 1500.0, 5);
        let now = push_chunked(&mut call, &x, 333, 0, &mut t);
        assert!(call.result().is_none());
        call.signal(Signal::RemoteHangup, now);
        t.drain(&mut call);
        assert_eq!(call.state(), CallState::Ended);
        let r = call.result().unwrap();
        assert_eq!(r.answered_by, AnsweredBy::Unknown, "{r:?}");
        assert_eq!(r.amd_status, AsteriskStatus::Hangup);
        let kinds: Vec<String> = t.events.iter().map(|e| e.kind()).collect();
        assert_eq!(kinds.first().map(String::as_str), Some("call_start"));
        // The signal, then what finishing the analyzers gives (the result), then the end.
        let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap();
        assert!(pos("remote_hangup") < pos("result"), "{kinds:?}");
        assert_eq!(pos("call_end"), kinds.len() - 1, "{kinds:?}");
        let end = t.events.last().unwrap().to_json("call-1");
        assert_eq!(
            end,
            [json!({"call_id": "call-1", "type": "call_end", "at_ms": ms_of(rate, x.len())})]
        );
        // Nothing more once ended.
        call.push_audio(&x, now + 10);
        call.signal(Signal::Answered, now + 20);
        call.finish(now + 30);
        assert!(call.poll_event().is_none());
        assert_eq!(call.poll_timeout(), None);
        assert_eq!(call.audio_ms(), ms_of(rate, x.len()));
    }
}

#[test]
fn amd_times_out_when_audio_stalls() {
    let mut call = Call::new(cfg(8000)).unwrap();
    call.signal(Signal::Answered, 0);
    call.push_audio(&speech_like(8000, 500.0, 2), 100);
    let d = call.poll_timeout().unwrap();
    assert_eq!(d, 100 + 30_000);
    call.handle_timeout(d);
    let evs: Vec<CallEvent> = std::iter::from_fn(|| call.poll_event()).collect();
    assert!(evs.iter().any(|e| e.kind() == "answered"));
    assert!(
        evs.iter().any(|e| e.kind() == "decision_timeout"),
        "{evs:?}"
    );
    assert_eq!(call.result().unwrap().answered_by, AnsweredBy::Unknown);
    assert_eq!(call.poll_timeout(), None);
}

/// JSON shapes are the server's of today: an AMD event is its serde form plus `call_id`
/// (floats in short form), `call_start` has `platform` and `sample_rate`.
#[test]
fn json_keeps_the_published_shapes() {
    let (x, _, _) = voicemail(16000, 1000.0);
    let t = replay(
        CallConfig {
            call_id: "MZ-abc.1".into(),
            platform: "vonage".into(),
            ..cfg(16000)
        },
        &x,
        640,
    )
    .unwrap();
    assert_eq!(
        t.events[0].to_json("MZ-abc.1"),
        [
            json!({"call_id": "MZ-abc.1", "type": "call_start", "at_ms": 0,
                "platform": "vonage", "sample_rate": 16000})
        ]
    );
    let mut n_amd = 0;
    for e in &t.events {
        if let CallEvent::Amd(a) = e {
            n_amd += 1;
            let mut today: Value =
                serde_json::from_str(&serde_json::to_string(a).unwrap()).unwrap();
            today["call_id"] = json!("MZ-abc.1");
            assert_eq!(e.to_json("MZ-abc.1")[0], today);
        }
    }
    assert!(n_amd >= 4);
    let beep = t
        .events
        .iter()
        .find(|e| matches!(e, CallEvent::Amd(AmdEvent::Beep { .. })))
        .unwrap();
    let text = beep.to_json("MZ-abc.1")[0].to_string();
    let f = beep.to_json("MZ-abc.1")[0]["beep"]["frequency_hz"]
        .as_f64()
        .unwrap();
    // Short form: as many digits as the f32 needs, not the f64 expansion.
    assert!(text.contains(&format!("\"frequency_hz\":{f}")), "{text}");
    assert!(f.to_string().len() <= 9, "{f}");
    let r = tympan_call::result_json(
        t.events
            .iter()
            .find_map(|e| match e {
                CallEvent::Amd(AmdEvent::Result { result, .. }) => Some(result),
                _ => None,
            })
            .unwrap(),
    );
    assert_eq!(r["answered_by"], "machine_start");
    assert!(r["amd_cause"]
        .as_str()
        .unwrap()
        .starts_with("LONGGREETING-"));
}

/// A plugged-in analyzer sees the same frames and its events come out as `{type: kind, ...}`.
struct Loudness {
    samples: u64,
    rate: u64,
    loud: bool,
    out: Vec<CallEvent>,
}

impl Analyzer for Loudness {
    fn name(&self) -> &'static str {
        "loudness"
    }
    fn push(&mut self, samples: &[f32], _now_ms: u64) {
        self.samples += samples.len() as u64;
        let loud = synth::level_dbm0(samples) > -30.0;
        if loud && !self.loud {
            let mut fields = serde_json::Map::new();
            fields.insert("analyzer".into(), json!("loudness"));
            self.out.push(CallEvent::Custom {
                at_ms: self.samples * 1000 / self.rate,
                kind: "loud".into(),
                fields,
            });
        }
        self.loud = loud;
    }
    fn poll_event(&mut self) -> Option<CallEvent> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }
    fn finish(&mut self, _now_ms: u64) {}
}

#[test]
fn plugged_in_analyzers_run_beside_the_built_in_ones() {
    let mut x = synth::silence(8000, 255.0);
    x.extend(synth::sine(8000, 700.0, 300.0, -10.0));
    let run = |chunk: usize| {
        let mut call = Call::new(CallConfig {
            amd: None,
            inband_dtmf: false,
            ..cfg(8000)
        })
        .unwrap();
        call.add_analyzer(Box::new(Loudness {
            samples: 0,
            rate: 8000,
            loud: false,
            out: vec![],
        }));
        assert_eq!(call.analyzer_names(), ["loudness"]);
        let mut t = Transcript::default();
        push_chunked(&mut call, &x, chunk, 0, &mut t);
        call.finish(1000);
        t.drain(&mut call);
        t
    };
    let t = run(7);
    let j = t.json("call-1");
    let loud: Vec<&Value> = j.iter().filter(|v| v["type"] == "loud").collect();
    // The frame that holds the tone's start ends at 260 ms.
    assert_eq!(
        loud,
        [&json!({"call_id": "call-1", "type": "loud", "at_ms": 260, "analyzer": "loudness"})]
    );
    assert_eq!(run(4000), t);
}

#[test]
fn bad_config_names_the_field() {
    let err = |c: CallConfig| Call::new(c).err().unwrap().field;
    for id in ["", "..", "a/b", "abc?x=1", "%2e%2e", ".hidden", "a..b"] {
        assert_eq!(
            err(CallConfig {
                call_id: id.into(),
                ..cfg(8000)
            }),
            "call_id",
            "{id:?}"
        );
    }
    assert_eq!(
        err(CallConfig {
            call_id: "x".repeat(129),
            ..cfg(8000)
        }),
        "call_id"
    );
    for ok in [
        "6a4d1c2e-0b5f-4e7a-9d3c-1f2e3d4c5b6a",
        "CA1234567890abcdef",
        "a84b4c76e66710@pc33.atlanta.com",
    ] {
        assert!(
            Call::new(CallConfig {
                call_id: ok.into(),
                ..cfg(8000)
            })
            .is_ok(),
            "{ok}"
        );
    }
    assert_eq!(
        err(CallConfig {
            platform: "Vonage WS".into(),
            ..cfg(8000)
        }),
        "platform"
    );
    let mut c = cfg(16000);
    c.sample_rate = 44100;
    assert_eq!(err(c), "sample_rate");
    let mut c = cfg(16000);
    c.amd.as_mut().unwrap().sample_rate = 8000;
    assert_eq!(err(c), "amd.sample_rate");
    let mut c = cfg(8000);
    c.amd.as_mut().unwrap().speech_threshold_ms = 10;
    assert_eq!(err(c), "amd.speech_threshold_ms");
    assert_eq!(
        err(CallConfig {
            amd: None,
            amd_model: Some(clip_model()),
            ..cfg(8000)
        }),
        "amd_model"
    );
    assert_eq!(
        err(CallConfig {
            amd: None,
            on_beep: say_and_hang_up(),
            ..cfg(8000)
        }),
        "on_beep"
    );
    let mut m = tympan_ml::Model::load_from_bytes(&clip_model().save_to_bytes().unwrap()).unwrap();
    m.card.feature_description = "mean of 40 MFCCs at 22050 Hz".into();
    assert_eq!(
        err(CallConfig {
            amd_model: Some(std::sync::Arc::new(m)),
            ..cfg(8000)
        }),
        "amd_model"
    );
    let policy = |message, hangup| CallConfig {
        on_beep: Some(BeepPolicy { message, hangup }),
        ..cfg(8000)
    };
    assert_eq!(
        err(policy(Some(Prompt::Say { text: "  ".into() }), true)),
        "on_beep.message.text"
    );
    for path in ["../etc/passwd", "/etc/passwd", "a//b.wav", "", "C:x.wav"] {
        assert_eq!(
            err(policy(Some(Prompt::File { path: path.into() }), true)),
            "on_beep.message.path",
            "{path:?}"
        );
    }
    assert_eq!(err(policy(None, false)), "on_beep");
    let e = Call::new(policy(None, false)).err().unwrap();
    assert!(e.to_string().contains("on_beep"), "{e}");
}

#[test]
fn shell_commands_are_actions_and_events() {
    let mut call = Call::new(cfg(8000)).unwrap();
    call.push_audio(&synth::silence(8000, 500.0), 500);
    let id = call
        .play(
            Prompt::File {
                path: "hello.wav".into(),
            },
            500,
        )
        .unwrap();
    call.stop_playback(id, 600);
    call.send_dtmf("12#", 700).unwrap();
    assert_eq!(call.send_dtmf("12x", 700).unwrap_err().field, "digits");
    call.hangup("flow ended", 800);
    call.hangup("twice", 800);
    assert_eq!(
        call.play(Prompt::Say { text: "x".into() }, 900)
            .unwrap_err()
            .field,
        "state"
    );
    let actions: Vec<Action> = std::iter::from_fn(|| call.poll_action()).collect();
    assert_eq!(
        actions,
        [
            Action::Play {
                id: 1,
                prompt: Prompt::File {
                    path: "hello.wav".into()
                }
            },
            Action::StopPlayback { id: 1 },
            Action::SendDtmf {
                digits: "12#".into()
            },
            Action::Hangup {
                reason: "flow ended".into()
            },
        ]
    );
    let j: Vec<Value> = std::iter::from_fn(|| call.poll_event())
        .filter(|e| matches!(e, CallEvent::Action { .. }))
        .flat_map(|e| e.to_json("call-1"))
        .collect();
    assert_eq!(j.len(), 4);
    assert_eq!(
        j[0],
        json!({"call_id": "call-1", "type": "action", "at_ms": 500, "action": "play",
               "id": 1, "file": "hello.wav"})
    );
    assert_eq!(j[2]["digits"], "12#");
    assert_eq!(j[3]["reason"], "flow ended");
}
