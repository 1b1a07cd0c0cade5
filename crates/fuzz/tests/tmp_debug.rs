#[test]
fn dbg() {
    let seeds = tympan_fuzz::sip::sip_message_seeds();
    let mut acc = 0; let mut rej = 0;
    for s in &seeds { match tympan_telephony::sip::parse_datagram(s) { Ok(_) => acc += 1, Err(e) => { rej += 1; eprintln!("{e}"); } } }
    eprintln!("{} seeds, {acc} accepted {rej} refused", seeds.len());
}
