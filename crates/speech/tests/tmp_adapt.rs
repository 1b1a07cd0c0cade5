// Temporary: writes the adaptation data like `tympan speech adapt-data` (not committed).
use tympan_speech::asr::eval::telephone;
use tympan_speech::asr::sphinx::model_audio;
use tympan_speech::asr::{SphinxConfig, SphinxEngine};

#[test]
#[ignore]
fn write_adapt_data() {
    let ls = std::path::Path::new("/work/shared/data/librispeech-dev");
    let out = std::path::Path::new("/var/tmp/speech-adapt-work");
    let raw = out.join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let eng = SphinxEngine::new(SphinxConfig::default()).unwrap();
    let text = std::fs::read_to_string(ls.join("transcripts.txt")).unwrap();
    let (mut ids, mut trans) = (String::new(), String::new());
    for line in text.lines() {
        let (utt, words) = line.split_once(' ').unwrap();
        let words = words.to_lowercase();
        if !words.split_whitespace().all(|w| eng.has_word(w)) { continue; }
        let spk = utt.split('-').next().unwrap();
        let a = tympan_audio::decode::read_file_mono(&ls.join(spk).join(format!("{utt}.flac")), None).unwrap();
        let s: Vec<i16> = a.channels[0].iter().map(|&v| tympan_audio::pcm::f32_to_i16(v)).collect();
        let m = model_audio(&telephone(&s, a.sample_rate).unwrap(), 8000).unwrap();
        std::fs::write(raw.join(format!("{utt}.raw")), m.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        ids.push_str(&format!("{utt}\n"));
        trans.push_str(&format!("<s> {words} </s> ({utt})\n"));
    }
    std::fs::write(out.join("adapt.fileids"), ids).unwrap();
    std::fs::write(out.join("adapt.transcription"), trans).unwrap();
}
