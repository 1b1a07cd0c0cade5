//! Digest authentication: RFC 7616 §3.9.1 vectors (MD5 and SHA-256), challenge selection,
//! and server round trips (stale nonces, replays, wrong passwords).

use tympan_telephony::dialog::SplitMix64;
use tympan_telephony::digest::{
    authorize, compute_response, select_challenge, Algorithm, Authorization, Challenge,
    Credentials, DigestServer, Rejection, Verdict,
};

const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";

fn mufasa() -> Credentials {
    Credentials {
        username: "Mufasa".into(),
        password: "Circle of Life".into(),
    }
}

#[test]
fn rfc7616_md5_and_sha256_vectors() {
    let md5 = compute_response(
        Algorithm::Md5,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        NONCE,
        Some((1, CNONCE)),
    );
    assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
    let sha = compute_response(
        Algorithm::Sha256,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        "GET",
        "/dir/index.html",
        NONCE,
        Some((1, CNONCE)),
    );
    assert_eq!(
        sha,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn rfc7616_challenges_select_sha256_and_authorize() {
    // The two WWW-Authenticate values of RFC 7616 §3.9.1, MD5 listed first.
    let md5 = format!(
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, \
         nonce=\"{NONCE}\", opaque=\"{OPAQUE}\""
    );
    let sha = format!(
        "Digest realm=\"http-auth@example.org\",\r\n qop=\"auth, auth-int\", \
         algorithm=SHA-256, nonce=\"{NONCE}\", opaque=\"{OPAQUE}\""
    );
    let c = select_challenge([md5.as_str(), sha.as_str()]).unwrap();
    assert_eq!(c.algorithm, Algorithm::Sha256);
    assert_eq!(c.qop, vec!["auth", "auth-int"]);
    assert_eq!(c.opaque.as_deref(), Some(OPAQUE));
    let a = authorize(&c, &mufasa(), "GET", "/dir/index.html", 1, CNONCE).unwrap();
    assert_eq!(
        a.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    let text = a.to_string();
    assert!(text.contains("nc=00000001"), "{text}");
    assert!(
        text.contains("qop=auth,") || text.contains("qop=auth "),
        "{text}"
    );
    assert!(text.contains(&format!("opaque=\"{OPAQUE}\"")), "{text}");
    // It parses back to the same value.
    assert_eq!(Authorization::parse(&text).unwrap(), a);
    // MD5 alone gives the MD5 vector.
    let c = select_challenge([md5.as_str()]).unwrap();
    let a = authorize(&c, &mufasa(), "GET", "/dir/index.html", 1, CNONCE).unwrap();
    assert_eq!(a.response, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn rfc2069_form_without_qop_and_bad_challenges() {
    // RFC 2617 §3.5-style: no qop means H(HA1:nonce:HA2).
    let c = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
    assert_eq!(c.algorithm, Algorithm::Md5);
    let a = authorize(&c, &mufasa(), "REGISTER", "sip:r", 1, "x").unwrap();
    let ha1 = Algorithm::Md5.hash_hex("Mufasa:r:Circle of Life");
    let ha2 = Algorithm::Md5.hash_hex("REGISTER:sip:r");
    assert_eq!(
        a.response,
        Algorithm::Md5.hash_hex(&format!("{ha1}:n:{ha2}"))
    );
    assert!(a.qop.is_none() && a.nc.is_none() && !a.to_string().contains("nc="));

    let err = select_challenge(["Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""]).unwrap_err();
    assert!(err.to_string().contains("auth-int"), "{err}");
    let err =
        Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256").unwrap_err();
    assert!(err.to_string().contains("SHA-512-256"), "{err}");
    let err = Challenge::parse("Digest realm=\"r, nonce=n").unwrap_err();
    assert!(err.to_string().contains("unterminated"), "{err}");
    let err = Challenge::parse("Digest realm=\"r\"").unwrap_err();
    assert!(err.to_string().contains("nonce"), "{err}");
    let err = Challenge::parse("Basic realm=\"r\"").unwrap_err();
    assert!(err.to_string().contains("Basic"), "{err}");
}

#[test]
fn sess_variant_hashes_cnonce_into_ha1() {
    let plain = compute_response(
        Algorithm::Sha256,
        "u",
        "r",
        "p",
        "INVITE",
        "sip:b",
        "n",
        Some((1, "c")),
    );
    let sess = compute_response(
        Algorithm::Sha256Sess,
        "u",
        "r",
        "p",
        "INVITE",
        "sip:b",
        "n",
        Some((1, "c")),
    );
    let ha1 = Algorithm::Sha256.hash_hex(&format!("{}:n:c", Algorithm::Sha256.hash_hex("u:r:p")));
    let ha2 = Algorithm::Sha256.hash_hex("INVITE:sip:b");
    assert_ne!(plain, sess);
    assert_eq!(
        sess,
        Algorithm::Sha256.hash_hex(&format!("{ha1}:n:00000001:c:auth:{ha2}"))
    );
}

fn server() -> DigestServer {
    let mut s = DigestServer::new("tympan").with_nonce_lifetime_ms(10_000);
    s.add_user("alice", "secret");
    s
}

#[test]
fn server_round_trip_replay_and_stale() {
    let mut rng = SplitMix64(7);
    let mut s = server();
    let chs = s.challenge(&mut rng, 1_000, false);
    assert_eq!(
        chs.iter().map(|c| c.algorithm).collect::<Vec<_>>(),
        vec![Algorithm::Sha256, Algorithm::Md5]
    );
    assert_eq!(chs[0].nonce.len(), 32);
    let values: Vec<String> = chs.iter().map(|c| c.to_string()).collect();
    let c = select_challenge(values.iter().map(String::as_str)).unwrap();
    assert_eq!(c.algorithm, Algorithm::Sha256);
    let cred = Credentials {
        username: "alice".into(),
        password: "secret".into(),
    };
    let uri = "sip:tympan.example";
    let a1 = authorize(&c, &cred, "REGISTER", uri, 1, "cn1")
        .unwrap()
        .to_string();
    assert_eq!(
        s.verify(&a1, "REGISTER", uri, 2_000),
        Verdict::Accepted {
            username: "alice".into()
        }
    );
    // The same nc again is a replay.
    assert_eq!(
        s.verify(&a1, "REGISTER", uri, 2_001),
        Verdict::Rejected(Rejection::Replay { nc: 1, last: 1 })
    );
    // nc 2 is fine.
    let a2 = authorize(&c, &cred, "REGISTER", uri, 2, "cn2")
        .unwrap()
        .to_string();
    assert!(matches!(
        s.verify(&a2, "REGISTER", uri, 2_002),
        Verdict::Accepted { .. }
    ));
    // Another method with the same digest fails (HA2 covers the method).
    let a3 = authorize(&c, &cred, "REGISTER", uri, 3, "cn3")
        .unwrap()
        .to_string();
    assert_eq!(
        s.verify(&a3, "INVITE", uri, 2_003),
        Verdict::Rejected(Rejection::BadResponse("alice".into()))
    );
    // Wrong password.
    let bad = Credentials {
        username: "alice".into(),
        password: "guess".into(),
    };
    let a4 = authorize(&c, &bad, "REGISTER", uri, 4, "cn4")
        .unwrap()
        .to_string();
    assert_eq!(
        s.verify(&a4, "REGISTER", uri, 2_004),
        Verdict::Rejected(Rejection::BadResponse("alice".into()))
    );
    // MD5 works as well.
    let md5 = Challenge::parse(&values[1]).unwrap();
    let a5 = authorize(&md5, &cred, "REGISTER", uri, 5, "cn5")
        .unwrap()
        .to_string();
    assert!(matches!(
        s.verify(&a5, "REGISTER", uri, 2_005),
        Verdict::Accepted { .. }
    ));
    // Expiry: valid until 1_000 + 10_000 exclusive.
    let a6 = authorize(&c, &cred, "REGISTER", uri, 6, "cn6")
        .unwrap()
        .to_string();
    assert!(matches!(
        s.verify(&a6, "REGISTER", uri, 10_999),
        Verdict::Accepted { .. }
    ));
    let a7 = authorize(&c, &cred, "REGISTER", uri, 7, "cn7")
        .unwrap()
        .to_string();
    assert_eq!(s.verify(&a7, "REGISTER", uri, 11_000), Verdict::Stale);
    let again = s.challenge(&mut rng, 11_000, true);
    assert!(again[0].stale && again[0].to_string().contains("stale=true"));
    assert_ne!(again[0].nonce, c.nonce);
    // The expired nonce was forgotten.
    assert_eq!(s.nonce_count(), 1);
}

#[test]
fn server_refusals_name_the_reason() {
    let mut rng = SplitMix64(9);
    let mut s = server();
    let c = s.challenge(&mut rng, 0, false).remove(0);
    let uri = "sip:tympan.example";
    let eve = Credentials {
        username: "eve".into(),
        password: "x".into(),
    };
    let a = authorize(&c, &eve, "REGISTER", uri, 1, "c")
        .unwrap()
        .to_string();
    assert_eq!(
        s.verify(&a, "REGISTER", uri, 1),
        Verdict::Rejected(Rejection::UnknownUser("eve".into()))
    );
    let alice = Credentials {
        username: "alice".into(),
        password: "secret".into(),
    };
    let a = authorize(&c, &alice, "REGISTER", "sip:other", 1, "c")
        .unwrap()
        .to_string();
    assert!(matches!(
        s.verify(&a, "REGISTER", uri, 1),
        Verdict::Rejected(Rejection::UriMismatch { .. })
    ));
    // RFC 2069 form (no qop) is refused: we issued qop=auth.
    let mut no_qop = c.clone();
    no_qop.qop.clear();
    let a = authorize(&no_qop, &alice, "REGISTER", uri, 1, "c")
        .unwrap()
        .to_string();
    assert_eq!(
        s.verify(&a, "REGISTER", uri, 1),
        Verdict::Rejected(Rejection::MissingQop)
    );
    let mut other_realm = c.clone();
    other_realm.realm = "elsewhere".into();
    let a = authorize(&other_realm, &alice, "REGISTER", uri, 1, "c")
        .unwrap()
        .to_string();
    assert_eq!(
        s.verify(&a, "REGISTER", uri, 1),
        Verdict::Rejected(Rejection::WrongRealm("elsewhere".into()))
    );
    // An unknown nonce with a correct digest is stale, not a failure.
    let mut forged = c.clone();
    forged.nonce = "0123".into();
    let a = authorize(&forged, &alice, "REGISTER", uri, 1, "c")
        .unwrap()
        .to_string();
    assert_eq!(s.verify(&a, "REGISTER", uri, 1), Verdict::Stale);
    match s.verify("Digest username=\"alice\"", "REGISTER", uri, 1) {
        Verdict::Rejected(Rejection::Malformed(e)) => assert!(e.to_string().contains("realm")),
        v => panic!("{v:?}"),
    }
}
