//! RFC 4475 torture messages, written from the RFC's text (line ends are CRLF on the wire;
//! `crlf` turns the `\n` of these literals into CRLF). Valid messages (§3.1.1) must parse
//! with the values the RFC describes; invalid ones (§3.1.2) must be refused naming the
//! header at fault, or parsed where the RFC says that is the liberal choice.

use tympan_telephony::sip::{parse_datagram, Host, Method, ParseError, StartLine, Uri};

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn sip_user(u: &Uri) -> Option<&str> {
    u.as_sip().and_then(|s| s.user.as_deref())
}

const SDP_192_0_2_1: &str = "v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
";

// ---------------------------------------------------------------- 3.1.1 valid messages

#[test]
fn wsinv_short_tortuous_invite() {
    let m = crlf(
        r#"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
"#,
    );
    let msg = parse_datagram(&m).unwrap();
    let req = msg.request().unwrap();
    assert_eq!(req.method, Method::Invite);
    let ruri = req.uri.as_sip().unwrap();
    assert_eq!(ruri.user.as_deref(), Some("vivekg"));
    assert_eq!(ruri.param("unknownparam"), Some(""));
    assert_eq!(msg.to.tag(), Some("1918181833n"));
    assert_eq!(msg.from.display.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(msg.from.tag(), Some("98asjd8"));
    assert_eq!(msg.max_forwards, Some(68));
    assert_eq!(msg.call_id, "wsinv.ndaksdj@192.0.2.1");
    assert_eq!((msg.cseq.seq, &msg.cseq.method), (9, &Method::Invite));
    assert_eq!(msg.via.len(), 3);
    assert_eq!(msg.via[0].transport, "UDP");
    assert_eq!(msg.via[0].host, Host::V4("192.0.2.2".parse().unwrap()));
    assert_eq!(msg.via[0].branch(), Some("390skdjuw"));
    assert_eq!(msg.via[1].transport, "TCP");
    assert_eq!(msg.via[1].host, Host::Name("spindle.example.com".into()));
    assert_eq!(msg.via[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(msg.via[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(msg.header_values("Subject").collect::<Vec<_>>(), vec![""]);
    assert_eq!(
        msg.header_values("NewFangledHeader").next(),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(
        msg.header_values("UnknownHeaderWithUnusualValue").next(),
        Some(";;,,;;,;")
    );
    assert_eq!(msg.route.len(), 1);
    assert_eq!(msg.route[0].uri.as_sip().unwrap().param("lr"), Some(""));
    assert_eq!(msg.contact.len(), 1);
    let c = &msg.contact[0];
    assert_eq!(c.display.as_deref(), Some(r#"Quoted string """#));
    assert_eq!(c.param("newparam"), Some("newvalue"));
    assert_eq!(c.param("secondparam"), Some(""));
    assert_eq!(c.param("q"), Some("0.33"));
    assert_eq!(msg.content_type.as_deref(), Some("application/sdp"));
    assert_eq!(msg.body.len(), 150);
    assert!(msg.body.starts_with(b"v=0\r\n"));
}

#[test]
fn intmeth_wide_range_of_characters() {
    let mut s = String::new();
    s.push_str("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n");
    s.push_str("Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n");
    s.push_str("To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n");
    s.push_str("From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u{440}\u{430}\u{431}\u{43e}\u{442}\u{430}\u{44e}\u{449}\u{438}\u{439}\";tag=_token~1'+`*%!-.\n");
    s.push_str("Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n");
    s.push_str("CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n");
    s.push_str("Max-Forwards: 255\n");
    s.push_str("extensionHeader-!.%*+_`'~:\u{feff}\u{5927}\u{505c}\u{96fb}\n");
    s.push_str("Content-Length: 0\n\n");
    let msg = parse_datagram(&crlf(&s)).unwrap();
    let req = msg.request().unwrap();
    assert_eq!(
        req.method,
        Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    let ruri = req.uri.as_sip().unwrap();
    assert_eq!(
        ruri.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        ruri.password.as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(msg.via[0].branch(), Some("z9hG4bK-.!%66*_+`'~"));
    assert_eq!(
        msg.to.display.as_deref(),
        Some("BEL:\x07 NUL:\x00 DEL:\x7f")
    );
    assert_eq!(
        sip_user(&msg.to.uri),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        msg.from.display.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(msg.from.param("fromParam''~+*_!.-%"), Some("работающий"));
    assert_eq!(msg.from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(msg.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    assert_eq!(msg.cseq.seq, 139122385);
    assert_eq!(msg.max_forwards, Some(255));
    assert_eq!(
        msg.header_values("extensionHeader-!.%*+_`'~").next(),
        Some("\u{feff}大停電")
    );
}

#[test]
fn esc01_percent_escapes() {
    let m = crlf(&format!(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

{SDP_192_0_2_1}"
    ));
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(
        sip_user(&msg.request().unwrap().uri),
        Some("sips:user@example.com")
    );
    assert_eq!(sip_user(&msg.to.uri), Some("user"));
    assert_eq!(sip_user(&msg.from.uri), Some("I have spaces"));
    assert_eq!(msg.call_id, "esc01.239409asdfakjkn23onasd0-3234");
    assert_eq!(msg.content_type.as_deref(), Some("application/sdp"));
    let c = msg.contact[0].uri.as_sip().unwrap();
    assert_eq!(c.user.as_deref(), Some("caller"));
    assert_eq!(c.param("lr"), Some(""));
    // Unescaping is never recursive: value%2541 decodes once to value%41.
    assert_eq!(c.param("name"), Some("value%41"));
    assert_eq!(msg.body.len(), 150);
}

#[test]
fn escnull_null_in_userparts() {
    let m = crlf(
        "REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

",
    );
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(sip_user(&msg.to.uri), Some("null-\0-null"));
    assert_eq!(msg.from.tag(), Some("839923423"));
    assert_eq!(msg.contact.len(), 2, "two distinct contacts");
    assert_eq!(sip_user(&msg.contact[0].uri), Some("\0"));
    assert_eq!(sip_user(&msg.contact[1].uri), Some("\0\0"));
    assert!(msg.body.is_empty());
}

#[test]
fn esc02_percent_is_not_an_escape_everywhere() {
    let m = crlf(
        r#"RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

"#,
    );
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(
        msg.request().unwrap().method,
        Method::Other("RE%47IST%45R".into())
    );
    assert_ne!(msg.request().unwrap().method, Method::Register);
    assert_eq!(msg.to.display.as_deref(), Some("%Z%45"));
    assert_eq!(msg.via[0].branch(), Some("z9hG4bK209%fzsnel234"));
    assert_eq!(msg.contact.len(), 2, "C%6Fntact is not Contact");
    assert_eq!(
        msg.header_values("C%6Fntact").next(),
        Some("<sip:alias2@host2.example.com>")
    );
}

#[test]
fn lwsdisp_no_lws_between_display_name_and_angle() {
    let m = crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

",
    );
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(msg.from.display.as_deref(), Some("caller"));
    assert_eq!(msg.from.tag(), Some("323"));
}

#[test]
fn longreq_long_values() {
    let long = "long".repeat(20);
    let name = "name".repeat(24);
    let vias: String = (1..=33)
        .rev()
        .map(|i| {
            let n = [
                "Via", "v", "V", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA", "V ", "v ",
                "Via ",
            ][i % 13];
            format!("{n}: SIP/2.0/TCP sip{i}.example.com\n")
        })
        .collect();
    let tag = format!("12982{}424", "982".repeat(50));
    let m = crlf(&format!(
        "INVITE sip:user@example.com SIP/2.0
To: \"I have a user name of {ext} proportion\"<sip:user@example.com:6000;unknownparam1=very{long}value;long{name}=shortvalue;very{long}ParameterNameWithNoValue>
F: sip:{caller}@example.net;tag={tag};unknownheaderparam{name}=unknowheaderparam{value};unknownValueless{pn}
Call-ID: longreq.one{really}longcallid
CSeq: 3882340 INVITE
Unknown-{LL}-Name: unknown-{long}-value; unknown-{long}-parameter-name = unknown-{long}-parameter-value
{vias}Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{long}{long}branchvalue
Max-Forwards: 70
Contact: <sip:{caller}@host5.example.net>
Content-Type: application/sdp
l: 150

{SDP_192_0_2_1}",
        ext = "extreme".repeat(10),
        caller = "amazinglylongcallername".repeat(5),
        value = "value".repeat(15),
        pn = "paramname".repeat(10),
        really = "really".repeat(20),
        LL = "Long".repeat(20),
    ));
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(msg.via.len(), 34);
    assert_eq!(msg.via[0].host, Host::Name("sip33.example.com".into()));
    assert_eq!(msg.via[33].param("received"), Some("192.0.2.5"));
    assert_eq!(msg.from.tag(), Some(tag.as_str()));
    let to = msg.to.uri.as_sip().unwrap();
    assert_eq!(to.port, Some(6000));
    assert_eq!(to.params.len(), 3);
    assert_eq!(to.param(&format!("long{name}")), Some("shortvalue"));
    assert_eq!(msg.from.params.len(), 3);
    assert_eq!(msg.body.len(), 150);
}

#[test]
fn dblreq_extra_octets_after_body_are_ignored_over_udp() {
    let m = crlf(
        "REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m =video 3227 RTP/AVP 31
a=rtpmap:31 LPC
",
    );
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(msg.request().unwrap().method, Method::Register);
    assert_eq!(msg.call_id, "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
    assert!(msg.body.is_empty(), "the INVITE octets are noise");
    assert_eq!(sip_user(&msg.contact[0].uri), Some("j.user"));
}

#[test]
fn semiuri_semicolon_in_user_part() {
    let m = crlf(
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

",
    );
    let msg = parse_datagram(&m).unwrap();
    let ruri = msg.request().unwrap().uri.as_sip().unwrap();
    assert_eq!(ruri.user.as_deref(), Some("user;par=u@example.net"));
    assert_eq!(ruri.host, Host::Name("example.com".into()));
    assert!(ruri.params.is_empty());
    assert_eq!(
        msg.header_values("Accept")
            .next()
            .unwrap()
            .split(',')
            .count(),
        6
    );
}

#[test]
fn transports_all_known_transports() {
    let m = crlf(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: <sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID:  transports.kijh4akdnaqjkwendsasfdj
Accept: application/sdp
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw
Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf
Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj
Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en
Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee
l: 0

",
    );
    let msg = parse_datagram(&m).unwrap();
    let t: Vec<&str> = msg.via.iter().map(|v| v.transport.as_str()).collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(msg.call_id, "transports.kijh4akdnaqjkwendsasfdj");
}

/// The RFC's second body part is binary (its exact octets live only in the RFC's base64
/// archive); this body keeps the RFC's structure and length (553) with NUL and high octets.
#[test]
fn mpart01_binary_multipart_body() {
    let head = "--7a9cbec02ceef655\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nHello\r\n--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n";
    let tail = "\r\n--7a9cbec02ceef655--\r\n";
    let mut body = head.as_bytes().to_vec();
    let blob = 553 - head.len() - tail.len();
    body.extend((0..blob).map(|i| (i * 37 % 256) as u8));
    body.extend_from_slice(tail.as_bytes());
    assert_eq!(body.len(), 553);
    let mut m = crlf("MESSAGE sip:kumiko@example.org SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport
Max-Forwards: 70
Route: <sip:127.0.0.1:5080>
Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=
Contact: <sip:fluffy@127.0.0.1:5070>
To: <sip:kumiko@example.org>
From: <sip:fluffy@example.com>;tag=2fb0dcc9
Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..
CSeq: 1 MESSAGE
Content-Transfer-Encoding: binary
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Date: Sat, 15 Oct 2005 04:44:56 GMT
User-Agent: SIPimp.org/0.2.5 (curses)
Content-Length: 553

");
    m.extend_from_slice(&body);
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(msg.body, body);
    assert_eq!(msg.via[0].port, Some(5070));
    assert_eq!(msg.via[0].param("rport"), Some(""));
    assert_eq!(msg.route[0].uri.as_sip().unwrap().port, Some(5080));
    assert_eq!(
        msg.content_type.as_deref(),
        Some("multipart/mixed;boundary=7a9cbec02ceef655")
    );
}

#[test]
fn unreason_utf8_reason_phrase() {
    let m = crlf(
        "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
",
    );
    let msg = parse_datagram(&m).unwrap();
    let r = msg.response().unwrap();
    assert_eq!(r.code, 200);
    assert_eq!(r.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
    assert_eq!(msg.method(), &Method::Invite);
    assert_eq!(msg.to.tag(), Some("2229"));
    assert_eq!(msg.body.len(), 154);
}

#[test]
fn noreason_empty_reason_phrase() {
    let m = crlf(
        "SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

",
    );
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(msg.response().unwrap().code, 100);
    assert_eq!(msg.response().unwrap().reason, "");
}

// ----------------------------------------------------------- 3.1.2 invalid messages

fn refused(m: &str) -> ParseError {
    match parse_datagram(&crlf(m)) {
        Ok(msg) => panic!("accepted an invalid message: {msg:?}"),
        Err(e) => e,
    }
}

#[test]
fn badinv01_extra_semicolons_and_commas() {
    let e = refused(&format!(
        "INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: \"Joe\" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

{}",
        SDP_192_0_2_1.replace("192.0.2.1\n", "192.0.2.15\n")
    ));
    assert_eq!(e.header(), Some("Via"));
    assert_eq!(
        (e.status_code(), e.reason_phrase().as_str()),
        (400, "Bad Via")
    );
}

#[test]
fn badinv01_contact_alone_is_refused_too() {
    let e = refused(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=1
Call-ID: badinv01b
CSeq: 8 OPTIONS
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKx
Contact: \"Joe\" <sip:joe@example.org>;;;;
Content-Length: 0

",
    );
    assert_eq!(e.header(), Some("Contact"));
}

#[test]
fn clerr_content_length_larger_than_body() {
    let e = refused(&format!(
        "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

{}",
        SDP_192_0_2_1.replace("192.0.2.1\n", "192.0.2.155\n")
    ));
    assert!(
        matches!(e, ParseError::BodyTooShort { declared: 9999, .. }),
        "{e:?}"
    );
    assert_eq!(e.reason_phrase(), "Bad Content-Length");
}

#[test]
fn scalar02_scalars_out_of_range() {
    let e = refused("REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

");
    assert_eq!(e.reason_phrase(), "Bad CSeq");
}

#[test]
fn scalar02_max_forwards_over_255_alone_is_refused() {
    let e = refused(
        "OPTIONS sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36 OPTIONS
Call-ID: scalar02b
Max-Forwards: 300
Content-Length: 0

",
    );
    assert_eq!(e.reason_phrase(), "Bad Max-Forwards");
}

#[test]
fn scalarlg_response_with_huge_cseq() {
    let e = refused(
        "SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture \"In Progress\"
Content-Length: 0

",
    );
    assert_eq!(e.header(), Some("CSeq"));
}

#[test]
fn ncl_negative_content_length() {
    let e = refused(&format!(
        "INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

{SDP_192_0_2_1}"
    ));
    assert_eq!(e.reason_phrase(), "Bad Content-Length");
    let e = refused(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=3
Call-ID: ncl2
CSeq: 0 OPTIONS
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Content-Length: five

",
    );
    assert_eq!(e.reason_phrase(), "Bad Content-Length");
}

#[test]
fn quotbal_unterminated_quote() {
    let e = refused(&format!(
        "INVITE sip:user@example.com SIP/2.0
To: \"Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 150

{SDP_192_0_2_1}"
    ));
    assert_eq!(e.header(), Some("To"));
}

#[test]
fn ltgtruri_lwsruri_lwsstart_trws_escruri_bad_request_lines() {
    let rest = "To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKa
Content-Length: 0

";
    for line in [
        "INVITE <sip:user@example.com> SIP/2.0",
        "INVITE sip:user@example.com; lr SIP/2.0",
        "INVITE  sip:user@example.com  SIP/2.0",
        "INVITE sip:user@example.com SIP/2.0  ",
        "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0",
    ] {
        let e = refused(&format!("{line}\n{rest}"));
        assert!(
            matches!(e, ParseError::StartLine(_) | ParseError::RequestUri(_)),
            "{line}: {e:?}"
        );
        assert_eq!(e.status_code(), 400);
    }
}

#[test]
fn regbadct_contact_with_headers_outside_angle_brackets() {
    let e = refused(
        "REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=998332
Max-Forwards: 70
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Via: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw
Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E
l: 0

",
    );
    assert_eq!(e.header(), Some("Contact"));
}

#[test]
fn badaspec_spaces_in_addr_spec() {
    let e = refused(
        "OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423
To: \"Watson, Thomas\" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

",
    );
    assert_eq!(e.header(), Some("To"));
}

#[test]
fn baddn_unquoted_display_names_with_non_tokens() {
    let e = refused(
        "OPTIONS sip:t.watson@example.org SIP/2.0
Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards:      70
From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43
To:      Watson, Thomas <sip:t.watson@example.org>
Call-ID: baddn.31415@c.example.com
Accept: application/sdp
CSeq:    3923239 OPTIONS
l: 0

",
    );
    assert_eq!(e.header(), Some("From"));
}

#[test]
fn badvers_is_505() {
    let e = refused(
        "OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

",
    );
    assert_eq!(e, ParseError::Version("SIP/7.0".into()));
    assert_eq!(e.status_code(), 505);
}

#[test]
fn mismatch01_and_mismatch02_cseq_method_differs() {
    for (line, id) in [
        ("OPTIONS sip:user@example.com SIP/2.0", "mismatch01"),
        ("NEWMETHOD sip:user@example.com SIP/2.0", "mismatch02"),
    ] {
        let e = refused(&format!(
            "{line}
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: {id}.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

"
        ));
        assert_eq!(e.reason_phrase(), "Bad CSeq", "{id}");
    }
}

#[test]
fn bigcode_status_code_over_699() {
    let e = refused(
        "SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

",
    );
    assert!(matches!(e, ParseError::StartLine(_)), "{e:?}");
}

#[test]
fn mcl01_multiple_content_length() {
    let e = refused(
        "OPTIONS sip:user@example.com SIP/2.0
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423
To: sip:user@example.com
From: sip:other@example.net;tag=3923942
Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf
CSeq: 15932 OPTIONS
Content-Length: 13
Max-Forwards: 60
Content-Length: 5
Content-Type: text/plain

There's no way to know how many octets are supposed to be here.
",
    );
    assert_eq!(e, ParseError::Duplicate("Content-Length"));
}

#[test]
fn multi01_multiple_single_valued_headers() {
    let e = refused(
        "INVITE sip:user@company.com SIP/2.0
Contact: <sip:caller@host25.example.net>
Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw
Max-Forwards: 70
CSeq: 5 INVITE
Call-ID: multi01.98asdh@192.0.2.1
CSeq: 59 INVITE
Call-ID: multi01.98asdh@192.0.2.2
From: sip:caller@example.com;tag=3413415
To: sip:user@example.com
To: sip:other@example.net
From: sip:caller@example.net;tag=2923420123
Content-Type: application/sdp
l: 0

",
    );
    assert_eq!(e, ParseError::Duplicate("CSeq"));
}

#[test]
fn insuf_missing_mandatory_headers() {
    let e = refused(
        "INVITE sip:user@example.com SIP/2.0
CSeq: 193942 INVITE
Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf
Content-Type: application/sdp
l: 0

",
    );
    assert!(matches!(e, ParseError::Missing(_)), "{e:?}");
    assert_eq!(e.status_code(), 400);
}

// ------------------------------- valid syntax the application layer handles (3.1.2, 3.3, 3.4)

fn accepted(m: &str) -> tympan_telephony::sip::Message {
    parse_datagram(&crlf(m)).unwrap_or_else(|e| panic!("refused a well-formed message: {e}"))
}

#[test]
fn badbranch_empty_transaction_id_still_parses() {
    let msg = accepted(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

",
    );
    assert_eq!(msg.via[0].branch(), Some("z9hG4bK"));
}

#[test]
fn bext01_unknown_require_is_a_420_not_a_parse_error() {
    let msg = accepted(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.net;tag=242etr
Max-Forwards: 6
Call-ID: bext01.0ha0isndaksdj
Require: nothingSupportsThis, nothingSupportsThisEither
Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis
CSeq: 8 OPTIONS
Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw
Content-Length: 0

",
    );
    assert_eq!(
        msg.unsupported_requires(&["100rel", "timer"]),
        vec!["nothingSupportsThis", "nothingSupportsThisEither"]
    );
}

#[test]
fn unknown_schemes_tel_and_contact_params() {
    let msg = accepted(
        "REGISTER sip:example.com SIP/2.0
To: isbn:2983792873
From: <http://www.example.com>;tag=3234233
Call-ID: unksm2.daksdj@hyphenated-host.example.com
CSeq: 234902 REGISTER
Max-Forwards: 70
Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
Contact: <name:John_Smith>
l: 0

",
    );
    assert_eq!(msg.to.uri.scheme(), "isbn");
    assert_eq!(msg.from.uri.scheme(), "http");
    let msg = accepted(
        "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=384
Max-Forwards: 3
Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34
CSeq: 3923423 OPTIONS
Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234
Content-Length: 0

",
    );
    assert_eq!(msg.request().unwrap().uri.scheme(), "nobodyknowsthisscheme");
    let msg = accepted(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe
To: sip:watson@example.com
Call-ID: cparam01.70710@saturn.example.com
CSeq: 2 REGISTER
Contact: sip:+19725552222@gw1.example.net;unknownparam
l: 0

",
    );
    // addr-spec form: the parameter belongs to the header, not the URI
    assert_eq!(msg.contact[0].param("unknownparam"), Some(""));
    assert!(msg.contact[0].uri.as_sip().unwrap().params.is_empty());
    let msg = accepted(
        "REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw
Max-Forwards: 70
From: sip:watson@example.com;tag=838293
To: sip:watson@example.com
Call-ID: cparam02.70710@saturn.example.com
CSeq: 3 REGISTER
Contact: <sip:+19725552222@gw1.example.net;unknownparam>
l: 0

",
    );
    assert_eq!(
        msg.contact[0].uri.as_sip().unwrap().param("unknownparam"),
        Some("")
    );
    assert!(msg.contact[0].params.is_empty());
}

#[test]
fn inv2543_rfc2543_style_request_is_accepted() {
    let msg = accepted(
        "INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
",
    );
    assert!(!msg.via[0].is_rfc3261_branch());
    assert_eq!(msg.max_forwards, None);
    assert!(
        msg.body.starts_with(b"v=0"),
        "no Content-Length over UDP: the rest is the body"
    );
    assert_eq!(msg.record_route.len(), 1);
}

#[test]
fn zeromf_and_regescrt_are_well_formed() {
    let msg = accepted(
        "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

",
    );
    assert_eq!(msg.max_forwards, Some(0));
    let msg = accepted(
        "REGISTER sip:example.com SIP/2.0
To: sip:user@example.com
From: sip:user@example.com;tag=8
Max-Forwards: 70
Call-ID: regescrt.k345asrl3fdbv@192.0.2.1
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
M: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>
L:0

",
    );
    let c = msg.contact[0].uri.as_sip().unwrap();
    assert_eq!(c.headers[0].name, "Route");
    assert_eq!(c.headers[0].value.as_deref(), Some("<sip:sip.example.com>"));
}

#[test]
fn every_valid_message_round_trips_through_serialisation() {
    let m = crlf(
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: \"%Z%45\" <sip:resource@example.com>
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Via: SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKkdjuw;received=192.0.2.3
Contact: <tel:+1-212-555-0101;ext=22>
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>
l: 3

abc",
    );
    let msg = parse_datagram(&m).unwrap();
    assert_eq!(msg.via[0].host, Host::V6("2001:db8::9:1".parse().unwrap()));
    assert_eq!(msg.via[0].port, Some(5070));
    match &msg.contact[0].uri {
        Uri::Tel(t) => {
            assert_eq!(t.digits(), "+12125550101");
            assert!(t.is_global());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(msg.record_route.len(), 2);
    let again = parse_datagram(&msg.to_bytes()).unwrap();
    assert_eq!(again, msg);
    assert!(matches!(again.start, StartLine::Request(_)));
}
