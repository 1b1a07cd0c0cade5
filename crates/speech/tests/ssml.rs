//! SSML subset: parsing, normalisation and errors with byte offsets.

use tympan_speech::ssml::{
    parse, Document, EmphasisLevel, Node, ProsodyChange, Segment, SsmlError, MAX_BREAK_MS,
    MAX_SSML_BYTES, PARAGRAPH_PAUSE_MS, SENTENCE_PAUSE_MS,
};

fn speech(seg: &Segment) -> &str {
    match seg {
        Segment::Speech { text, .. } => text,
        Segment::Silence(_) => panic!("expected speech, got {seg:?}"),
    }
}

#[test]
fn callouts_prompts_parse() {
    // The Callouts sheet's prompts as a flow renders them: text inside <speak>.
    for (ssml, plain) in [
        (
            "<speak>Hi Cyrus Wong, This is a reminder to let you know that the book report assignment is due this Friday, 3 June 2020. Are you ready?</speak>",
            "Hi Cyrus Wong, This is a reminder to let you know that the book report assignment is due this Friday, 3 June 2020. Are you ready?",
        ),
        (
            "<speak>How do you know Amazon Connect? A. News Letter, B. Social Media, C. AWS Event, D. AWS Website, or E. From Friend.</speak>",
            "How do you know Amazon Connect? A. News Letter, B. Social Media, C. AWS Event, D. AWS Website, or E. From Friend.",
        ),
        ("<speak>answer \"ok\", if you got the message.</speak>", "answer \"ok\", if you got the message."),
        ("<speak>Good Bye Cyrus and have a nice day!</speak>", "Good Bye Cyrus and have a nice day!"),
    ] {
        let doc = parse(ssml).unwrap();
        assert_eq!(doc.plain_text(), plain);
    }
}

#[test]
fn full_subset_normalises() {
    let doc = parse(
        r#"<?xml version="1.0"?>
<speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">
  <!-- a comment -->
  Your code is <say-as interpret-as="digits">4071</say-as>.
  <break time="500ms"/>
  Call <say-as interpret-as="telephone">+1 (555) 123-4567</say-as>
  on <say-as interpret-as="date" format="mdy">06/03/2025</say-as>
  or <say-as interpret-as="date">2024-02-29</say-as>,
  you are <say-as interpret-as="ordinal">21</say-as> of <say-as interpret-as="cardinal">1,005</say-as>.
  Spell <say-as interpret-as="characters">ABC</say-as>.
  <prosody rate="slow" volume="+6dB" pitch="+2st">slowly</prosody>
  <emphasis level="strong">now</emphasis>
  <break strength="strong"/>
  <s>one</s><p>two</p>
  <sub alias="World Wide Web Consortium">W3C</sub> &amp; &lt;more&gt; &#65;&#x42;
</speak>"#,
    )
    .unwrap();
    let segs = doc.segments();
    assert_eq!(speech(&segs[0]), "Your code is four zero seven one.");
    assert_eq!(segs[1], Segment::Silence(500));
    assert_eq!(
        speech(&segs[2]),
        "Call plus one, five five five, one two three, four five six seven on June third, \
         twenty twenty five or February twenty ninth, twenty twenty four, you are twenty first \
         of one thousand and five. Spell"
    );
    match &segs[3] {
        Segment::Speech {
            text, characters, ..
        } => {
            assert_eq!(text, "ABC");
            assert!(characters);
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(speech(&segs[4]), ".");
    match &segs[5] {
        Segment::Speech { text, style, .. } => {
            assert_eq!(text, "slowly");
            assert_eq!(style.prosody.rate, 0.75);
            assert!((style.prosody.volume - 1.995).abs() < 0.01, "{style:?}");
            assert!((style.prosody.pitch - 1.1225).abs() < 0.001, "{style:?}");
        }
        s => panic!("{s:?}"),
    }
    match &segs[6] {
        Segment::Speech { text, style, .. } => {
            assert_eq!(text, "now");
            assert_eq!(style.emphasis, Some(EmphasisLevel::Strong));
            assert_eq!(style.prosody, EmphasisLevel::Strong.change());
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(segs[7], Segment::Silence(PARAGRAPH_PAUSE_MS));
    assert_eq!(speech(&segs[8]), "one");
    assert_eq!(segs[9], Segment::Silence(SENTENCE_PAUSE_MS));
    assert_eq!(speech(&segs[10]), "two");
    assert_eq!(segs[11], Segment::Silence(PARAGRAPH_PAUSE_MS));
    assert_eq!(speech(&segs[12]), "World Wide Web Consortium & <more> AB");
    assert_eq!(segs.len(), 13);
}

#[test]
fn nested_prosody_multiplies_and_espeak_form_is_canonical() {
    let doc = parse(
        r#"<speak><prosody rate="50%"><prosody rate="+50%" volume="soft">x</prosody></prosody> y <break time="1.5s"/></speak>"#,
    )
    .unwrap();
    let segs = doc.segments();
    match &segs[0] {
        Segment::Speech { style, .. } => {
            assert_eq!(style.prosody.rate, 0.75);
            assert_eq!(style.prosody.volume, 0.5);
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(segs[2], Segment::Silence(1500));
    assert_eq!(
        doc.to_espeak_ssml(),
        "<speak><prosody rate=\"50%\" pitch=\"100%\" volume=\"100%\"><prosody rate=\"150%\" pitch=\"100%\" volume=\"50%\">x</prosody></prosody> y <break time=\"1500ms\"/></speak>"
    );
    // Text is escaped again on the way out.
    let doc = parse("<speak>a &amp; b <say-as interpret-as=\"characters\">&lt;</say-as></speak>")
        .unwrap();
    assert_eq!(
        doc.to_espeak_ssml(),
        "<speak>a &amp; b <say-as interpret-as=\"characters\">&lt;</say-as></speak>"
    );
    // Round trip: the canonical form parses to the same document.
    let again = parse(&doc.to_espeak_ssml()).unwrap();
    assert_eq!(again, doc);
}

#[test]
fn tree_shape() {
    let doc = parse("<speak>a<emphasis>b</emphasis><prosody volume=\"silent\">c</prosody></speak>")
        .unwrap();
    assert_eq!(
        doc,
        Document {
            nodes: vec![
                Node::Text("a".into()),
                Node::Emphasis(EmphasisLevel::Moderate, vec![Node::Text("b".into())]),
                Node::Prosody(
                    ProsodyChange {
                        rate: 1.0,
                        pitch: 1.0,
                        volume: 0.0
                    },
                    vec![Node::Text("c".into())]
                ),
            ]
        }
    );
}

/// (input, expected error text fragment, expected byte offset)
#[test]
fn errors_name_the_problem_and_offset() {
    let cases: &[(&str, &str, usize)] = &[
        (
            "<speak>hi <audio src=\"x.wav\"/></speak>",
            "unsupported SSML element <audio>",
            10,
        ),
        ("<speak><voice name=\"x\">hi</voice></speak>", "<voice>", 7),
        ("<speak><break time=\"soon\"/></speak>", "break/@time", 20),
        (
            "<speak><break time=\"20s\"/></speak>",
            "between 0 and 10000 ms",
            20,
        ),
        (
            "<speak><break strength=\"huge\"/></speak>",
            "break/@strength",
            24,
        ),
        (
            "<speak><break time=\"1s\">x</break></speak>",
            "<break> must be empty",
            24,
        ),
        (
            "<speak><prosody speed=\"1\">x</prosody></speak>",
            "unsupported attribute \"speed\" on <prosody>",
            16,
        ),
        (
            "<speak><prosody rate=\"warp\">x</prosody></speak>",
            "prosody/@rate",
            22,
        ),
        (
            "<speak><prosody rate=\"1000%\">x</prosody></speak>",
            "outside 0.2..4",
            22,
        ),
        (
            "<speak><prosody volume=\"+6\">x</prosody></speak>",
            "prosody/@volume",
            24,
        ),
        (
            "<speak><emphasis level=\"max\">x</emphasis></speak>",
            "emphasis/@level",
            24,
        ),
        (
            "<speak><say-as>12</say-as></speak>",
            "needs the attribute \"interpret-as\"",
            7,
        ),
        (
            "<speak><say-as interpret-as=\"money\">12</say-as></speak>",
            "say-as/@interpret-as",
            29,
        ),
        (
            "<speak><say-as interpret-as=\"digits\">12a</say-as></speak>",
            "'a' is not a digit",
            39,
        ),
        (
            "<speak><say-as interpret-as=\"date\">2025-13-01</say-as></speak>",
            "month 13",
            35,
        ),
        (
            "<speak><say-as interpret-as=\"date\">2023-02-29</say-as></speak>",
            "day 29 is not 1..28",
            35,
        ),
        (
            "<speak><say-as interpret-as=\"date\" format=\"qq\">1</say-as></speak>",
            "say-as/@format",
            43,
        ),
        (
            "<speak><say-as interpret-as=\"digits\" format=\"x\">1</say-as></speak>",
            "unsupported attribute \"format\"",
            37,
        ),
        (
            "<speak><say-as interpret-as=\"digits\"><break/>1</say-as></speak>",
            "may hold only text",
            37,
        ),
        (
            "<speak><sub>x</sub></speak>",
            "needs the attribute \"alias\"",
            7,
        ),
        ("<speak>a & b</speak>", "'&' must start an entity", 9),
        ("<speak>a &bogus; b</speak>", "unknown entity &bogus;", 9),
        ("<speak>a</speek>", "</speek> closes <speak>", 8),
        ("<speak>a", "<speak> opened at byte 0 is not closed", 8),
        ("hello <speak>a</speak>", "text before the <speak>", 0),
        ("<speak>a</speak> trailing", "text after the <speak>", 17),
        ("<p>a</p>", "root element must be <speak>", 0),
        (
            "<speak><speak>a</speak></speak>",
            "<speak> inside <speak>",
            7,
        ),
        (
            "<speak x=\"1\">a</speak>",
            "unsupported attribute \"x\" on <speak>",
            7,
        ),
        (
            "<speak><break time=\"1s\" time=\"2s\"/></speak>",
            "duplicate attribute time",
            24,
        ),
        ("<speak><break time=1s/></speak>", "must be quoted", 19),
        ("<speak><![CDATA[x]]></speak>", "CDATA", 7),
        ("<!DOCTYPE speak><speak/>", "DOCTYPE", 0),
        (
            "<speak><!-- never closed </speak>",
            "unterminated comment",
            7,
        ),
        ("", "no <speak> element", 0),
    ];
    for (input, want, offset) in cases {
        let err = parse(input).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(want), "{input:?}: {msg}");
        let got_offset = match &err {
            SsmlError::Syntax { offset, .. }
            | SsmlError::UnknownElement { offset, .. }
            | SsmlError::UnknownAttribute { offset, .. }
            | SsmlError::MissingAttribute { offset, .. }
            | SsmlError::BadValue { offset, .. } => *offset,
            SsmlError::TooLong { .. } => usize::MAX,
        };
        assert_eq!(got_offset, *offset, "{input:?}: {msg}");
        assert!(msg.contains(&format!("byte {offset}")), "{input:?}: {msg}");
    }
}

#[test]
fn limits() {
    let long = format!("<speak>{}</speak>", "a".repeat(MAX_SSML_BYTES));
    assert!(matches!(parse(&long), Err(SsmlError::TooLong { .. })));
    let ok = format!("<speak><break time=\"{MAX_BREAK_MS}ms\"/></speak>");
    assert_eq!(
        parse(&ok).unwrap().segments(),
        vec![Segment::Silence(MAX_BREAK_MS)]
    );
    let deep = format!("<speak>{}x{}</speak>", "<s>".repeat(40), "</s>".repeat(40));
    let e = parse(&deep).unwrap_err().to_string();
    assert!(e.contains("nest deeper than 32"), "{e}");
}
