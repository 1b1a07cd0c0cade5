//! A PostgreSQL server for the tests: `TYMPAN_TEST_DATABASE_URL` when set, otherwise a
//! throwaway server started from Debian's `postgresql` binaries (initdb in a temporary
//! directory, loopback port, as `nobody` when the tests run as root). The server is stopped
//! and its directory removed when the test process exits: a watchdog shell waits for EOF on a
//! pipe whose write end only this process holds.
//!
//! Missing binaries are a failure, not a skip.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Environment variable naming an existing server to test against instead.
pub const URL_ENV: &str = "TYMPAN_TEST_DATABASE_URL";
/// Where Debian installs the server binaries (`/usr/lib/postgresql/<major>/bin`).
const DEBIAN_PG_LIB: &str = "/usr/lib/postgresql";
/// Readiness polls (100 ms apart) before the start is declared failed.
const READY_POLLS: u32 = 600;
/// The unprivileged user the server runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";

struct Server {
    url: String,
    /// The watchdog; dropping its stdin (at process exit) stops the server.
    _watchdog: Mutex<Child>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// URL of the test server (started on first use).
pub fn base_url() -> String {
    if let Ok(u) = std::env::var(URL_ENV) {
        if !u.is_empty() {
            return u;
        }
    }
    SERVER.get_or_init(start).url.clone()
}

/// A URL whose connections use a schema of their own, dropped and re-created empty.
pub async fn fresh_schema_url(test: &str) -> String {
    let base = base_url();
    let schema = format!(
        "tympan_test_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let mut conn: sqlx::PgConnection = sqlx::Connection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("connect to the test PostgreSQL at {base}: {e}"));
    for stmt in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
    ] {
        sqlx::Executor::execute(&mut conn, stmt.as_str())
            .await
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

fn bin_dir() -> PathBuf {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_PG_LIB)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    match dirs.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries not found ({DEBIAN_PG_LIB}/*/bin/initdb): run \
             scripts/setup.sh (installs Debian's postgresql), or set {URL_ENV} to a server"
        ),
    }
}

fn as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `program args…`, as the unprivileged user when we are root.
fn command(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", UNPRIVILEGED, "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

fn start() -> Server {
    let bin = bin_dir();
    let root = as_root();
    let dir = std::env::temp_dir().join(format!("tympan-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    if root {
        let st = Command::new("chown")
            .arg(format!("{UNPRIVILEGED}:"))
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(st.success(), "chown {UNPRIVILEGED} {}", dir.display());
    }
    let data = dir.join("data");
    let out = command(&bin.join("initdb"), root)
        .current_dir(&dir)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    // The watchdog: runs postgres, waits for EOF on stdin (this process exiting), then stops
    // the server and removes the directory.
    let script = r#"
        "$1/postgres" -D "$2/data" -k "$2" -h 127.0.0.1 -p "$3" -F \
            -c max_connections=400 -c fsync=off -c full_page_writes=off >"$2/log" 2>&1 &
        pg=$!
        cat >/dev/null
        kill -INT "$pg" 2>/dev/null
        wait "$pg"
        rm -rf "$2"
    "#;
    let mut watchdog = command(Path::new("/bin/sh"), root)
        .current_dir(&dir)
        .args(["-c", script, "sh"])
        .arg(&bin)
        .arg(&dir)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the PostgreSQL watchdog");
    let ready = || {
        Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let mut polls = 0;
    while !ready() {
        polls += 1;
        let exited = watchdog.try_wait().ok().flatten().is_some();
        if exited || polls > READY_POLLS {
            let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
            if let Some(stdin) = watchdog.stdin.as_mut() {
                let _ = stdin.flush();
            }
            drop(watchdog.stdin.take());
            panic!("the test PostgreSQL on port {port} did not start:\n{log}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Server {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        _watchdog: Mutex::new(watchdog),
    }
}
