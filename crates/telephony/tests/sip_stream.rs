//! TCP framing by Content-Length, message limits, `tel:` URIs.

use tympan_telephony::sip::{
    parse_datagram, ParseError, StreamDecoder, StreamError, TelUri, Uri, MAX_MESSAGE_SIZE,
};

fn options(call_id: &str, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:u@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h.example.com;branch=z9hG4bK{call_id}\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:u@example.com>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nl: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn messages_split_across_arbitrary_chunks_are_framed_by_content_length() {
    let mut stream = b"\r\n\r\n".to_vec(); // keep-alive before the first message
    stream.extend(options("one", "hello"));
    stream.extend(b"\r\n\r\n");
    stream.extend(options("two", ""));
    stream.extend(options("three", "xyz"));
    let mut d = StreamDecoder::new(4096);
    let mut got = Vec::new();
    for chunk in stream.chunks(7) {
        d.push(chunk);
        while let Some(m) = d.next_message().unwrap() {
            got.push((m.call_id.clone(), m.body.clone()));
        }
    }
    assert_eq!(
        got,
        vec![
            ("one".to_string(), b"hello".to_vec()),
            ("two".to_string(), vec![]),
            ("three".to_string(), b"xyz".to_vec())
        ]
    );
    assert_eq!(d.buffered(), 0);
}

#[test]
fn decoder_waits_for_the_whole_body() {
    let m = options("wait", "0123456789");
    let mut d = StreamDecoder::new(4096);
    d.push(&m[..m.len() - 1]);
    assert_eq!(d.next_message().unwrap(), None);
    d.push(&m[m.len() - 1..]);
    assert_eq!(d.next_message().unwrap().unwrap().body, b"0123456789");
}

#[test]
fn missing_content_length_on_a_stream_is_fatal_and_names_the_offset() {
    let mut stream = options("ok", "");
    let first_len = stream.len();
    stream.extend(b"OPTIONS sip:u@example.com SIP/2.0\r\nCall-ID: x\r\n\r\n");
    let mut d = StreamDecoder::new(4096);
    d.push(&stream);
    assert!(d.next_message().unwrap().is_some());
    let e = d.next_message().unwrap_err();
    assert_eq!(
        e,
        StreamError::Bad {
            offset: first_len as u64,
            error: ParseError::Missing("Content-Length")
        }
    );
    // framing is lost for good
    d.push(&options("later", ""));
    assert!(d.next_message().is_err());
}

#[test]
fn oversized_messages_are_refused_before_they_are_buffered_whole() {
    let mut d = StreamDecoder::new(256);
    d.push(&options("big", &"x".repeat(300)));
    assert_eq!(d.next_message(), Err(StreamError::TooLarge { limit: 256 }));
    let mut d = StreamDecoder::new(64);
    d.push(&[b'A'; 100]); // a header section that never ends
    assert_eq!(d.next_message(), Err(StreamError::TooLarge { limit: 64 }));
    let big = vec![b'A'; MAX_MESSAGE_SIZE + 1];
    let e = parse_datagram(&big).unwrap_err();
    assert_eq!(
        (e.status_code(), e.reason_phrase().as_str()),
        (513, "Message Too Large")
    );
}

#[test]
fn non_utf8_header_names_the_byte_offset() {
    let mut m = options("utf", "");
    m[40] = 0xff;
    assert_eq!(
        parse_datagram(&m).unwrap_err(),
        ParseError::NotUtf8 { offset: 40 }
    );
}

#[test]
fn tel_uris_global_and_local() {
    let t = TelUri::parse("+1-201-555-0123;ext=1234").unwrap();
    assert!(t.is_global());
    assert_eq!(t.digits(), "+12015550123");
    assert_eq!(t.to_string(), "tel:+1-201-555-0123;ext=1234");
    assert!(TelUri::parse("7042;phone-context=example.com").is_ok());
    assert!(TelUri::parse("7042").unwrap_err().contains("phone-context"));
    assert!(TelUri::parse("+").is_err());
    assert!(TelUri::parse("+1 201").is_err());
    assert!(matches!(Uri::parse("TEL:+4930123").unwrap(), Uri::Tel(_)));
    assert!(Uri::parse("<sip:a@b>").is_err());
    assert!(Uri::parse("1sip:a@b").is_err());
}
