//! SIP over TCP (RFC 3261 §18): the connections of one listening address, framed by
//! Content-Length with [`tympan_telephony::sip::StreamDecoder`].
//!
//! The hub accepts connections, reads each one in its own task and hands complete messages
//! to the signalling loop through one queue, tagged with the connection's remote address.
//! Sending never blocks the signalling loop: a message for an address with an open
//! connection goes into that connection's write queue; a message for any other address opens
//! a connection to it first (a response goes back on the connection its request came on,
//! because the user agent sends responses to the request's source address, §18.2.2).
//! A connection is closed when its peer closes it, when a message cannot be framed (framing is
//! lost: no response can be formed), after [`TCP_IDLE_TIMEOUT`] without traffic, or when its
//! write queue overflows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tympan_telephony::sip::{Message, StreamDecoder, StreamError};

/// Largest SIP message accepted on a stream (header section and body).
pub const MAX_STREAM_MESSAGE: usize = 64 * 1024;
/// Open connections (accepted and opened) at once; more accepted ones are closed at once.
pub const MAX_TCP_CONNECTIONS: usize = 4096;
/// A connection with no byte read or written for this long is closed (a call's BYE can still
/// arrive later on a new connection).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Time allowed to open a connection to a peer.
pub const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages queued for one connection before it is considered stuck and closed.
pub const TCP_WRITE_QUEUE: usize = 64;
/// Messages queued from all connections to the signalling loop.
pub const TCP_INCOMING_QUEUE: usize = 1024;
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 8 * 1024;

/// What a connection hands the signalling loop.
#[derive(Debug)]
pub enum TcpIn {
    /// A complete message from `from`.
    Message {
        /// The connection's remote address.
        from: SocketAddr,
        /// The message.
        message: Box<Message>,
    },
    /// A message could not be framed or parsed; the connection was closed.
    Bad {
        /// The connection's remote address.
        from: SocketAddr,
        /// What went wrong, with the stream offset.
        error: StreamError,
    },
}

type Conns = Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>>;

/// The TCP connections of one SIP listening address.
pub struct TcpHub {
    local: SocketAddr,
    conns: Conns,
    tx: mpsc::Sender<TcpIn>,
    rx: mpsc::Receiver<TcpIn>,
}

impl TcpHub {
    /// Starts accepting on `listener`.
    pub fn new(listener: TcpListener) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(TCP_INCOMING_QUEUE);
        let conns: Conns = Arc::default();
        let hub = TcpHub {
            local,
            conns: conns.clone(),
            tx: tx.clone(),
            rx,
        };
        tokio::spawn(accept_loop(listener, conns, tx));
        Ok(hub)
    }

    /// The listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        lock(&self.conns).len()
    }

    /// The next message from any connection (cancel-safe).
    pub async fn recv(&mut self) -> Option<TcpIn> {
        self.rx.recv().await
    }

    /// Queues `bytes` for `dest`: on its open connection, else on a new one. Never waits;
    /// a message that cannot be queued is dropped with a warning (like a lost datagram, the
    /// transaction layer's timers then fail the transaction).
    pub fn send(&self, bytes: Vec<u8>, dest: SocketAddr) {
        let mut conns = lock(&self.conns);
        if let Some(q) = conns.get(&dest) {
            match q.try_send(bytes) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(%dest, "SIP/TCP write queue full: closing the connection");
                    conns.remove(&dest);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(b)) => {
                    conns.remove(&dest);
                    return self.open(conns, b, dest);
                }
            }
        }
        self.open(conns, bytes, dest);
    }

    fn open(
        &self,
        mut conns: std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
        first: Vec<u8>,
        dest: SocketAddr,
    ) {
        if conns.len() >= MAX_TCP_CONNECTIONS {
            tracing::warn!(%dest, "SIP/TCP connection limit reached: message dropped");
            return;
        }
        let (wtx, wrx) = mpsc::channel(TCP_WRITE_QUEUE);
        let _ = wtx.try_send(first);
        conns.insert(dest, wtx.clone());
        drop(conns);
        let conns = self.conns.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect(dest)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::warn!(%dest, error = %e, "SIP/TCP connect failed");
                        forget(&conns, dest, &wtx);
                        return;
                    }
                    Err(_) => {
                        tracing::warn!(%dest, "SIP/TCP connect timed out");
                        forget(&conns, dest, &wtx);
                        return;
                    }
                };
            run_connection(stream, dest, wrx, tx).await;
            forget(&conns, dest, &wtx);
        });
    }
}

fn lock(c: &Conns) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes `dest`'s entry if it is still this connection's (a newer one may have replaced it).
fn forget(conns: &Conns, dest: SocketAddr, mine: &mpsc::Sender<Vec<u8>>) {
    let mut c = lock(conns);
    if c.get(&dest).is_some_and(|q| q.same_channel(mine)) {
        c.remove(&dest);
    }
}

async fn accept_loop(listener: TcpListener, conns: Conns, tx: mpsc::Sender<TcpIn>) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "SIP/TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if tx.is_closed() {
            return;
        }
        let (wtx, wrx) = mpsc::channel(TCP_WRITE_QUEUE);
        {
            let mut c = lock(&conns);
            if c.len() >= MAX_TCP_CONNECTIONS {
                tracing::warn!(%from, "SIP/TCP connection limit reached: connection closed");
                continue;
            }
            c.insert(from, wtx.clone());
        }
        let conns = conns.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            run_connection(stream, from, wrx, tx).await;
            forget(&conns, from, &wtx);
        });
    }
}

/// Reads and writes one connection until it closes, fails, idles out or its queues close.
async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    mut writes: mpsc::Receiver<Vec<u8>>,
    tx: mpsc::Sender<TcpIn>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut decoder = StreamDecoder::new(MAX_STREAM_MESSAGE);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "SIP/TCP read failed");
                        return;
                    }
                };
                decoder.push(&buf[..n]);
                loop {
                    match decoder.next_message() {
                        Ok(Some(m)) => {
                            let item = TcpIn::Message { from: peer, message: Box::new(m) };
                            if tx.send(item).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%peer, %error, "SIP/TCP stream refused: closing");
                            let _ = tx.send(TcpIn::Bad { from: peer, error }).await;
                            return;
                        }
                    }
                }
            }
            w = writes.recv() => {
                let Some(bytes) = w else { return };
                if let Err(e) = wr.write_all(&bytes).await {
                    tracing::debug!(%peer, error = %e, "SIP/TCP write failed");
                    return;
                }
            }
            _ = tokio::time::sleep(TCP_IDLE_TIMEOUT) => {
                tracing::debug!(%peer, "SIP/TCP connection idle: closing");
                return;
            }
        }
    }
}
