//! Tones and music are not speech: the tone test (two spectral peaks hold nearly all the
//! energy) and the steadiness test (the spectrum repeats the one [`STEADY_LAG_HOPS`] hops
//! earlier; music while most of the last [`STEADY_WINDOW_HOPS`] hops are steady).

use std::collections::VecDeque;

use crate::goertzel::first_max;

use super::{MUSIC_SHARE, STEADY_LAG_HOPS, STEADY_SHARE, STEADY_WINDOW_HOPS, TONAL_SHARE};

/// The spectra of the last hops and how many of them were steady.
pub(super) struct MusicTracker {
    /// Bin powers (200–4000 Hz) of the last [`STEADY_LAG_HOPS`] + 1 hops, a ring; the newest
    /// is the current hop's, which the tone test reads too.
    spectra: Vec<Vec<f64>>,
    hops: usize,
    /// Steadiness of the last [`STEADY_WINDOW_HOPS`] hops (true = steady), and its count.
    steady: VecDeque<bool>,
    steady_n: usize,
}

const RING: usize = STEADY_LAG_HOPS + 1;

impl MusicTracker {
    pub(super) fn new() -> Self {
        MusicTracker {
            spectra: vec![Vec::new(); RING],
            hops: 0,
            steady: VecDeque::new(),
            steady_n: 0,
        }
    }

    /// The buffer for this hop's spectrum: fill it, then call [`Self::end_hop`].
    pub(super) fn begin_hop(&mut self) -> &mut Vec<f64> {
        let slot = self.hops % RING;
        self.hops += 1;
        &mut self.spectra[slot]
    }

    /// The hop's spectrum is in: update the steadiness count.
    pub(super) fn end_hop(&mut self) {
        let st = self.steady_now();
        self.steady.push_back(st);
        self.steady_n += st as usize;
        if self.steady.len() > STEADY_WINDOW_HOPS {
            self.steady_n -= self.steady.pop_front().unwrap_or(false) as usize;
        }
    }

    /// Whether the audio is music right now: at least [`MUSIC_SHARE`] of the last
    /// [`STEADY_WINDOW_HOPS`] hops were steady.
    pub(super) fn in_music(&self) -> bool {
        self.steady_n as f64 >= MUSIC_SHARE * STEADY_WINDOW_HOPS as f64
    }

    /// Whether the newest hop is tonal (false before the first hop).
    pub(super) fn tonal(&self) -> bool {
        self.newest().is_some_and(tonal)
    }

    /// Bin powers of the newest hop (None before the first hop).
    fn newest(&self) -> Option<&[f64]> {
        (self.hops > 0).then(|| &self.spectra[(self.hops - 1) % RING][..])
    }

    /// Whether the newest hop's spectrum nearly repeats the one [`STEADY_LAG_HOPS`] before.
    fn steady_now(&self) -> bool {
        if self.hops <= STEADY_LAG_HOPS {
            return false;
        }
        let now = &self.spectra[(self.hops - 1) % RING];
        let then = &self.spectra[self.hops % RING];
        // four lanes each (no loop-carried add chain)
        let (mut lo4, mut hi4) = ([0.0f64; 4], [0.0f64; 4]);
        let mut quads = now.chunks_exact(4).zip(then.chunks_exact(4));
        for (a, b) in &mut quads {
            for j in 0..4 {
                // `min`/`max` by comparison (bin powers are never NaN): the same values, in
                // packed min/max instructions
                let (x, y) = (a[j], b[j]);
                let (lo, hi) = if x < y { (x, y) } else { (y, x) };
                lo4[j] += lo;
                hi4[j] += hi;
            }
        }
        let tail = now.len() / 4 * 4;
        let (mut lo, mut hi) = (lo4.iter().sum::<f64>(), hi4.iter().sum::<f64>());
        for (&a, &b) in now[tail..].iter().zip(&then[tail..]) {
            lo += a.min(b);
            hi += a.max(b);
        }
        hi > 0.0 && lo >= STEADY_SHARE * hi
    }
}

/// Whether the two strongest peaks (±1 bin each) of the bin powers `p` hold at least
/// [`TONAL_SHARE`] of their sum.
fn tonal(p: &[f64]) -> bool {
    let total: f64 = p.iter().sum();
    if total <= 0.0 {
        return false;
    }
    // The strongest bin (the first of equals), then the strongest more than 3 bins from it
    // (the first of equals again: left of the first peak before right of it).
    let Some((a, _)) = first_max(p) else {
        return false;
    };
    let left = first_max(&p[..a.saturating_sub(3)]);
    let right = first_max(p.get(a + 4..).unwrap_or(&[])).map(|(i, v)| (i + a + 4, v));
    let second = match (left, right) {
        (Some(l), Some(r)) => Some(if l.1 >= r.1 { l.0 } else { r.0 }),
        (l, r) => l.or(r).map(|(i, _)| i),
    };
    let around = |i: usize| {
        p[i.saturating_sub(1)..(i + 2).min(p.len())]
            .iter()
            .sum::<f64>()
    };
    let e2 = second.map_or(0.0, around);
    (around(a) + e2) >= TONAL_SHARE * total
}
