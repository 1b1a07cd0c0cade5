//! Tympan's plots (shell side): confusion matrices, ROC curves and spectrograms with labelled
//! time segments, written as PNG, or SVG when the output path ends in `.svg`.
//!
//! Text is drawn with `plotters`' `ab_glyph` renderer from a TrueType font found on the system
//! at run time (no fontconfig/freetype): `$TYMPAN_FONT` if set, else the paths in
//! [`FONT_CANDIDATES`] (Debian's `fonts-dejavu-core` first). When none loads, every function
//! returns [`PlotError::NoFont`] listing the paths tried.

mod font;

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

pub use font::{ensure_font, FONT_CANDIDATES, FONT_ENV};

/// Largest confusion matrix (classes per side).
pub const MAX_CLASSES: usize = 100;
/// Largest number of ROC curves in one plot.
pub const MAX_CURVES: usize = 32;
/// Largest number of points per ROC curve.
pub const MAX_ROC_POINTS: usize = 1_000_000;
/// Largest spectrogram (frames × bins) accepted.
pub const MAX_SPECTROGRAM_CELLS: usize = 50_000_000;
/// Largest number of labelled segments.
pub const MAX_SEGMENTS: usize = 10_000;
/// Dynamic range shown in a spectrogram: values below (max − this) dB share the darkest colour.
pub const SPECTROGRAM_RANGE_DB: f64 = 80.0;
/// An SVG spectrogram is drawn with at most this many columns × rows of cells (to keep the
/// file small); PNGs use the full pixel resolution.
pub const SVG_SPECTROGRAM_CELLS: (usize, usize) = (240, 96);

/// Errors of the plotting functions.
#[derive(Debug, Error)]
pub enum PlotError {
    /// No usable TrueType font was found.
    #[error("no usable TrueType font found; tried: {}. Install fonts-dejavu-core or set {} to a .ttf file", tried.join(", "), FONT_ENV)]
    NoFont {
        /// Paths tried, each with why it failed.
        tried: Vec<String>,
    },
    /// Bad input data; `field` names the argument (and index) at fault.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Argument (and index) at fault, e.g. `segments[2]`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The output path has an extension other than `.png` / `.svg`.
    #[error("output path {0:?} must end in .png or .svg")]
    UnsupportedFormat(String),
    /// Drawing or writing the file failed.
    #[error("drawing {path:?} failed: {reason}")]
    Draw {
        /// Output path.
        path: String,
        /// Backend error text.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PlotError {
    PlotError::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}

/// One labelled time span drawn over a spectrogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Start, seconds from the first frame.
    pub start_s: f64,
    /// End, seconds (must be > `start_s`).
    pub end_s: f64,
    /// Text written at the top of the span.
    pub label: String,
    /// RGB colour; None = a palette colour chosen from the label (same label, same colour).
    pub color: Option<(u8, u8, u8)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Png,
    Svg,
}

fn format_of(path: &Path) -> Result<Format, PlotError> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(PlotError::UnsupportedFormat(path.display().to_string())),
    }
}

/// Validates the input, makes sure a font is registered, draws on a PNG or SVG backend chosen
/// by the extension, and writes the file.
macro_rules! render {
    ($path:expr, $size:expr, |$root:ident, $fmt:ident| $body:expr) => {{
        let path: &Path = $path;
        let $fmt = format_of(path)?;
        ensure_font()?;
        let result: Result<(), String> = match $fmt {
            Format::Png => {
                let $root = BitMapBackend::new(path, $size).into_drawing_area();
                ($body).and_then(|_| $root.present().map_err(|e| e.to_string()))
            }
            Format::Svg => {
                let $root = SVGBackend::new(path, $size).into_drawing_area();
                ($body).and_then(|_| $root.present().map_err(|e| e.to_string()))
            }
        };
        result.map_err(|reason| PlotError::Draw {
            path: path.display().to_string(),
            reason,
        })
    }};
}

fn e2s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn lerp_rgb(a: (u8, u8, u8), b: (u8, u8, u8), t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let m = |x: u8, y: u8| (x as f64 + (y as f64 - x as f64) * t).round() as u8;
    RGBColor(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

// ---------------------------------------------------------------- confusion matrix

/// Draws a confusion matrix (`matrix[true][predicted]` counts) as a grid of cells shaded by
/// the row-normalised fraction, each showing its count and row percentage.
/// `label_names` gives one name per row/column. PNG, or SVG when `path` ends in `.svg`.
pub fn confusion_matrix<S: AsRef<str>>(
    path: impl AsRef<Path>,
    matrix: &[Vec<usize>],
    label_names: &[S],
    title: &str,
) -> Result<(), PlotError> {
    let n = matrix.len();
    if n == 0 {
        return Err(invalid("matrix", "is empty"));
    }
    if n > MAX_CLASSES {
        return Err(invalid(
            "matrix",
            format!("{n} classes, above the limit of {MAX_CLASSES}"),
        ));
    }
    if label_names.len() != n {
        return Err(invalid(
            "label_names",
            format!("has {} names for a {n}×{n} matrix", label_names.len()),
        ));
    }
    if let Some((i, r)) = matrix.iter().enumerate().find(|(_, r)| r.len() != n) {
        return Err(invalid(
            format!("matrix[{i}]"),
            format!("has {} columns, expected {n}", r.len()),
        ));
    }
    let names: Vec<&str> = label_names.iter().map(AsRef::as_ref).collect();
    let longest = names
        .iter()
        .map(|s| s.chars().count().min(18))
        .max()
        .unwrap_or(1);
    let left = (longest as u32 * 9 + 30).clamp(80, 200);
    let cell = (560 / n as u32).clamp(12, 120);
    let grid = cell * n as u32;
    let size = (left + grid + 40, 90 + grid + 80);
    render!(path.as_ref(), size, |root, _fmt| draw_confusion(
        &root, matrix, &names, title, left, cell
    ))
}

fn draw_confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    matrix: &[Vec<usize>],
    names: &[&str],
    title: &str,
    left: u32,
    cell: u32,
) -> Result<(), String> {
    let n = matrix.len();
    let (left, cell) = (left as i32, cell as i32);
    let top = 90i32;
    let grid = cell * n as i32;
    root.fill(&WHITE).map_err(e2s)?;
    let (w, _) = root.dim_in_pixel();
    let center = Pos::new(HPos::Center, VPos::Center);
    let title_style = ("sans-serif", 24).into_font().color(&BLACK).pos(center);
    root.draw(&Text::new(
        truncate(title, 70),
        (w as i32 / 2, 24),
        title_style,
    ))
    .map_err(e2s)?;
    let label_font = ("sans-serif", 15).into_font();
    root.draw(&Text::new(
        "Predicted →",
        (left + grid / 2, 64),
        label_font.clone().color(&BLACK).pos(center),
    ))
    .map_err(e2s)?;
    root.draw(&Text::new(
        "True ↓",
        (left / 2, 64),
        label_font.clone().color(&BLACK).pos(center),
    ))
    .map_err(e2s)?;
    let small = (cell / 4).clamp(8, 16);
    let light = (247, 251, 255);
    let dark = (8, 48, 107);
    for (t, row) in matrix.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let frac = if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            };
            let x0 = left + p as i32 * cell;
            let y0 = top + t as i32 * cell;
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                lerp_rgb(light, dark, frac).filled(),
            ))
            .map_err(e2s)?;
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                RGBColor(200, 200, 200).stroke_width(1),
            ))
            .map_err(e2s)?;
            let ink = if frac > 0.5 { WHITE } else { BLACK };
            if cell >= 24 {
                let count_style = ("sans-serif", small + 2)
                    .into_font()
                    .color(&ink)
                    .pos(center);
                let c_y = if cell >= 48 {
                    y0 + cell / 2 - small / 2
                } else {
                    y0 + cell / 2
                };
                root.draw(&Text::new(
                    count.to_string(),
                    (x0 + cell / 2, c_y),
                    count_style,
                ))
                .map_err(e2s)?;
                if cell >= 48 {
                    let pct = ("sans-serif", small).into_font().color(&ink).pos(center);
                    root.draw(&Text::new(
                        format!("{:.0}%", frac * 100.0),
                        (x0 + cell / 2, y0 + cell / 2 + small),
                        pct,
                    ))
                    .map_err(e2s)?;
                }
            }
        }
    }
    let tick = ("sans-serif", 13).into_font();
    let max_col_chars = ((cell / 7) as usize).max(3);
    for (i, name) in names.iter().enumerate() {
        let i = i as i32;
        root.draw(&Text::new(
            truncate(name, 18),
            (left - 8, top + i * cell + cell / 2),
            tick.clone()
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(e2s)?;
        root.draw(&Text::new(
            truncate(name, max_col_chars),
            (left + i * cell + cell / 2, top + grid + 14),
            tick.clone().color(&BLACK).pos(center),
        ))
        .map_err(e2s)?;
    }
    Ok(())
}

// ---------------------------------------------------------------- ROC curves

/// One ROC curve: `(name, [(false positive rate, true positive rate)], auc)`.
pub type RocSeries<'a> = (&'a str, &'a [(f64, f64)], f64);

/// Draws ROC curves: each entry is `(name, [(false positive rate, true positive rate)], auc)`,
/// with a dashed chance diagonal and a legend "name (AUC 0.953)". Rates must lie in [0, 1].
pub fn roc_curve(
    path: impl AsRef<Path>,
    curves: &[RocSeries<'_>],
    title: &str,
) -> Result<(), PlotError> {
    if curves.is_empty() {
        return Err(invalid("curves", "no curves"));
    }
    if curves.len() > MAX_CURVES {
        return Err(invalid(
            "curves",
            format!("{} curves, above the limit of {MAX_CURVES}", curves.len()),
        ));
    }
    for (i, (_, pts, auc)) in curves.iter().enumerate() {
        if pts.len() < 2 || pts.len() > MAX_ROC_POINTS {
            return Err(invalid(
                format!("curves[{i}]"),
                format!("needs 2..={MAX_ROC_POINTS} points, has {}", pts.len()),
            ));
        }
        if let Some(j) = pts
            .iter()
            .position(|&(x, y)| !((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)))
        {
            return Err(invalid(
                format!("curves[{i}].points[{j}]"),
                format!("{:?} is outside [0, 1]²", pts[j]),
            ));
        }
        if !(auc.is_finite() && (0.0..=1.0).contains(auc)) {
            return Err(invalid(
                format!("curves[{i}].auc"),
                format!("{auc} is not in [0, 1]"),
            ));
        }
    }
    render!(path.as_ref(), (720, 640), |root, _fmt| draw_roc(
        &root, curves, title
    ))
}

fn draw_roc<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curves: &[RocSeries<'_>],
    title: &str,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(e2s)?;
    let mut chart = ChartBuilder::on(root)
        .caption(truncate(title, 60), ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1f64, 0f64..1f64)
        .map_err(e2s)?;
    chart
        .configure_mesh()
        .x_desc("False positive rate")
        .y_desc("True positive rate")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e2s)?;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(0.0, 0.0), (1.0, 1.0)],
            8,
            6,
            RGBColor(140, 140, 140).stroke_width(1),
        ))
        .map_err(e2s)?
        .label("chance (AUC 0.5)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(140, 140, 140)));
    for (i, (name, pts, auc)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(e2s)?
            .label(format!("{} (AUC {auc:.3})", truncate(name, 30)))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(e2s)?;
    Ok(())
}

// ---------------------------------------------------------------- spectrogram

/// Colour map for the spectrogram: dark (low dB) to bright yellow (high dB), piecewise linear
/// through purple, red and orange.
fn heat(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [
        (0, 0, 4),
        (60, 15, 110),
        (150, 40, 100),
        (230, 90, 40),
        (252, 250, 170),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    lerp_rgb(STOPS[i], STOPS[i + 1], t - i as f64)
}

fn label_color(label: &str) -> RGBColor {
    // Stable FNV-1a hash of the label picks a bright palette colour.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    const BRIGHT: [(u8, u8, u8); 8] = [
        (0, 200, 255),
        (120, 255, 120),
        (255, 90, 90),
        (255, 220, 0),
        (255, 120, 255),
        (255, 160, 40),
        (160, 160, 255),
        (255, 255, 255),
    ];
    let c = BRIGHT[(h % BRIGHT.len() as u64) as usize];
    RGBColor(c.0, c.1, c.2)
}

/// Analysis window of [`power_spectrogram_db`], ms (Hann, periodic).
pub const AUDIO_WINDOW_MS: u32 = 32;
/// Hop of [`power_spectrogram_db`], ms.
pub const AUDIO_HOP_MS: u32 = 10;

/// The power spectrogram of mono `samples` at `sample_rate` Hz in dB (10·log10 of the power,
/// floored at −120 dB): one row per [`AUDIO_HOP_MS`] hop whose [`AUDIO_WINDOW_MS`] window
/// fits in the audio, bins from 0 Hz to Nyquist. Errors when the audio is shorter than one
/// window or the rate is below 1 kHz.
pub fn power_spectrogram_db(samples: &[f32], sample_rate: u32) -> Result<Vec<Vec<f32>>, PlotError> {
    use tympan_audio::features::stft::{hann_periodic, PowerSpectrum};
    let n_fft = (sample_rate / 1000 * AUDIO_WINDOW_MS) as usize;
    let hop = (sample_rate * AUDIO_HOP_MS / 1000) as usize;
    if n_fft == 0 || hop == 0 {
        return Err(invalid(
            "sample_rate",
            format!("{sample_rate} Hz is below 1 kHz"),
        ));
    }
    let window: Vec<f32> = hann_periodic(n_fft).into_iter().map(|w| w as f32).collect();
    let mut ps = PowerSpectrum::new(&window);
    let mut rows = Vec::new();
    let mut buf = vec![0f32; ps.n_bins()];
    let mut start = 0;
    while start + n_fft <= samples.len() {
        ps.compute(&samples[start..start + n_fft], 2.0, &mut buf);
        rows.push(buf.iter().map(|p| 10.0 * (p.max(1e-12)).log10()).collect());
        start += hop;
    }
    if rows.is_empty() {
        return Err(invalid(
            "samples",
            format!(
                "{} samples at {sample_rate} Hz, shorter than one {AUDIO_WINDOW_MS} ms analysis window",
                samples.len()
            ),
        ));
    }
    Ok(rows)
}

/// [`power_spectrogram_db`] of the audio drawn with [`spectrogram`] (time step
/// [`AUDIO_HOP_MS`], 0 Hz to Nyquist) and the segments over it.
pub fn audio_spectrogram(
    path: impl AsRef<Path>,
    samples: &[f32],
    sample_rate: u32,
    segments: &[Segment],
    title: &str,
) -> Result<(), PlotError> {
    let rows = power_spectrogram_db(samples, sample_rate)?;
    let hop = (sample_rate * AUDIO_HOP_MS / 1000) as f64;
    spectrogram(
        path,
        &rows,
        hop / sample_rate as f64,
        sample_rate as f64 / 2.0,
        segments,
        title,
    )
}

/// Draws a spectrogram (`spectrogram_db[frame][bin]` in dB; `-inf` allowed and drawn as the
/// floor) with time on x (frame `i` starts at `i·frame_step_s`), frequency on y (bins spread
/// evenly over 0..`max_freq_hz`), and each [`Segment`] shaded over its time span with its label
/// on top. The colour range is the top [`SPECTROGRAM_RANGE_DB`] dB.
pub fn spectrogram<T: Copy + Into<f64>, R: AsRef<[T]>>(
    path: impl AsRef<Path>,
    spectrogram_db: &[R],
    frame_step_s: f64,
    max_freq_hz: f64,
    segments: &[Segment],
    title: &str,
) -> Result<(), PlotError> {
    let frames = spectrogram_db.len();
    if frames == 0 {
        return Err(invalid("spectrogram_db", "has no frames"));
    }
    let bins = spectrogram_db[0].as_ref().len();
    if bins == 0 {
        return Err(invalid("spectrogram_db[0]", "has no bins"));
    }
    if frames.saturating_mul(bins) > MAX_SPECTROGRAM_CELLS {
        return Err(invalid(
            "spectrogram_db",
            format!("{frames}×{bins} cells, above the limit of {MAX_SPECTROGRAM_CELLS}"),
        ));
    }
    let mut max_db = f64::NEG_INFINITY;
    for (f, row) in spectrogram_db.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != bins {
            return Err(invalid(
                format!("spectrogram_db[{f}]"),
                format!("has {} bins, expected {bins}", row.len()),
            ));
        }
        for (b, &v) in row.iter().enumerate() {
            let v: f64 = v.into();
            if v.is_nan() || v == f64::INFINITY {
                return Err(invalid(
                    format!("spectrogram_db[{f}][{b}]"),
                    format!("{v} is not a level in dB"),
                ));
            }
            max_db = max_db.max(v);
        }
    }
    if !(frame_step_s.is_finite() && frame_step_s > 0.0) {
        return Err(invalid(
            "frame_step_s",
            format!("{frame_step_s} must be positive"),
        ));
    }
    if !(max_freq_hz.is_finite() && max_freq_hz > 0.0) {
        return Err(invalid(
            "max_freq_hz",
            format!("{max_freq_hz} must be positive"),
        ));
    }
    if segments.len() > MAX_SEGMENTS {
        return Err(invalid(
            "segments",
            format!(
                "{} segments, above the limit of {MAX_SEGMENTS}",
                segments.len()
            ),
        ));
    }
    for (i, s) in segments.iter().enumerate() {
        if !(s.start_s.is_finite()
            && s.end_s.is_finite()
            && s.start_s >= 0.0
            && s.end_s > s.start_s)
        {
            return Err(invalid(
                format!("segments[{i}]"),
                format!(
                    "span {}..{} s is not a positive interval",
                    s.start_s, s.end_s
                ),
            ));
        }
    }
    if max_db == f64::NEG_INFINITY {
        max_db = 0.0; // all silent
    }
    let values: Vec<&[T]> = spectrogram_db.iter().map(AsRef::as_ref).collect();
    let spec = Spec {
        values,
        max_db,
        frame_step_s,
        max_freq_hz,
    };
    render!(path.as_ref(), (1000, 520), |root, fmt| draw_spectrogram(
        &root, &spec, segments, title, fmt
    ))
}

struct Spec<'a, T> {
    values: Vec<&'a [T]>,
    max_db: f64,
    frame_step_s: f64,
    max_freq_hz: f64,
}

/// Max-pools `values[frame][bin]` into `cols × rows` cells (cell [c][r], r = 0 lowest bins).
fn pool<T: Copy + Into<f64>>(values: &[&[T]], cols: usize, rows: usize) -> Vec<Vec<f64>> {
    let frames = values.len();
    let bins = values[0].len();
    let mut out = vec![vec![f64::NEG_INFINITY; rows]; cols];
    for (f, row) in values.iter().enumerate() {
        let c = f * cols / frames;
        for (b, &v) in row.iter().enumerate() {
            let r = b * rows / bins;
            let v: f64 = v.into();
            if v > out[c][r] {
                out[c][r] = v;
            }
        }
    }
    out
}

fn draw_spectrogram<DB: DrawingBackend, T: Copy + Into<f64>>(
    root: &DrawingArea<DB, Shift>,
    spec: &Spec<'_, T>,
    segments: &[Segment],
    title: &str,
    fmt: Format,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(e2s)?;
    let frames = spec.values.len();
    let bins = spec.values[0].len();
    let duration = frames as f64 * spec.frame_step_s;
    let floor = spec.max_db - SPECTROGRAM_RANGE_DB;
    let mut chart = ChartBuilder::on(root)
        .caption(truncate(title, 80), ("sans-serif", 22))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..duration, 0f64..spec.max_freq_hz)
        .map_err(e2s)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(format!(
            "Time (s)   [colour: {floor:.0} to {:.0} dB]",
            spec.max_db
        ))
        .y_desc("Frequency (Hz)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e2s)?;
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let (max_cols, max_rows) = match fmt {
        Format::Png => (pw.max(1) as usize, ph.max(1) as usize),
        Format::Svg => SVG_SPECTROGRAM_CELLS,
    };
    let cols = frames.min(max_cols);
    let rows = bins.min(max_rows);
    let cells = pool(&spec.values, cols, rows);
    let cw = duration / cols as f64;
    let rh = spec.max_freq_hz / rows as f64;
    chart
        .draw_series(cells.iter().enumerate().flat_map(|(c, col)| {
            col.iter().enumerate().map(move |(r, &v)| {
                let t = if v == f64::NEG_INFINITY {
                    0.0
                } else {
                    (v - floor) / SPECTROGRAM_RANGE_DB
                };
                Rectangle::new(
                    [
                        (c as f64 * cw, r as f64 * rh),
                        ((c + 1) as f64 * cw, (r + 1) as f64 * rh),
                    ],
                    heat(t).filled(),
                )
            })
        }))
        .map_err(e2s)?;
    let left_top = Pos::new(HPos::Left, VPos::Top);
    for s in segments {
        let start = s.start_s.min(duration);
        let end = s.end_s.min(duration);
        if end <= start {
            continue; // entirely after the last frame
        }
        let color = s
            .color
            .map(|(r, g, b)| RGBColor(r, g, b))
            .unwrap_or_else(|| label_color(&s.label));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(start, 0.0), (end, spec.max_freq_hz)],
                color.mix(0.15).filled(),
            )))
            .map_err(e2s)?;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(start, 0.0), (end, spec.max_freq_hz)],
                color.stroke_width(2),
            )))
            .map_err(e2s)?;
        let area = chart.plotting_area();
        let (x0, y0) = area.map_coordinate(&(start, spec.max_freq_hz));
        let (x1, _) = area.map_coordinate(&(end, spec.max_freq_hz));
        let max_chars = (((x1 - x0) / 8).max(2)) as usize;
        let text = truncate(&s.label, max_chars);
        let style = ("sans-serif", 14).into_font().color(&BLACK).pos(left_top);
        let (tw, th) = root.estimate_text_size(&text, &style).map_err(e2s)?;
        root.draw(&Rectangle::new(
            [(x0 + 2, y0 + 2), (x0 + 6 + tw as i32, y0 + 6 + th as i32)],
            color.filled(),
        ))
        .map_err(e2s)?;
        root.draw(&Text::new(text, (x0 + 4, y0 + 4), style))
            .map_err(e2s)?;
    }
    Ok(())
}
