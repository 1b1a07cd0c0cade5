//! Process figures from Linux `/proc`: CPU time, resident memory, the process listening on a
//! TCP port, and the open-files limit.

use std::path::Path;

/// CPU time and memory of one process at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcSample {
    /// User plus system CPU time, in seconds.
    pub cpu_s: f64,
    /// Resident set size, in bytes.
    pub rss_bytes: u64,
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` of a `/proc/PID/status` text, in bytes.
pub fn parse_status_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Sample process `pid` (`None`: this process).
pub fn sample(pid: Option<u32>) -> Option<ProcSample> {
    let dir = match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".to_owned(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    Some(ProcSample {
        cpu_s: parse_stat_ticks(&stat)? as f64 / clock_ticks_per_s(),
        rss_bytes: parse_status_rss(&status)?,
    })
}

/// Socket inodes of listening TCP sockets on `port` in a `/proc/net/tcp{,6}` text.
pub fn listening_inodes(net_tcp: &str, port: u16) -> Vec<u64> {
    net_tcp
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            // State 0A is LISTEN.
            (p == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// The process that has a socket listening on TCP `port` (the first found).
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(f) {
            inodes.extend(listening_inodes(&t, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(Path::new("/proc").join(pid.to_string()).join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if wanted.iter().any(|w| link.as_os_str() == w.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// The open-files limit before and after raising the soft limit to the hard limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NofileLimit {
    /// Soft limit before.
    pub before: u64,
    /// Soft limit now.
    pub after: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Raise this process's `RLIMIT_NOFILE` soft limit to the hard limit when it is below
/// `needed`.
pub fn raise_nofile(needed: u64) -> std::io::Result<NofileLimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit to write into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let before = r.rlim_cur;
    if r.rlim_cur < needed && r.rlim_cur < r.rlim_max {
        r.rlim_cur = r.rlim_max;
        // SAFETY: r holds limits no higher than the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(NofileLimit {
        before,
        after: r.rlim_cur,
        hard: r.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "4242 (tympan (x) y) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 9 0 100 200 300";
        assert_eq!(parse_stat_ticks(line), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn rss_in_bytes() {
        let s = "Name:\ttympan\nVmPeak:\t 9 kB\nVmRSS:\t   20480 kB\nThreads:\t3\n";
        assert_eq!(parse_status_rss(s), Some(20480 * 1024));
        assert_eq!(parse_status_rss("Name: x\n"), None);
    }

    #[test]
    fn listening_socket_by_port() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:1F90 0100007F:D000 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        assert_eq!(listening_inodes(t, 8080), vec![12345]);
        assert!(listening_inodes(t, 8081).is_empty());
    }

    #[test]
    fn this_process_is_sampled_and_found_by_its_port() {
        let s = sample(None).expect("own /proc entry");
        assert!(s.rss_bytes > 0);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(pid_listening_on(port), Some(std::process::id()));
    }
}
