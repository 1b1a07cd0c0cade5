//! Verification metrics over scored trials: EER, minimum detection cost, FAR at a given FRR,
//! and the DET/ROC curve. A trial is *accepted* when its score is at least the threshold.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// One scored trial.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Higher means more likely the same speaker.
    pub score: f64,
    /// Whether the test audio really is the claimed speaker.
    pub genuine: bool,
}

/// One operating point: accepting scores `≥ threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Decision threshold.
    pub threshold: f64,
    /// False acceptance rate: share of impostor trials accepted.
    pub far: f64,
    /// False rejection rate: share of genuine trials rejected.
    pub frr: f64,
}

/// Summary metrics of a set of trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Genuine trials.
    pub genuine: usize,
    /// Impostor trials.
    pub impostor: usize,
    /// Equal error rate (FAR = FRR, linearly interpolated between operating points).
    pub eer: f64,
    /// Score threshold at the EER (interpolated).
    pub eer_threshold: f64,
    /// Normalised minimum detection cost at P(target) = 0.01, C_miss = C_fa = 1.
    pub min_dcf_001: f64,
    /// FAR at the highest threshold whose FRR is at most 5 %.
    pub far_at_frr_5: f64,
    /// Area under the ROC curve.
    pub auc: f64,
}

fn check(trials: &[Trial]) -> Result<(usize, usize)> {
    if let Some(i) = trials.iter().position(|t| !t.score.is_finite()) {
        return Err(invalid(
            "trials",
            format!("trial {i} has a non-finite score"),
        ));
    }
    let g = trials.iter().filter(|t| t.genuine).count();
    let i = trials.len() - g;
    if g == 0 || i == 0 {
        return Err(invalid(
            "trials",
            format!("{g} genuine and {i} impostor trials; both kinds are needed"),
        ));
    }
    Ok((g, i))
}

/// Every distinct operating point, thresholds ascending: from accepting everything
/// (FAR 1, FRR 0) to rejecting everything (FAR 0, FRR 1).
pub fn operating_points(trials: &[Trial]) -> Result<Vec<OperatingPoint>> {
    let (g, i) = check(trials)?;
    let mut sorted: Vec<Trial> = trials.to_vec();
    sorted.sort_by(|a, b| a.score.total_cmp(&b.score));
    let mut out = Vec::with_capacity(sorted.len() + 1);
    // Below the threshold: rejected.
    let (mut rej_g, mut rej_i) = (0usize, 0usize);
    let mut k = 0;
    while k < sorted.len() {
        let thr = sorted[k].score;
        out.push(OperatingPoint {
            threshold: thr,
            far: (i - rej_i) as f64 / i as f64,
            frr: rej_g as f64 / g as f64,
        });
        while k < sorted.len() && sorted[k].score == thr {
            if sorted[k].genuine {
                rej_g += 1;
            } else {
                rej_i += 1;
            }
            k += 1;
        }
    }
    out.push(OperatingPoint {
        threshold: f64::INFINITY,
        far: 0.0,
        frr: 1.0,
    });
    Ok(out)
}

/// FAR and FRR when accepting scores `≥ threshold`.
pub fn rates_at(trials: &[Trial], threshold: f64) -> Result<OperatingPoint> {
    let (g, i) = check(trials)?;
    let fa = trials
        .iter()
        .filter(|t| !t.genuine && t.score >= threshold)
        .count();
    let fr = trials
        .iter()
        .filter(|t| t.genuine && t.score < threshold)
        .count();
    Ok(OperatingPoint {
        threshold,
        far: fa as f64 / i as f64,
        frr: fr as f64 / g as f64,
    })
}

/// EER and its threshold.
pub fn eer(trials: &[Trial]) -> Result<(f64, f64)> {
    let pts = operating_points(trials)?;
    for w in pts.windows(2) {
        let (p0, p1) = (w[0], w[1]);
        if p1.frr >= p1.far {
            // p0 has frr < far (or is the first point); intersect the segment.
            let d = (p1.frr - p0.frr) - (p1.far - p0.far);
            let t = if d > 0.0 {
                ((p0.far - p0.frr) / d).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let e = p0.frr + t * (p1.frr - p0.frr);
            let thr = if p1.threshold.is_finite() {
                p0.threshold + t * (p1.threshold - p0.threshold)
            } else {
                p0.threshold
            };
            return Ok((e, thr));
        }
    }
    // Unreachable: the last point has frr 1 ≥ far 0.
    Ok((0.5, f64::INFINITY))
}

/// Normalised minimum detection cost `min_τ (C_miss·P·FRR + C_fa·(1−P)·FAR) /
/// min(C_miss·P, C_fa·(1−P))`.
pub fn min_dcf(trials: &[Trial], p_target: f64, c_miss: f64, c_fa: f64) -> Result<f64> {
    if !(p_target > 0.0 && p_target < 1.0) {
        return Err(invalid("p_target", format!("{p_target} not in (0, 1)")));
    }
    let pts = operating_points(trials)?;
    let norm = (c_miss * p_target).min(c_fa * (1.0 - p_target));
    Ok(pts
        .iter()
        .map(|p| c_miss * p_target * p.frr + c_fa * (1.0 - p_target) * p.far)
        .fold(f64::INFINITY, f64::min)
        / norm)
}

/// FAR at the highest threshold whose FRR stays at or below `frr_target`.
pub fn far_at_frr(trials: &[Trial], frr_target: f64) -> Result<f64> {
    let pts = operating_points(trials)?;
    Ok(pts
        .iter()
        .filter(|p| p.frr <= frr_target)
        .map(|p| p.far)
        .fold(1.0, f64::min))
}

/// Area under the ROC curve (probability that a genuine trial outscores an impostor one,
/// ties counting half).
pub fn auc(trials: &[Trial]) -> Result<f64> {
    let pts = operating_points(trials)?;
    // Trapezoids over (FAR, 1 - FRR), FAR decreasing along the points.
    Ok(pts
        .windows(2)
        .map(|w| (w[0].far - w[1].far) * ((1.0 - w[0].frr) + (1.0 - w[1].frr)) / 2.0)
        .sum())
}

/// All summary metrics.
pub fn metrics(trials: &[Trial]) -> Result<Metrics> {
    let (g, i) = check(trials)?;
    let (e, thr) = eer(trials)?;
    Ok(Metrics {
        genuine: g,
        impostor: i,
        eer: e,
        eer_threshold: thr,
        min_dcf_001: min_dcf(trials, 0.01, 1.0, 1.0)?,
        far_at_frr_5: far_at_frr(trials, 0.05)?,
        auc: auc(trials)?,
    })
}

/// ROC points `(FAR, 1 − FRR)` thinned to at most `max_points` (for plots), FAR ascending.
pub fn roc_points(trials: &[Trial], max_points: usize) -> Result<Vec<(f64, f64)>> {
    let pts = operating_points(trials)?;
    let mut roc: Vec<(f64, f64)> = pts.iter().rev().map(|p| (p.far, 1.0 - p.frr)).collect();
    if max_points >= 2 && roc.len() > max_points {
        let n = roc.len();
        roc = (0..max_points)
            .map(|k| roc[k * (n - 1) / (max_points - 1)])
            .collect();
    }
    Ok(roc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(score: f64, genuine: bool) -> Trial {
        Trial { score, genuine }
    }

    #[test]
    fn separable_trials_have_zero_error() {
        let trials = [t(0.9, true), t(0.8, true), t(0.2, false), t(0.1, false)];
        let m = metrics(&trials).unwrap();
        assert_eq!(m.eer, 0.0);
        assert!(m.eer_threshold > 0.2 && m.eer_threshold <= 0.8, "{m:?}");
        assert_eq!(m.min_dcf_001, 0.0);
        assert_eq!(m.far_at_frr_5, 0.0);
        assert_eq!(auc(&trials).unwrap(), 1.0);
    }

    #[test]
    fn known_eer_and_rates() {
        // Genuine scores 1..=10, impostor scores -2..=7: overlapping integer grids.
        let mut trials = Vec::new();
        for k in 0..10 {
            trials.push(t(k as f64 + 1.0, true));
            trials.push(t(k as f64 - 2.0, false));
        }
        // Threshold 5: genuine 1..=4 rejected (FRR 0.4), impostors 5, 6, 7 accepted (FAR 0.3).
        let p = rates_at(&trials, 5.0).unwrap();
        assert_eq!((p.far, p.frr), (0.3, 0.4));
        let (e, _) = eer(&trials).unwrap();
        // By symmetry of the two shifted grids the curves cross at 0.35.
        assert!((e - 0.35).abs() < 1e-12, "{e}");
        let a = auc(&trials).unwrap();
        // P(g > i) with ties half: count pairs.
        let mut wins = 0.0;
        for gi in 0..10 {
            for ii in 0..10 {
                let (gs, is) = (gi as f64 + 1.0, ii as f64 - 2.0);
                wins += if gs > is {
                    1.0
                } else if gs == is {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert!((a - wins / 100.0).abs() < 1e-12, "{a}");
        assert!(metrics(&trials[..1]).is_err(), "one class only");
    }

    #[test]
    fn min_dcf_weighs_false_accepts_at_low_prior() {
        // One impostor above every genuine trial: at P=0.01 it is cheaper to reject all.
        let trials = [t(1.0, false), t(0.5, true), t(0.4, true), t(0.0, false)];
        let d = min_dcf(&trials, 0.01, 1.0, 1.0).unwrap();
        // Rejecting everything costs 0.01 (normalised 1.0); every other threshold accepts the
        // top impostor (FAR ≥ 0.5, cost ≥ 0.495, normalised ≥ 49.5).
        assert!((d - 1.0).abs() < 1e-12, "{d}");
        let roc = roc_points(&trials, 100).unwrap();
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
    }
}
