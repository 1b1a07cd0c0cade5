//! Each plot function writes a readable PNG/SVG; bad input is rejected without writing.

use std::path::PathBuf;

use tympan_plot::{confusion_matrix, ensure_font, roc_curve, spectrogram, PlotError, Segment};

fn out_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tympan-plot-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Png {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

fn read_png(path: &PathBuf) -> Png {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Png {
        width: info.width,
        height: info.height,
        rgb,
    }
}

fn distinct_colours(p: &Png) -> usize {
    let mut c: Vec<[u8; 3]> = p.rgb.clone();
    c.sort_unstable();
    c.dedup();
    c.len()
}

#[test]
fn font_is_found() {
    let path = ensure_font().expect("install fonts-dejavu-core");
    assert!(path.ends_with(".ttf"), "{path}");
}

#[test]
fn confusion_matrix_png_and_svg() {
    let dir = out_dir("cm");
    let png_path = dir.join("cm.png");
    let m = vec![vec![50, 3], vec![7, 40]];
    confusion_matrix(&png_path, &m, &["beep", "speech"], "AMD clips").unwrap();
    let p = read_png(&png_path);
    assert!(
        p.width >= 300 && p.height >= 300,
        "{}x{}",
        p.width,
        p.height
    );
    assert_eq!(p.rgb.len(), (p.width * p.height) as usize);
    // White background, dark-blue diagonal cells, light off-diagonal cells, antialiased text.
    assert!(distinct_colours(&p) > 20);
    let dark_blue = p
        .rgb
        .iter()
        .filter(|c| c[2] > 90 && c[0] < 40 && c[1] < 90)
        .count();
    assert!(dark_blue > 5000, "dark cells: {dark_blue}");

    let svg_path = dir.join("cm.svg");
    let names = vec![
        "setosa".to_string(),
        "versicolor".into(),
        "virginica".into(),
    ];
    confusion_matrix(
        &svg_path,
        &[vec![10, 0, 0], vec![0, 9, 1], vec![0, 2, 8]],
        &names,
        "iris",
    )
    .unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.contains("versicolor") && svg.contains("iris"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn roc_png() {
    let dir = out_dir("roc");
    let path = dir.join("roc.png");
    let good: Vec<(f64, f64)> = (0..=50)
        .map(|i| {
            let x = i as f64 / 50.0;
            (x, x.powf(0.2))
        })
        .collect();
    let weak = vec![(0.0, 0.0), (0.3, 0.5), (0.6, 0.8), (1.0, 1.0)];
    roc_curve(
        &path,
        &[("svm", &good, 0.833), ("naive bayes", &weak, 0.62)],
        "ROC",
    )
    .unwrap();
    let p = read_png(&path);
    assert_eq!((p.width, p.height), (720, 640));
    // Two distinct curve colours plus black axes and white background.
    assert!(distinct_colours(&p) > 10);
    let white = p.rgb.iter().filter(|c| **c == [255, 255, 255]).count();
    assert!(white > p.rgb.len() / 2 && white < p.rgb.len() - 1000);

    let e = roc_curve(
        dir.join("bad.png"),
        &[("x", &[(0.0, 0.0), (1.5, 1.0)], 0.5)],
        "t",
    )
    .unwrap_err();
    assert!(
        matches!(&e, PlotError::InvalidInput { field, .. } if field == "curves[0].points[1]"),
        "{e}"
    );
    assert!(!dir.join("bad.png").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A synthetic spectrogram: a 1 kHz "beep" from 1.0 to 1.5 s over -90 dB noise-ish floor.
fn beep_spectrogram() -> Vec<Vec<f32>> {
    (0..200)
        .map(|f| {
            (0..129)
                .map(|b| {
                    let t = f as f32 * 0.01;
                    let freq = b as f32 * 4000.0 / 128.0;
                    if (1.0..1.5).contains(&t) && (freq - 1000.0).abs() < 40.0 {
                        -5.0
                    } else if b == 0 && f == 0 {
                        f32::NEG_INFINITY
                    } else {
                        -70.0 - ((f * 7 + b * 13) % 20) as f32
                    }
                })
                .collect()
        })
        .collect()
}

#[test]
fn spectrogram_png_with_segments() {
    let dir = out_dir("spec");
    let path = dir.join("spec.png");
    let segs = vec![
        Segment {
            start_s: 0.2,
            end_s: 0.8,
            label: "speech".into(),
            color: None,
        },
        Segment {
            start_s: 1.0,
            end_s: 1.5,
            label: "beep".into(),
            color: Some((0, 200, 255)),
        },
        Segment {
            start_s: 1.9,
            end_s: 5.0,
            label: "clipped".into(),
            color: None,
        },
    ];
    spectrogram(
        &path,
        &beep_spectrogram(),
        0.01,
        4000.0,
        &segs,
        "beep at 1 kHz",
    )
    .unwrap();
    let p = read_png(&path);
    assert_eq!((p.width, p.height), (1000, 520));
    // The beep is drawn in the brightest colours (yellowish, tinted by its segment), the
    // floor is dark; the beep (1 kHz of 0..4 kHz) lies in the lower half: low frequencies
    // at the bottom.
    let bright: Vec<usize> = (0..p.rgb.len())
        .filter(|&i| p.rgb[i][0] as u32 + p.rgb[i][1] as u32 > 400 && p.rgb[i][2] < 200)
        .collect();
    let dark = p
        .rgb
        .iter()
        .filter(|c| c[0] < 90 && c[1] < 40 && c[2] < 150)
        .count();
    assert!(bright.len() > 500, "bright {}", bright.len());
    assert!(dark > 50_000, "dark {dark}");
    let mean_y = bright.iter().map(|&i| i / p.width as usize).sum::<usize>() / bright.len();
    let mean_x = bright.iter().map(|&i| i % p.width as usize).sum::<usize>() / bright.len();
    assert!(mean_y > 300 && mean_y < 420, "beep drawn at row {mean_y}");
    assert!(
        mean_x > 450 && mean_x < 700,
        "beep drawn at column {mean_x}"
    );
    // The given segment colour is used for its label box.
    let cyan = p.rgb.iter().filter(|c| **c == [0, 200, 255]).count();
    assert!(cyan > 100, "cyan {cyan}");

    let svg = dir.join("spec.svg");
    let f64_spec: Vec<Vec<f64>> = beep_spectrogram()
        .iter()
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();
    spectrogram(&svg, &f64_spec, 0.01, 4000.0, &segs, "svg").unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("beep") && text.contains("Frequency"));
    assert!(text.len() < 5_000_000, "SVG is {} bytes", text.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_name_the_argument() {
    let dir = out_dir("bad");
    let field_of = |e: PlotError| match e {
        PlotError::InvalidInput { field, .. } => field,
        other => panic!("{other}"),
    };
    let p = dir.join("x.png");
    assert_eq!(
        field_of(confusion_matrix(&p, &[vec![1, 2], vec![3]], &["a", "b"], "t").unwrap_err()),
        "matrix[1]"
    );
    assert_eq!(
        field_of(confusion_matrix(&p, &[vec![1]], &["a", "b"], "t").unwrap_err()),
        "label_names"
    );
    let mut s = beep_spectrogram();
    s[3][7] = f32::NAN;
    assert_eq!(
        field_of(spectrogram(&p, &s, 0.01, 4000.0, &[], "t").unwrap_err()),
        "spectrogram_db[3][7]"
    );
    s[3].pop();
    assert_eq!(
        field_of(spectrogram(&p, &s, 0.01, 4000.0, &[], "t").unwrap_err()),
        "spectrogram_db[3]"
    );
    let s = beep_spectrogram();
    let seg = [Segment {
        start_s: 1.0,
        end_s: 0.5,
        label: "x".into(),
        color: None,
    }];
    assert_eq!(
        field_of(spectrogram(&p, &s, 0.01, 4000.0, &seg, "t").unwrap_err()),
        "segments[0]"
    );
    assert_eq!(
        field_of(spectrogram(&p, &s, 0.0, 4000.0, &[], "t").unwrap_err()),
        "frame_step_s"
    );
    assert!(matches!(
        confusion_matrix(dir.join("x.jpg"), &[vec![1]], &["a"], "t").unwrap_err(),
        PlotError::UnsupportedFormat(_)
    ));
    assert!(!p.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_failure_names_the_path() {
    let e = confusion_matrix("/nonexistent-dir/x.png", &[vec![1]], &["a"], "t").unwrap_err();
    match e {
        PlotError::Draw { path, .. } => assert_eq!(path, "/nonexistent-dir/x.png"),
        other => panic!("{other}"),
    }
}
