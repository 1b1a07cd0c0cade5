//! Renders one of each plot into the directory given as the first argument (default: the
//! system temp dir): `cargo run -p tympan-plot --example demo -- /tmp/plots`.

use tympan_plot::{confusion_matrix, roc_curve, spectrogram, Segment};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir)?;
    confusion_matrix(
        dir.join("confusion.png"),
        &[vec![48, 2, 0], vec![3, 41, 6], vec![0, 5, 45]],
        &["setosa", "versicolor", "virginica"],
        "Iris-like data, 5-fold CV",
    )?;
    let curve: Vec<(f64, f64)> = (0..=40)
        .map(|i| (i as f64 / 40.0, (i as f64 / 40.0).powf(0.25)))
        .collect();
    let weak = vec![(0.0, 0.0), (0.2, 0.4), (0.5, 0.7), (1.0, 1.0)];
    roc_curve(
        dir.join("roc.png"),
        &[("random forest", &curve, 0.8), ("naive Bayes", &weak, 0.63)],
        "Beep vs speech",
    )?;
    // 3 s at 10 ms per frame, 0..4 kHz in 129 bins: noise, a harmonic "voice" and a beep.
    let spec: Vec<Vec<f32>> = (0..300)
        .map(|f| {
            (0..129)
                .map(|b| {
                    let t = f as f32 * 0.01;
                    let hz = b as f32 * 4000.0 / 128.0;
                    let mut db = -75.0 + ((f * 31 + b * 17) % 13) as f32;
                    if (0.3..1.4).contains(&t) {
                        let f0 = 150.0 + 30.0 * (t * 6.0).sin();
                        let h = (hz / f0).fract();
                        if !(0.12..=0.88).contains(&h) && hz < 3000.0 {
                            db = -20.0 - hz / 150.0;
                        }
                    }
                    if (2.0..2.5).contains(&t) && (hz - 1000.0).abs() < 35.0 {
                        db = -3.0;
                    }
                    db
                })
                .collect()
        })
        .collect();
    spectrogram(
        dir.join("spectrogram.png"),
        &spec,
        0.01,
        4000.0,
        &[
            Segment {
                start_s: 0.3,
                end_s: 1.4,
                label: "speech".into(),
                color: None,
            },
            Segment {
                start_s: 2.0,
                end_s: 2.5,
                label: "beep".into(),
                color: Some((0, 200, 255)),
            },
        ],
        "Greeting then beep",
    )?;
    spectrogram(
        dir.join("spectrogram.svg"),
        &spec,
        0.01,
        4000.0,
        &[],
        "SVG version",
    )?;
    println!("wrote plots to {}", dir.display());
    Ok(())
}
