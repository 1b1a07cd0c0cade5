//! WAV parsing rules, error reporting and streaming, on WAV files built byte by byte.

mod decode_common;

use std::io::{Cursor, Read};
use tympan_audio::decode::{
    self, decode_bytes, probe, select_channel, AudioReader, Container, WavStreamDecoder,
};
use tympan_audio::g711;
use tympan_audio::wav_write::{encode_wav, Codec};
use tympan_audio::{Audio, AudioError};

/// Build a WAV: `fmt` body, extra chunks before data, data bytes, optional data size override.
fn wav(fmt: &[u8], extra: &[(&[u8; 4], Vec<u8>, bool)], data: &[u8], size: Option<u32>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF\0\0\0\0WAVE");
    b.extend_from_slice(b"fmt ");
    b.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    b.extend_from_slice(fmt);
    for (id, body, pad) in extra {
        b.extend_from_slice(*id);
        b.extend_from_slice(&(body.len() as u32).to_le_bytes());
        b.extend_from_slice(body);
        if *pad && body.len() % 2 == 1 {
            b.push(0);
        }
    }
    b.extend_from_slice(b"data");
    b.extend_from_slice(&size.unwrap_or(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    let riff = (b.len() - 8) as u32;
    b[4..8].copy_from_slice(&riff.to_le_bytes());
    b
}

fn fmt(tag: u16, ch: u16, rate: u32, bits: u16) -> Vec<u8> {
    let ba = ch * bits.div_ceil(8);
    let mut f = Vec::new();
    f.extend_from_slice(&tag.to_le_bytes());
    f.extend_from_slice(&ch.to_le_bytes());
    f.extend_from_slice(&rate.to_le_bytes());
    f.extend_from_slice(&(rate * ba as u32).to_le_bytes());
    f.extend_from_slice(&ba.to_le_bytes());
    f.extend_from_slice(&bits.to_le_bytes());
    f
}

fn extensible(sub_tag: u16, ch: u16, rate: u32, bits: u16, valid: u16) -> Vec<u8> {
    let mut f = fmt(0xFFFE, ch, rate, bits);
    f.extend_from_slice(&22u16.to_le_bytes());
    f.extend_from_slice(&valid.to_le_bytes());
    f.extend_from_slice(&3u32.to_le_bytes());
    f.extend_from_slice(&sub_tag.to_le_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
    f
}

fn s16(v: &[i16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn pcm_widths_and_float_decode_to_expected_values() {
    let a = decode_bytes(&wav(&fmt(1, 1, 8000, 8), &[], &[0, 128, 255, 64], None)).unwrap();
    assert_eq!(a.channels[0], vec![-1.0, 0.0, 127.0 / 128.0, -0.5]);

    let a = decode_bytes(&wav(
        &fmt(1, 2, 16000, 16),
        &[],
        &s16(&[-32768, 16384, 1, -1]),
        None,
    ))
    .unwrap();
    assert_eq!(a.sample_rate, 16000);
    assert_eq!(
        a.channels,
        vec![vec![-1.0, 1.0 / 32768.0], vec![0.5, -1.0 / 32768.0]]
    );

    let d24 = [0x00, 0x00, 0x80, 0xFF, 0xFF, 0x7F, 0x00, 0x00, 0x40];
    let a = decode_bytes(&wav(&fmt(1, 1, 8000, 24), &[], &d24, None)).unwrap();
    assert_eq!(a.channels[0], vec![-1.0, 8_388_607.0 / 8_388_608.0, 0.5]);

    let d32: Vec<u8> = [i32::MIN, 1 << 30]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let a = decode_bytes(&wav(&fmt(1, 1, 8000, 32), &[], &d32, None)).unwrap();
    assert_eq!(a.channels[0], vec![-1.0, 0.5]);

    let f32d: Vec<u8> = [0.25f32, -0.75]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let a = decode_bytes(&wav(&fmt(3, 1, 44100, 32), &[], &f32d, None)).unwrap();
    assert_eq!(a.channels[0], vec![0.25, -0.75]);

    let f64d: Vec<u8> = [0.125f64, -1.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let a = decode_bytes(&wav(&fmt(3, 1, 48000, 64), &[], &f64d, None)).unwrap();
    assert_eq!(a.channels[0], vec![0.125, -1.0]);
}

#[test]
fn g711_wav_decodes_through_reference_tables() {
    let codes: Vec<u8> = (0..=255).collect();
    let a = decode_bytes(&wav(&fmt(7, 1, 8000, 8), &[], &codes, None)).unwrap();
    let want: Vec<f32> = codes
        .iter()
        .map(|&c| g711::ulaw_decode(c) as f32 / 32768.0)
        .collect();
    assert_eq!(a.channels[0], want);
    let a = decode_bytes(&wav(&fmt(6, 1, 8000, 8), &[], &codes, None)).unwrap();
    let want: Vec<f32> = codes
        .iter()
        .map(|&c| g711::alaw_decode(c) as f32 / 32768.0)
        .collect();
    assert_eq!(a.channels[0], want);
    let info = probe(&wav(&fmt(7, 1, 8000, 8), &[], &codes, None)).unwrap();
    assert_eq!(info.encoding, "mulaw");
    assert_eq!(info.frames, Some(256));
}

#[test]
fn wave_format_extensible_is_unwrapped() {
    let data = s16(&[100, -200, 300, -400]);
    let a = decode_bytes(&wav(&extensible(1, 2, 8000, 16, 16), &[], &data, None)).unwrap();
    assert_eq!(a.channels[1], vec![-200.0 / 32768.0, -400.0 / 32768.0]);
    // 24 valid bits in 32-bit containers decode by container width.
    let d: Vec<u8> = [0x4000_0000i32, -0x4000_0000]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let a = decode_bytes(&wav(&extensible(1, 1, 8000, 32, 24), &[], &d, None)).unwrap();
    assert_eq!(a.channels[0], vec![0.5, -0.5]);
    let f: Vec<u8> = [0.5f32].iter().flat_map(|x| x.to_le_bytes()).collect();
    let a = decode_bytes(&wav(&extensible(3, 1, 8000, 32, 32), &[], &f, None)).unwrap();
    assert_eq!(a.channels[0], vec![0.5]);
    let mut bad = extensible(1, 1, 8000, 16, 16);
    bad[30] = 0x99;
    let e = decode_bytes(&wav(&bad, &[], &data, None)).unwrap_err();
    assert!(
        matches!(e, AudioError::Unsupported(ref m) if m.contains("GUID")),
        "{e}"
    );
}

#[test]
fn unknown_chunks_and_odd_padding_are_skipped() {
    let data = s16(&[1000, 2000, 3000]);
    let want: Vec<f32> = [1000.0, 2000.0, 3000.0]
        .iter()
        .map(|x| x / 32768.0)
        .collect();
    let extra = [
        (b"LIST", vec![b'x'; 7], true),
        (b"junk", vec![1, 2, 3, 4], true),
    ];
    let a = decode_bytes(&wav(&fmt(1, 1, 8000, 16), &extra, &data, None)).unwrap();
    assert_eq!(a.channels[0], want);
    // Writer that forgot the pad byte after an odd chunk.
    let extra = [(b"LIST", vec![b'x'; 7], false)];
    let a = decode_bytes(&wav(&fmt(1, 1, 8000, 16), &extra, &data, None)).unwrap();
    assert_eq!(a.channels[0], want);
}

#[test]
fn streaming_writer_sizes_mean_rest_of_file() {
    for size in [0u32, u32::MAX] {
        let mut data = s16(&[5, 6, 7, 8]);
        data.push(0x33); // a partial trailing frame is dropped
        let bytes = wav(&fmt(1, 2, 8000, 16), &[], &data, Some(size));
        let a = decode_bytes(&bytes).unwrap();
        assert_eq!(a.frames(), 2, "size {size:#x}");
        assert_eq!(probe(&bytes).unwrap().frames, Some(2));
    }
    // A declared size shorter than the file: bytes after the chunk are ignored.
    let mut bytes = wav(&fmt(1, 1, 8000, 16), &[], &s16(&[1, 2, 3]), Some(4));
    bytes.extend_from_slice(b"LIST\x02\0\0\0ab");
    assert_eq!(decode_bytes(&bytes).unwrap().frames(), 2);
}

#[test]
fn errors_name_what_and_where() {
    assert!(matches!(decode_bytes(&[]), Err(AudioError::Empty)));

    // Data declared longer than present: truncated, at the end of the input.
    let bytes = wav(&fmt(1, 1, 8000, 16), &[], &s16(&[1, 2, 3]), Some(100));
    match decode_bytes(&bytes) {
        Err(AudioError::Truncated { offset, what }) => {
            assert_eq!(offset, bytes.len() as u64);
            assert!(what.contains("declares 100 bytes"), "{what}");
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    // Header cut inside fmt.
    let full = wav(&fmt(1, 1, 8000, 16), &[], &s16(&[1]), None);
    match decode_bytes(&full[..24]) {
        Err(AudioError::Truncated { offset: 24, what }) => assert!(what.contains("fmt"), "{what}"),
        other => panic!("expected Truncated at 24, got {other:?}"),
    }
    // RIFF header cut.
    assert!(matches!(
        decode_bytes(b"RIFF\0\0"),
        Err(AudioError::Truncated { offset: 6, .. })
    ));
    // No samples.
    let e = decode_bytes(&wav(&fmt(1, 1, 8000, 16), &[], &[], Some(0))).unwrap_err();
    assert!(matches!(e, AudioError::NoSamples), "{e}");
    // Text, images.
    let e = decode_bytes(b"id,label\n1,cough\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not an audio file") && e.contains("looks like text") && e.contains("69 64"),
        "{e}"
    );
    let e = decode_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
        .unwrap_err()
        .to_string();
    assert!(e.contains("PNG"), "{e}");
    let e = decode_bytes(b"RIFF\x10\0\0\0AVI LIST")
        .unwrap_err()
        .to_string();
    assert!(e.contains("AVI"), "{e}");
    // Unsupported encodings.
    let e = decode_bytes(&wav(&fmt(2, 1, 8000, 4), &[], &[0; 8], None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ADPCM"), "{e}");
    // 12 valid bits in 16-bit containers are fine (left-justified); 20 bits in 2 bytes are not.
    let a = decode_bytes(&wav(&fmt(1, 1, 8000, 12), &[], &s16(&[0x4000, 0]), None)).unwrap();
    assert_eq!(a.channels[0], vec![0.5, 0.0]);
    let mut f20 = fmt(1, 1, 8000, 20);
    f20[12] = 2;
    let e = decode_bytes(&wav(&f20, &[], &[0; 8], None)).unwrap_err();
    assert!(matches!(e, AudioError::Malformed { offset: 32, .. }), "{e}");
    let e = decode_bytes(b"FORM\0\0\0\x20AIFFCOMM")
        .unwrap_err()
        .to_string();
    assert!(e.contains("AIFF"), "{e}");
    // data before fmt.
    let mut b = b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\x01\x02".to_vec();
    b.extend_from_slice(b"fmt ");
    let e = decode_bytes(&b).unwrap_err();
    assert!(matches!(e, AudioError::Malformed { offset: 12, .. }), "{e}");
    // Garbage chunk id.
    let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
    b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]);
    let e = decode_bytes(&b).unwrap_err();
    assert!(matches!(e, AudioError::Malformed { offset: 12, .. }), "{e}");
    // Zero channels / rate.
    let e = decode_bytes(&wav(&fmt(1, 0, 8000, 16), &[], &[0; 4], None)).unwrap_err();
    assert!(e.to_string().contains("channel count is 0"), "{e}");
}

#[test]
fn whole_file_decode_refuses_very_long_audio_before_decoding() {
    // Header claims 288 MiB of 8 kHz mono 16-bit: about 5.2 hours, above the 4-hour limit
    // (sizes from 0x7FFF0000 up are streaming placeholders and mean "rest of the input").
    let bytes = wav(&fmt(1, 1, 8000, 16), &[], &s16(&[1; 64]), Some(0x1200_0000));
    let e = decode_bytes(&bytes).unwrap_err().to_string();
    assert!(e.contains("MAX_DURATION_S"), "{e}");
}

#[test]
fn read_file_names_the_file() {
    let dir = decode_common::temp_dir("readfile");
    let p = dir.join("empty.wav");
    std::fs::write(&p, b"").unwrap();
    let e = decode::read_file(&p).unwrap_err().to_string();
    assert!(e.contains("empty.wav") && e.contains("0 bytes"), "{e}");
    let p = dir.join("tone.wav");
    let audio = Audio::mono(
        8000,
        (0..800).map(|i| (i as f32 * 0.05).sin() * 0.5).collect(),
    );
    std::fs::write(&p, encode_wav(&audio, Codec::Pcm16)).unwrap();
    let a = decode::read_file(&p).unwrap();
    assert_eq!(a.frames(), 800);
    let info = decode::probe_file(&p).unwrap();
    assert_eq!(
        (info.container, info.sample_rate, info.channels),
        (Container::Wav, 8000, 1)
    );
    assert_eq!(info.frames, Some(800));
    let e = decode::read_file(&dir.join("missing.wav"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.wav"), "{e}");
}

#[test]
fn push_decoder_gives_same_frames_for_any_split() {
    let samples: Vec<i16> = (0..3001)
        .map(|i| ((i * 7919) % 65536 - 32768) as i16)
        .collect();
    let extra = [(b"LIST", vec![b'y'; 13], true)];
    let bytes = wav(&fmt(1, 3, 8000, 16), &extra, &s16(&samples[..3000]), None);
    let whole = decode_bytes(&bytes).unwrap();
    for step in [1usize, 2, 3, 7, 4096] {
        let mut dec = WavStreamDecoder::new();
        let mut got = vec![Vec::new(); 3];
        for piece in bytes.chunks(step) {
            for (g, b) in got.iter_mut().zip(dec.push(piece).unwrap()) {
                g.extend(b);
            }
        }
        assert_eq!(dec.finish().unwrap(), 1000);
        assert_eq!(got, whole.channels, "step {step}");
    }
    // Truncation is reported by finish().
    let mut dec = WavStreamDecoder::new();
    dec.push(&bytes[..bytes.len() - 3]).unwrap();
    assert!(matches!(dec.finish(), Err(AudioError::Truncated { .. })));
}

#[test]
fn encode_wav_round_trips() {
    let x: Vec<f32> = (0..1601).map(|i| (i as f32 * 0.013).sin() * 0.8).collect();
    let y: Vec<f32> = x.iter().map(|v| -v * 0.5).collect();
    let audio = Audio {
        sample_rate: 8000,
        channels: vec![x.clone(), y.clone()],
    };
    let pcm = decode_bytes(&encode_wav(&audio, Codec::Pcm16)).unwrap();
    assert_eq!(pcm.sample_rate, 8000);
    for (a, b) in pcm.channels[0].iter().zip(&x) {
        assert!((a - b).abs() <= 0.5 / 32768.0 + 1e-7);
    }
    for (codec, enc, dec, name) in [
        (
            Codec::Ulaw,
            g711::ulaw_encode as fn(i16) -> u8,
            g711::ulaw_decode as fn(u8) -> i16,
            "mulaw",
        ),
        (Codec::Alaw, g711::alaw_encode, g711::alaw_decode, "alaw"),
    ] {
        let bytes = encode_wav(&audio, codec);
        assert_eq!(bytes.len() % 2, 0, "RIFF pads odd data");
        assert!(bytes.windows(4).any(|w| w == b"fact"));
        let info = probe(&bytes).unwrap();
        assert_eq!(info.encoding, name);
        assert_eq!(info.frames, Some(1601));
        let back = decode_bytes(&bytes).unwrap();
        for (c, orig) in [&x, &y].iter().enumerate() {
            let want: Vec<f32> = orig
                .iter()
                .map(|&v| dec(enc(tympan_audio::pcm::f32_to_i16(v))) as f32 / 32768.0)
                .collect();
            assert_eq!(back.channels[c], want);
        }
    }
}

#[test]
fn channel_selection_and_downmix() {
    let audio = Audio {
        sample_rate: 8000,
        channels: vec![vec![1.0, 0.0], vec![0.0, -0.5]],
    };
    assert_eq!(select_channel(&audio, Some(1)).unwrap(), vec![0.0, -0.5]);
    assert_eq!(select_channel(&audio, None).unwrap(), vec![0.5, -0.25]);
    let e = select_channel(&audio, Some(2)).unwrap_err().to_string();
    assert!(e.contains("channel 2") && e.contains("2 channel"), "{e}");
}

/// A `Read` that synthesises a long 16-bit mono WAV on the fly (never held in memory).
struct SynthWav {
    header: Cursor<Vec<u8>>,
    frames_left: u64,
    n: u64,
}

impl Read for SynthWav {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.header.read(buf)?;
        if k > 0 {
            return Ok(k);
        }
        let mut w = 0;
        while w + 2 <= buf.len() && self.frames_left > 0 {
            let v = ((self.n % 200) as i16 - 100) * 100;
            buf[w..w + 2].copy_from_slice(&v.to_le_bytes());
            w += 2;
            self.n += 1;
            self.frames_left -= 1;
        }
        Ok(w)
    }
}

#[test]
fn reader_streams_a_two_hour_file_in_blocks() {
    let frames = 2 * 3600 * 8000u64;
    let header = wav(&fmt(1, 1, 8000, 16), &[], &[], Some((frames * 2) as u32));
    let src = SynthWav {
        header: Cursor::new(header),
        frames_left: frames,
        n: 0,
    };
    let mut reader = AudioReader::new(src).unwrap();
    assert_eq!(reader.info().frames, Some(frames));
    assert_eq!(reader.info().duration_s(), Some(7200.0));
    let (mut total, mut max_block, mut sum) = (0u64, 0usize, 0f64);
    for block in reader.by_ref() {
        let block = block.unwrap();
        max_block = max_block.max(block[0].len());
        total += block[0].len() as u64;
        sum += block[0].iter().map(|&v| v as f64).sum::<f64>();
    }
    assert_eq!(total, frames);
    assert!(
        max_block <= decode::READ_BLOCK_BYTES / 2,
        "block of {max_block} frames"
    );
    // Sawtooth from -100 to 99 (×100): mean -50/32768 per sample.
    assert!((sum / total as f64 - (-50.0 * 100.0 / 100.0 / 32768.0)).abs() < 1e-6);
}

#[test]
fn reader_matches_whole_decode_and_reports_truncation() {
    let samples: Vec<i16> = (0..50_000).map(|i| (i % 1000) as i16 * 30).collect();
    let bytes = wav(&fmt(1, 2, 22050, 16), &[], &s16(&samples), None);
    let whole = decode_bytes(&bytes).unwrap();
    let mut got = vec![Vec::new(); 2];
    for block in AudioReader::new(Cursor::new(bytes.clone())).unwrap() {
        for (g, b) in got.iter_mut().zip(block.unwrap()) {
            g.extend(b);
        }
    }
    assert_eq!(got, whole.channels);
    let cut = bytes[..bytes.len() - 10].to_vec();
    let results: Vec<_> = AudioReader::new(Cursor::new(cut)).unwrap().collect();
    let last = results.last().unwrap();
    assert!(
        matches!(last, Err(AudioError::Truncated { .. })),
        "{last:?}"
    );
}
