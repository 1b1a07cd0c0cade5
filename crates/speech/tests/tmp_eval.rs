// Temporary: the figures `tympan speech eval` prints (not committed).
use std::time::Instant;
use tympan_speech::asr::eval::*;
use tympan_speech::asr::sphinx::{Search, TELEPHONE_MLLR, DEFAULT_LM};
use tympan_speech::asr::*;
use tympan_speech::AnswerType;

fn read(path: &std::path::Path) -> (Vec<i16>, u32) {
    let a = tympan_audio::decode::read_file_mono(path, None).unwrap();
    (a.channels[0].iter().map(|&v| tympan_audio::pcm::f32_to_i16(v)).collect(), a.sample_rate)
}

#[test]
#[ignore]
fn eval_all() {
    let mllr_on = std::env::var("NO_MLLR").is_err();
    let lm = std::env::var("LM").is_ok();
    let nvoices: usize = std::env::var("VOICES").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let path = std::env::temp_dir().join("tmp-eval.mllr");
    std::fs::write(&path, TELEPHONE_MLLR).unwrap();
    let eng = SphinxEngine::new(SphinxConfig { mllr: mllr_on.then(|| path.clone()), language_model: lm.then(|| DEFAULT_LM.into()), ..Default::default() }).unwrap();
    let mut clips = espeak_clips(&ESPEAK_VOICES[..nvoices], ESPEAK_PHRASES).unwrap();
    if std::env::var("NODATA").is_err() {
    let sc = std::path::Path::new("/work/shared/data/speech-commands-yesno");
    for line in std::fs::read_to_string(sc.join("files.csv")).unwrap().lines().skip(1) {
        let mut f = line.split(',');
        let file = f.next().unwrap();
        let Some((t, e)) = speech_commands_label(f.next().unwrap()) else { continue };
        let (s, r) = read(&sc.join(file));
        clips.push(Clip { id: file.into(), group: if t == AnswerType::YesNo { "speech-commands yes/no".into() } else { "speech-commands digits".into() }, answer_type: t, expected: e.into(), samples: s, sample_rate: r });
    }
    let fs = std::path::Path::new("/work/shared/data/fsdd/recordings");
    let mut names: Vec<String> = std::fs::read_dir(fs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    for n in names { let Some((d, test)) = fsdd_label(&n) else { continue }; if !test { continue; } let (s, r) = read(&fs.join(&n)); clips.push(Clip { id: n.clone(), group: "fsdd digits".into(), answer_type: AnswerType::Number, expected: d.into(), samples: s, sample_rate: r }); }
    }
    let t0 = Instant::now();
    let results: Vec<_> = clips.iter().map(|c| run_grammar_clip(&eng, c).unwrap()).collect();
    let secs = t0.elapsed().as_secs_f64();
    let audio: f64 = results.iter().map(|r| r.audio_ms).sum::<f64>() / 1000.0;
    if std::env::var("VERBOSE").is_ok() { for r in results.iter().filter(|r| !r.correct) { println!("MISS {} expected {:?} got {:?}", r.id, r.expected, r.got); } }
    println!("mllr={mllr_on}");
    for s in summarize(&results) { println!("{:<28} {:<8} {:>4} {:>4} {:>6.1}%", s.group, s.answer_type, s.n, s.correct, 100.0 * s.accuracy()); }
    let esp: Vec<_> = results.iter().filter(|r| r.group.starts_with("espeak")).collect();
    println!("espeak total {}/{}", esp.iter().filter(|r| r.correct).count(), esp.len());
    println!("RTF {:.4} ({secs:.1} s for {audio:.1} s)", secs / audio);
    if lm {
        let mut ok = 0; let mut n = 0;
        for c in clips.iter().filter(|c| c.group.starts_with("espeak")) {
            let rec: Box<dyn Recognizer> = Box::new(eng.recognizer(Search::LanguageModel, 8000, &EndpointConfig::default()).unwrap());
            let r = run_clip(rec, c).unwrap();
            let norm = r.got.clone().map(|g| g.replace("ok", "okay").replace("okayay", "okay"));
            n += 1; if norm.as_deref() == Some(c.expected.as_str()) { ok += 1; }
            if std::env::var("VERBOSE").is_ok() { println!("LM {} -> {:?}", c.expected, r.got); }
        }
        println!("LM espeak exact {ok}/{n}");
    }
}
