//! Spectral features: librosa-compatible STFT / mel spectrogram / power-to-dB / MFCC and
//! Kaldi-compatible log-mel filterbank ("fbank", as fed to WeSpeaker / 3D-Speaker models),
//! each in batch form and as push-based streaming structs whose output equals the batch output.
//!
//! Layouts: librosa-style functions return `[bands, frames]` row-major (like librosa);
//! Kaldi fbank returns `[frames, bins]` row-major (like Kaldi). Streaming structs always append
//! whole frames, frame after frame, to a caller-owned `Vec<f32>`.

pub mod kaldi;
pub mod mel;
pub mod mfcc;
pub mod stft;
pub mod streaming;

pub use kaldi::{fbank, FbankOptions, KaldiWindow, OnlineFbank};
pub use mel::{MelNorm, MelScale, SparseFilterbank};
pub use mfcc::{
    melspectrogram, mfcc, mfcc_mean, power_to_db, power_to_db_in_place, DbParams, Dct2Ortho,
    MelParams, MelSpectrogram, Mfcc, MfccParams,
};
pub use streaming::{OnlineLogMel, OnlineMfcc};

/// Largest FFT size accepted by any extractor (65536 points, ~4 s at 16 kHz).
pub const MAX_N_FFT: usize = 1 << 16;

/// A dense row-major matrix of features: `values[r * cols + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMatrix {
    /// Number of rows (bands for librosa layouts, frames for Kaldi layouts).
    pub rows: usize,
    /// Number of columns (frames for librosa layouts, bins for Kaldi layouts).
    pub cols: usize,
    /// `rows * cols` values, row-major.
    pub values: Vec<f32>,
}

impl FeatureMatrix {
    /// Value at row `r`, column `c`.
    pub fn get(&self, r: usize, c: usize) -> f32 {
        self.values[r * self.cols + c]
    }

    /// Row `r` as a slice.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.cols..(r + 1) * self.cols]
    }

    /// Mean of each row over its columns (e.g. per-band mean over frames for librosa layouts).
    /// Rows of an empty matrix (0 columns) have mean NaN, like numpy.
    pub fn row_means(&self) -> Vec<f32> {
        (0..self.rows)
            .map(|r| {
                let s: f64 = self.row(r).iter().map(|&v| v as f64).sum();
                (s / self.cols as f64) as f32
            })
            .collect()
    }
}
