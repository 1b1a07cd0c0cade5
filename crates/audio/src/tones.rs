//! Streaming call-progress tone detection: dial tone, ringback, busy, reorder (fast busy),
//! special information tones (SIT) and fax CNG/CED.
//!
//! # Method
//! Audio is cut into 25 ms blocks (200 samples at 8 kHz): the Goertzel bin width is then 40 Hz,
//! so 440 and 480 Hz fall on each other's nulls. Each block is measured at every frequency of
//! the tone plan and classified as the pattern whose tones hold the largest share of the block's
//! energy (at least `min_energy_ratio`; dual patterns also need both tones within 10 dB):
//!
//! | pattern | Hz |
//! |---|---|
//! | dial tone | 350 + 440 |
//! | ringback | 440 + 480 |
//! | busy / reorder | 480 + 620 |
//! | SIT segments | 913.8 or 985.2, then 1370.6 or 1428.5, then 1776.7 |
//! | fax CNG | 1100 |
//! | fax CED / answer tone | 2100 |
//!
//! Runs of equal blocks (one odd block is bridged) become segments, timed to block resolution
//! (25 ms). Segments are classified when they end:
//! - dial tone: ≥ `min_dial_ms` (1 s); ringback: ≥ 700 ms;
//! - 480+620 bursts of 375–800 ms are **busy** (0.5 s on / 0.5 s off), 150–375 ms **reorder**
//!   (0.25/0.25); each burst is one event;
//! - SIT: three single-tone segments low→mid→high, each 200–450 ms, at most 100 ms apart; one
//!   event spanning all three;
//! - CNG: a 1100 Hz burst of 350–800 ms; CED: 2100 Hz for ≥ 500 ms.
//!
//! Events come out when the tone (or SIT sequence) ends, one or two blocks later; call
//! [`CallProgressDetector::flush`] at end of stream for a tone still on.

use crate::goertzel::{check_sample_rate, clean, GoertzelBank};
use crate::synth::dbm0_to_amplitude;
use crate::AudioError;

/// Supported sample rates, Hz.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8000..=48_000;

const FREQS: [f32; 11] = [
    350.0, 440.0, 480.0, 620.0, 913.8, 985.2, 1370.6, 1428.5, 1776.7, 1100.0, 2100.0,
];

/// Kind of call-progress tone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToneKind {
    /// 350+440 Hz continuous.
    DialTone,
    /// 440+480 Hz (US ringback burst).
    Ringback,
    /// 480+620 Hz, 0.5 s on / 0.5 s off (one event per burst).
    Busy,
    /// 480+620 Hz, 0.25 s on / 0.25 s off (one event per burst).
    Reorder,
    /// Special information tone (three rising segments).
    Sit,
    /// Fax calling tone, 1100 Hz 0.5 s on / 3 s off (one event per burst).
    FaxCng,
    /// Fax/modem answer tone, 2100 Hz.
    FaxCed,
}

/// A detected tone. Times in ms from the first sample pushed (25 ms resolution).
#[derive(Clone, Debug, PartialEq)]
pub struct ToneEvent {
    /// What was heard.
    pub kind: ToneKind,
    /// Start of the tone (or of the SIT sequence).
    pub start_ms: f64,
    /// End of the tone.
    pub end_ms: f64,
    /// Frequencies of the pattern, Hz (for SIT the three measured segment frequencies).
    pub frequencies_hz: Vec<f32>,
}

/// Detector settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CallProgressConfig {
    /// Minimum level of each tone, dBm0 (default −40).
    pub min_level_dbm0: f32,
    /// Minimum share of block energy in the pattern's tones (default 0.7).
    pub min_energy_ratio: f32,
    /// Minimum dial-tone duration, ms (default 1000).
    pub min_dial_ms: f64,
}

impl Default for CallProgressConfig {
    fn default() -> Self {
        CallProgressConfig {
            min_level_dbm0: -40.0,
            min_energy_ratio: 0.7,
            min_dial_ms: 1000.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cls {
    Dial,
    Ring,
    Busy,
    SitLow(usize),
    SitMid(usize),
    SitHigh,
    Cng,
    Ced,
}

impl Cls {
    fn tones(self) -> Vec<usize> {
        match self {
            Cls::Dial => vec![0, 1],
            Cls::Ring => vec![1, 2],
            Cls::Busy => vec![2, 3],
            Cls::SitLow(i) | Cls::SitMid(i) => vec![i],
            Cls::SitHigh => vec![8],
            Cls::Cng => vec![9],
            Cls::Ced => vec![10],
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    cls: Cls,
    first: u64,
    last: u64,
}

/// Streaming call-progress tone detector; see the module docs.
#[derive(Clone, Debug)]
pub struct CallProgressDetector {
    fs: u32,
    cfg: CallProgressConfig,
    n: usize,
    bank: GoertzelBank,
    buf: Vec<f32>,
    block: u64,
    cur: Option<Segment>,
    odd: u32,
    history: Vec<Segment>,
    min_amp: f64,
}

impl CallProgressDetector {
    /// A detector for audio at `sample_rate` Hz (8000–48000).
    pub fn new(sample_rate: u32, config: CallProgressConfig) -> Result<Self, AudioError> {
        check_sample_rate(sample_rate, &SAMPLE_RATES)?;
        let n = sample_rate as usize / 40;
        Ok(CallProgressDetector {
            fs: sample_rate,
            min_amp: dbm0_to_amplitude(config.min_level_dbm0) as f64,
            cfg: config,
            n,
            bank: GoertzelBank::new(&FREQS, sample_rate),
            buf: Vec::with_capacity(n),
            block: 0,
            cur: None,
            odd: 0,
            history: Vec::new(),
        })
    }

    /// Feed samples (any chunk size; non-finite samples count as 0). Returns tones that ended.
    pub fn push(&mut self, samples: &[f32]) -> Vec<ToneEvent> {
        let mut out = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.n - self.buf.len()).min(rest.len());
            self.buf.extend(rest[..take].iter().map(|&x| clean(x)));
            rest = &rest[take..];
            if self.buf.len() == self.n {
                let c = self.classify();
                self.buf.clear();
                self.step(c, &mut out);
                self.block += 1;
            }
        }
        out
    }

    /// End of stream: classify a tone still on.
    pub fn flush(&mut self) -> Vec<ToneEvent> {
        let mut out = Vec::new();
        if let Some(s) = self.cur.take() {
            self.close(s, &mut out);
        }
        out
    }

    fn classify(&self) -> Option<(Cls, Vec<f32>)> {
        let b = &self.buf;
        let ms = b.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / b.len() as f64;
        // Cauchy-Schwarz: |X|² ≤ N·Σx², so a tone's amplitude estimate 2|X|/N is at most
        // 2·sqrt(ms). A block quieter than (min_amp/2)² cannot hold any tone of the plan at
        // `min_level_dbm0`, and the filter bank is skipped (half of that bound, for rounding).
        if ms <= 0.0 || ms < 0.5 * self.min_amp * self.min_amp / 4.0 {
            return None;
        }
        let mut amp = [0.0f64; FREQS.len()];
        self.bank.amplitude_into(b, &mut amp);
        let pick = |a: usize, b: usize| if amp[a] >= amp[b] { a } else { b };
        let cands = [
            Cls::Dial,
            Cls::Ring,
            Cls::Busy,
            Cls::SitLow(pick(4, 5)),
            Cls::SitMid(pick(6, 7)),
            Cls::SitHigh,
            Cls::Cng,
            Cls::Ced,
        ];
        let mut best: Option<(Cls, f64)> = None;
        for c in cands {
            let t = c.tones();
            if t.iter().any(|&i| amp[i] < self.min_amp) {
                continue;
            }
            if t.len() == 2 && (20.0 * (amp[t[0]] / amp[t[1]]).log10()).abs() > 10.0 {
                continue;
            }
            let share = t.iter().map(|&i| amp[i] * amp[i] / 2.0).sum::<f64>() / ms;
            let better = match best {
                None => true,
                Some((_, s)) => share > s,
            };
            if share >= self.cfg.min_energy_ratio as f64 && better {
                best = Some((c, share));
            }
        }
        best.map(|(c, _)| (c, c.tones().iter().map(|&i| FREQS[i]).collect()))
    }

    fn step(&mut self, c: Option<(Cls, Vec<f32>)>, out: &mut Vec<ToneEvent>) {
        let blk = self.block;
        let cls = c.map(|(c, _)| c);
        match (&mut self.cur, cls) {
            (Some(s), Some(c)) if s.cls == c => {
                s.last = blk;
                self.odd = 0;
            }
            (Some(_), _) => {
                self.odd += 1;
                // a different pattern, or a second odd block, ends the segment
                if cls.is_some() || self.odd >= 2 {
                    let s = self.cur.take().expect("segment");
                    self.close(s, out);
                    self.odd = 0;
                    if let Some(c) = cls {
                        self.cur = Some(Segment {
                            cls: c,
                            first: blk,
                            last: blk,
                        });
                    }
                }
            }
            (None, Some(c)) => {
                self.cur = Some(Segment {
                    cls: c,
                    first: blk,
                    last: blk,
                });
                self.odd = 0;
            }
            (None, None) => {}
        }
    }

    fn ms_of_block(&self, b: u64) -> f64 {
        (b * self.n as u64) as f64 * 1000.0 / self.fs as f64
    }

    fn close(&mut self, s: Segment, out: &mut Vec<ToneEvent>) {
        let start = self.ms_of_block(s.first);
        let end = self.ms_of_block(s.last + 1);
        let d = end - start;
        let freqs: Vec<f32> = s.cls.tones().iter().map(|&i| FREQS[i]).collect();
        let ev = |kind| ToneEvent {
            kind,
            start_ms: start,
            end_ms: end,
            frequencies_hz: freqs.clone(),
        };
        match s.cls {
            Cls::Dial if d >= self.cfg.min_dial_ms => out.push(ev(ToneKind::DialTone)),
            Cls::Ring if d >= 700.0 => out.push(ev(ToneKind::Ringback)),
            Cls::Busy if (375.0..=800.0).contains(&d) => out.push(ev(ToneKind::Busy)),
            Cls::Busy if (150.0..375.0).contains(&d) => out.push(ev(ToneKind::Reorder)),
            Cls::Cng if (350.0..=800.0).contains(&d) => out.push(ev(ToneKind::FaxCng)),
            Cls::Ced if d >= 500.0 => out.push(ev(ToneKind::FaxCed)),
            Cls::SitLow(_) | Cls::SitMid(_) | Cls::SitHigh => {
                if (200.0..=450.0).contains(&d) {
                    self.history.push(s);
                    if self.history.len() > 3 {
                        self.history.remove(0);
                    }
                    if let [a, b, c] = self.history[..] {
                        let gap_ok = |x: Segment, y: Segment| {
                            self.ms_of_block(y.first) - self.ms_of_block(x.last + 1) <= 100.0
                        };
                        if matches!(
                            (a.cls, b.cls, c.cls),
                            (Cls::SitLow(_), Cls::SitMid(_), Cls::SitHigh)
                        ) && gap_ok(a, b)
                            && gap_ok(b, c)
                        {
                            let f = |x: Segment| FREQS[x.cls.tones()[0]];
                            out.push(ToneEvent {
                                kind: ToneKind::Sit,
                                start_ms: self.ms_of_block(a.first),
                                end_ms: end,
                                frequencies_hz: vec![f(a), f(b), f(c)],
                            });
                            self.history.clear();
                        }
                    }
                } else {
                    self.history.clear();
                }
            }
            _ => {}
        }
    }
}

impl ToneKind {
    /// Snake-case name: `dial_tone`, `ringback`, `busy`, `reorder`, `sit`, `fax_cng`, `fax_ced`.
    pub fn as_str(self) -> &'static str {
        match self {
            ToneKind::DialTone => "dial_tone",
            ToneKind::Ringback => "ringback",
            ToneKind::Busy => "busy",
            ToneKind::Reorder => "reorder",
            ToneKind::Sit => "sit",
            ToneKind::FaxCng => "fax_cng",
            ToneKind::FaxCed => "fax_ced",
        }
    }

    /// Whether the tone has single-frequency parts a beep detector also hears (SIT, fax
    /// CNG/CED).
    pub fn has_beep_like_parts(self) -> bool {
        matches!(self, ToneKind::Sit | ToneKind::FaxCng | ToneKind::FaxCed)
    }
}

/// Share of a beep's length that must lie inside one SIT or fax tone for
/// [`beep_is_part_of_tone`] to call it that tone's part (more than half).
pub const BEEP_IN_TONE_SHARE: f64 = 0.5;

/// True if more than [`BEEP_IN_TONE_SHARE`] of the beep lies inside a single-frequency
/// call-progress tone (SIT, fax CNG/CED): the beep detector hears those too, and the specific
/// name wins.
pub fn beep_is_part_of_tone(beep: &crate::beep::BeepEvent, tones: &[ToneEvent]) -> bool {
    let len = (beep.end_ms - beep.start_ms).max(1e-9);
    tones.iter().any(|t| {
        t.kind.has_beep_like_parts() && {
            let overlap = beep.end_ms.min(t.end_ms) - beep.start_ms.max(t.start_ms);
            overlap > BEEP_IN_TONE_SHARE * len
        }
    })
}

/// One entry of [`merge_tones_and_beeps`]: a call-progress tone or a beep.
#[derive(Clone, Debug, PartialEq)]
pub enum Detection {
    /// A call-progress tone.
    Tone(ToneEvent),
    /// A beep that is not part of a SIT or fax tone.
    Beep(crate::beep::BeepEvent),
}

impl Detection {
    /// Start of the tone or beep, ms.
    pub fn start_ms(&self) -> f64 {
        match self {
            Detection::Tone(t) => t.start_ms,
            Detection::Beep(b) => b.start_ms,
        }
    }
}

/// The events of a [`CallProgressDetector`] and a [`crate::beep::BeepDetector`] run over the
/// same audio as one list sorted by start (stable: at equal starts beeps come first, each
/// detector's events in their order), leaving out beeps that are part of a SIT or fax tone
/// ([`beep_is_part_of_tone`]).
pub fn merge_tones_and_beeps(
    tones: Vec<ToneEvent>,
    beeps: Vec<crate::beep::BeepEvent>,
) -> Vec<Detection> {
    let mut out: Vec<Detection> = beeps
        .into_iter()
        .filter(|b| !beep_is_part_of_tone(b, &tones))
        .map(Detection::Beep)
        .collect();
    out.extend(tones.into_iter().map(Detection::Tone));
    out.sort_by(|a, b| a.start_ms().total_cmp(&b.start_ms()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beep::BeepEvent;

    fn tone(kind: ToneKind, start_ms: f64, end_ms: f64) -> ToneEvent {
        ToneEvent {
            kind,
            start_ms,
            end_ms,
            frequencies_hz: vec![1100.0],
        }
    }

    fn beep(start_ms: f64, end_ms: f64) -> BeepEvent {
        BeepEvent {
            start_ms,
            end_ms,
            frequency_hz: 1100.0,
            level_db: -20.0,
            frequencies_hz: vec![1100.0],
        }
    }

    #[test]
    fn beeps_inside_sit_or_fax_tones_are_left_out_and_the_rest_sorted() {
        let tones = vec![
            tone(ToneKind::FaxCng, 1000.0, 1500.0),
            tone(ToneKind::Ringback, 3000.0, 5000.0),
        ];
        let beeps = vec![
            beep(1050.0, 1450.0), // inside the CNG burst: its part
            beep(1400.0, 1700.0), // a third inside: a beep of its own
            beep(3100.0, 3500.0), // inside ringback, which has no beep-like part
            beep(200.0, 400.0),
        ];
        let got: Vec<(bool, f64)> = merge_tones_and_beeps(tones, beeps)
            .iter()
            .map(|d| (matches!(d, Detection::Beep(_)), d.start_ms()))
            .collect();
        assert_eq!(
            got,
            [
                (true, 200.0),
                (false, 1000.0),
                (true, 1400.0),
                (false, 3000.0),
                (true, 3100.0)
            ]
        );
        assert_eq!(ToneKind::FaxCed.as_str(), "fax_ced");
        assert!(!ToneKind::Busy.has_beep_like_parts());
    }
}
