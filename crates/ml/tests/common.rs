//! Synthetic data generators shared by the integration tests (made here, nothing copied).
#![allow(dead_code)]

use tympan_ml::{Dataset, SplitMix64};

/// Gaussian blobs: `n` rows per class around `centers[c]` with per-feature sd `sd`.
pub fn blobs(n: usize, centers: &[Vec<f64>], sd: f64, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed);
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (c, center) in centers.iter().enumerate() {
        for _ in 0..n {
            features.push(center.iter().map(|m| m + sd * rng.normal()).collect());
            labels.push(c);
        }
    }
    let names = (0..centers.len()).map(|c| format!("class{c}")).collect();
    Dataset::new(features, labels, names).unwrap()
}

/// XOR: uniform points in [-1,1]² (plus `extra` noise features), class = sign(x·y) > 0,
/// points within 0.1 of an axis are skipped so the classes have a margin.
pub fn xor(n: usize, extra: usize, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed);
    let mut features = Vec::new();
    let mut labels = Vec::new();
    while features.len() < n {
        let x = 2.0 * rng.next_f64() - 1.0;
        let y = 2.0 * rng.next_f64() - 1.0;
        if x.abs() < 0.1 || y.abs() < 0.1 {
            continue;
        }
        let mut row = vec![x, y];
        for _ in 0..extra {
            row.push(0.3 * rng.normal());
        }
        features.push(row);
        labels.push(usize::from(x * y > 0.0));
    }
    Dataset::new(features, labels, vec!["diff".into(), "same".into()]).unwrap()
}

/// Three classes of four measurements shaped like the well-known flower data (per-class
/// means and spreads of sepal/petal length/width, approximately); rows are generated here.
pub fn iris_like(n_per_class: usize, seed: u64) -> Dataset {
    let means = [
        [5.0, 3.4, 1.46, 0.25],
        [5.94, 2.77, 4.26, 1.33],
        [6.59, 2.97, 5.55, 2.03],
    ];
    let sds = [
        [0.35, 0.38, 0.17, 0.11],
        [0.52, 0.31, 0.47, 0.2],
        [0.64, 0.32, 0.55, 0.27],
    ];
    let mut rng = SplitMix64::new(seed);
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for c in 0..3 {
        for _ in 0..n_per_class {
            // A shared "size" factor correlates the four measurements, as in real flowers.
            let size = rng.normal();
            let row: Vec<f64> = (0..4)
                .map(|j| {
                    let z = 0.6 * size + 0.8 * rng.normal();
                    (means[c][j] + sds[c][j] * z).max(0.1)
                })
                .collect();
            features.push(row);
            labels.push(c);
        }
    }
    let names = ["setosa", "versicolor", "virginica"]
        .map(String::from)
        .to_vec();
    Dataset::new(features, labels, names).unwrap()
}

/// Labels permuted at random (features unchanged): a control that must score near chance.
pub fn shuffled_labels(d: &Dataset, seed: u64) -> Dataset {
    let mut labels = d.labels.clone();
    SplitMix64::new(seed).shuffle(&mut labels);
    Dataset::new(d.features.clone(), labels, d.label_names.clone()).unwrap()
}
