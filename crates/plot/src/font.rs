//! Finding and registering a TrueType font for `plotters`' ab_glyph text renderer.

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

use crate::PlotError;

/// Environment variable naming a .ttf file to use instead of the candidates.
pub const FONT_ENV: &str = "TYMPAN_FONT";

/// Font files tried in order when `$TYMPAN_FONT` is not set.
pub const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", // Debian/Ubuntu fonts-dejavu-core
    "/usr/share/fonts/TTF/DejaVuSans.ttf",             // Arch
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",          // Fedora/Alpine
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", // Fedora (newer)
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf", // macOS
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Largest font file read (64 MiB).
const MAX_FONT_BYTES: u64 = 64 << 20;

static FONT: OnceLock<Result<String, Vec<String>>> = OnceLock::new();

/// Finds a font and registers it for the `sans-serif`, `serif` and `monospace` families (once
/// per process). Returns the path used, or [`PlotError::NoFont`] with every path tried and why
/// it failed.
pub fn ensure_font() -> Result<String, PlotError> {
    FONT.get_or_init(|| {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(p) = std::env::var_os(FONT_ENV) {
            candidates.push(p.to_string_lossy().into_owned());
        }
        candidates.extend(FONT_CANDIDATES.iter().map(|s| s.to_string()));
        load_first(&candidates)
    })
    .clone()
    .map_err(|tried| PlotError::NoFont { tried })
}

/// Registers the first candidate that loads; else lists each path with why it failed.
fn load_first(candidates: &[String]) -> Result<String, Vec<String>> {
    let mut tried = Vec::new();
    for path in candidates {
        match load(path) {
            Ok(()) => return Ok(path.clone()),
            Err(why) => tried.push(format!("{path} ({why})")),
        }
    }
    Err(tried)
}

fn load(path: &str) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| e.kind().to_string())?;
    if meta.len() > MAX_FONT_BYTES {
        return Err(format!(
            "{} bytes, above the {MAX_FONT_BYTES} limit",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.kind().to_string())?;
    // plotters keeps &'static font data; the font is loaded once per process, so leaking it
    // is bounded.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    for family in ["sans-serif", "serif", "monospace"] {
        register_font(family, FontStyle::Normal, bytes)
            .map_err(|_| "not a TrueType/OpenType font".to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_invalid_fonts_are_listed() {
        let dir = std::env::temp_dir().join(format!("tympan-plot-font-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.ttf");
        std::fs::write(&junk, b"this is not a font").unwrap();
        let missing = dir.join("missing.ttf");
        let cands = vec![missing.display().to_string(), junk.display().to_string()];
        let tried = load_first(&cands).unwrap_err();
        assert_eq!(tried.len(), 2);
        assert!(
            tried[0].contains("missing.ttf") && tried[0].contains("not found"),
            "{tried:?}"
        );
        assert!(
            tried[1].contains("junk.ttf") && tried[1].contains("not a TrueType"),
            "{tried:?}"
        );
        let msg = PlotError::NoFont { tried }.to_string();
        assert!(msg.contains("missing.ttf") && msg.contains("junk.ttf") && msg.contains(FONT_ENV));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
