//! `tympan flow validate|simulate` on the shipped sample flows: valid flows pass, a flow using
//! a block type nobody registered fails naming the file, block and field; the survey runs
//! against a scripted callee with answers parsed by the speech crate (as in a live call).

mod common;

use common::{temp_dir, tympan};

fn flows_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")
}

#[test]
fn validate_names_the_block_of_an_unknown_type() {
    let dir = flows_dir();
    let ok = tympan(&[
        "flow",
        "validate",
        dir.join("survey.json").to_str().unwrap(),
        dir.join("voicemail-drop.json").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.contains(": ok (")).count(),
        2,
        "{text}"
    );

    let bad = tympan(&[
        "flow",
        "validate",
        "--json",
        dir.join("screening.json").to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v[0]["ok"], false, "{v}");
    let err = v[0]["errors"][0].as_str().unwrap();
    assert!(
        err.contains("screening.json")
            && err.contains("block \"score\"")
            && err.contains("field \"type\"")
            && err.contains("classify"),
        "{err}"
    );

    let tmp = temp_dir("flow_validate");
    let broken = tmp.join("broken.json");
    std::fs::write(
        &broken,
        r#"{"version": 1, "id": "b", "start": "a", "blocks": [{"id": "a", "type": "play", "prompt": "hi", "next": "nowhere"}]}"#,
    )
    .unwrap();
    let out = tympan(&["flow", "validate", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("block \"a\"") && text.contains("nowhere"),
        "{text}"
    );
}

#[test]
fn simulate_runs_the_survey_with_lex_like_answers() {
    let tmp = temp_dir("flow_simulate");
    let script = tmp.join("callee.json");
    std::fs::write(
        &script,
        serde_json::json!({
            "attributes": {
                "question_1": "Did you take your medication today?", "question_1_type": "Yes/No",
                "question_2": "How many glasses of water did you drink?", "question_2_type": "Number",
                "question_3": "Which day suits you: A Monday, B Tuesday, C Wednesday?",
                "question_3_type": "Multiple Choice",
                "question_4": "When shall we call back?", "question_4_type": "Time"
            },
            "callee": [
                {"after_prompt": 2, "delay_ms": 300, "say": "yup"},
                {"after_prompt": 3, "delay_ms": 200, "say": "twenty five"},
                {"after_prompt": 4, "say": "the second one"},
                {"after_prompt": 5, "say": "half past three in the afternoon"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let flow = flows_dir().join("survey.json");
    let out = tympan(&[
        "flow",
        "simulate",
        flow.to_str().unwrap(),
        "--script",
        script.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &r["attributes"];
    assert_eq!(a["answer_1"], "yes", "{a}");
    assert_eq!(a["answer_2"], "25", "{a}");
    assert_eq!(a["answer_3"], "B", "{a}");
    assert_eq!(a["answer_4"], "15:30", "{a}");
    assert_eq!(r["outcome"]["status"], "completed", "{}", r["outcome"]);

    let text = tympan(&[
        "flow",
        "simulate",
        flow.to_str().unwrap(),
        "--script",
        script.to_str().unwrap(),
    ]);
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(t.contains("ask") && t.contains("ending"), "{t}");
}
