//! A baresip child process for the SIP interop tests, and the loopback ports handed to it.

use std::path::PathBuf;
use std::process::Child;

/// Kills baresip and removes its directory when the test ends, passed or failed.
pub struct Baresip {
    /// The baresip process.
    pub child: Child,
    /// Its configuration directory (config, accounts, log).
    pub dir: PathBuf,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("TYMPAN_KEEP_BARESIP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Baresip {
    /// What baresip printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }
}

/// `n` distinct loopback ports free for both UDP and TCP (baresip's `sip_listen` binds
/// both), each with the next port free for TCP (baresip's SIP/TLS); the sockets are held
/// until all are chosen so no port is handed out twice.
pub fn free_ports(n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        // baresip also binds SIP/TLS on the next port: keep it free too (and held, so it is
        // never handed out as another of these ports).
        let (Ok(u), Some(Ok(tls))) = (
            std::net::UdpSocket::bind(("127.0.0.1", port)),
            port.checked_add(1)
                .map(|next| std::net::TcpListener::bind(("127.0.0.1", next))),
        ) else {
            continue;
        };
        ports.push(port);
        held.push((t, u, tls));
    }
    ports
}
