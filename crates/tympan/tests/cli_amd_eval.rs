//! The acceptance bar of the answering-machine detector, checked on calls built from the real
//! recordings in `../shared/data` (LibriSpeech/FSDD/Speech Commands speech, espeak-ng, beeps of
//! varied frequency, length, level and shape, G.711 and 15 dB SNR noise, ringback/DTMF/dial
//! tone/busy/hold music before human answers): `tympan amd eval --calls 300 --seed 1`.

mod common;

use common::{shared_data, tympan};
use serde_json::Value;

#[test]
fn beep_recall_and_accuracy_on_calls_built_from_real_recordings() {
    let Some(data) = shared_data() else { return };
    let out = tympan(&[
        "amd",
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--calls",
        "300",
        "--seed",
        "1",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let reports = v["reports"].as_array().expect("reports");
    let modes: Vec<&str> = reports
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes, ["enable", "detect_message_end"]);
    for r in reports {
        let mode = r["mode"].as_str().unwrap();
        eprintln!(
            "{mode}: accuracy {}, beeps {}/{}, false beeps {}, latency max {} ms",
            r["accuracy"],
            r["beeps_found"],
            r["beeps_expected"],
            r["false_beeps"],
            r["beep_latency_ms_max"]
        );
        let calls = r["calls"].as_u64().unwrap();
        assert_eq!(calls, 300, "{mode}");
        // both kinds of call, and enough beeps for the recall to mean something
        assert!(r["humans"].as_u64().unwrap() >= 100, "{mode}: {r}");
        assert!(r["beeps_expected"].as_u64().unwrap() >= 100, "{mode}: {r}");
        let recall = r["beep_recall"].as_f64().unwrap();
        assert!(recall >= 0.99, "{mode}: beep recall {recall}");
        assert_eq!(r["false_beeps"].as_u64(), Some(0), "{mode}: {r}");
        let latency = r["beep_latency_ms_max"].as_i64().unwrap();
        assert!(
            latency <= 150,
            "{mode}: beep reported {latency} ms after its end"
        );
        let accuracy = r["accuracy"].as_f64().unwrap();
        assert!(
            accuracy >= 0.95,
            "{mode}: human/machine accuracy {accuracy}"
        );
    }
}
