//! Websocket plumbing shared by the media endpoints and `/v1/events`.

use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Largest websocket message accepted on the media endpoints, in bytes.
pub const MAX_WS_MESSAGE: usize = 1 << 20;
/// Bytes a websocket reads from its socket at a time. tungstenite zero-fills this much of its
/// read buffer before every read (128 KiB by default: a 640-byte audio frame then cost a
/// 128 KiB memset, a quarter of the server's CPU at 600 calls, and 128 KiB of RSS per call).
pub const WS_READ_BUFFER: usize = 4 * 1024;
/// Bytes a websocket buffers before writing to its socket (flushes write it at once anyway).
pub const WS_WRITE_BUFFER: usize = 16 * 1024;

/// The websocket settings of every route: message size limit and buffer sizes.
pub fn configure(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_WS_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
}

/// How long a media websocket may wait before its first (header / `start`) message.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// Outbound messages queued per connection before senders wait.
pub const OUTBOUND_QUEUE: usize = 256;
/// Longest close reason sent (RFC 6455 allows 123 bytes).
pub const MAX_CLOSE_REASON: usize = 123;
/// Longest time one outbound message may take to be written; a peer that stops reading for
/// longer loses its connection (the call then ends instead of hanging).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// One task owns the socket's sending half; everyone else sends through the channel.
/// The task ends after sending a Close frame, when a send fails or takes longer than
/// `send_timeout`, or when every sender is dropped; senders then see the channel closed.
pub fn spawn_writer<S>(
    mut sink: S,
    send_timeout: Duration,
) -> (mpsc::Sender<Message>, JoinHandle<()>)
where
    S: Sink<Message> + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
    let handle = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let is_close = matches!(m, Message::Close(_));
            match tokio::time::timeout(send_timeout, sink.send(m)).await {
                Ok(Ok(())) if !is_close => {}
                Ok(Ok(())) => break,
                Ok(Err(_)) => break,
                Err(_) => {
                    tracing::warn!(timeout = ?send_timeout, "websocket peer stopped reading");
                    // Dropping the sink without a close handshake: the peer is not reading.
                    drop(rx);
                    return;
                }
            }
        }
        drop(rx);
        let _ = tokio::time::timeout(send_timeout, sink.close()).await;
    });
    (tx, handle)
}

/// A Close frame with `code` and `reason` (cut to 123 bytes on a char boundary).
pub fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

/// Queue a Close frame with `code` and `reason`.
pub async fn close_with(tx: &mpsc::Sender<Message>, code: u16, reason: &str) {
    let _ = tx.send(close_frame(code, reason)).await;
}

/// The next message, or `Err(())` once `deadline` passes first.
pub async fn next_before<S: Stream + Unpin>(
    s: &mut S,
    deadline: Option<tokio::time::Instant>,
) -> Result<Option<S::Item>, ()> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, s.next()).await.map_err(|_| ()),
        None => Ok(s.next().await),
    }
}

/// The sending side of a media websocket, the building block of the transports' `MediaOut`.
#[derive(Clone)]
pub struct WsSender {
    /// Queue to the writer task.
    pub tx: mpsc::Sender<Message>,
}

impl WsSender {
    /// Queue one message; false once the writer is gone.
    pub async fn send(&self, m: Message) -> bool {
        self.tx.send(m).await.is_ok()
    }

    /// Close with a code and reason.
    pub async fn close(&self, code: u16, reason: &str) {
        close_with(&self.tx, code, reason).await;
    }

    /// Resolves when the writer task has ended.
    pub async fn gone(&self) {
        self.tx.closed().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;

    /// A peer that stops reading: every send stays pending.
    fn stuck_sink() -> Pin<Box<dyn Sink<Message, Error = ()> + Send>> {
        Box::pin(futures_util::sink::unfold((), |(), _m: Message| {
            std::future::pending::<Result<(), ()>>()
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_closes_the_writer_after_the_send_timeout() {
        let (tx, writer) = spawn_writer(stuck_sink(), SEND_TIMEOUT);
        let out = WsSender { tx };
        assert!(out.send(Message::Text("x".into())).await);
        let t0 = tokio::time::Instant::now();
        out.gone().await;
        // Paused clock: exactly the send timeout of virtual time went by.
        assert_eq!(t0.elapsed(), SEND_TIMEOUT);
        assert!(!out.send(Message::Text("y".into())).await);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn a_reading_peer_gets_every_message_then_the_close() {
        let (sink_tx, mut sink_rx) = mpsc::unbounded_channel::<Message>();
        let sink = Box::pin(futures_util::sink::unfold(
            sink_tx,
            |t, m: Message| async move {
                t.send(m).map_err(|_| ())?;
                Ok::<_, ()>(t)
            },
        ));
        let (tx, writer) = spawn_writer(sink, SEND_TIMEOUT);
        let out = WsSender { tx };
        assert!(out.send(Message::Text("a".into())).await);
        out.close(1000, &"é".repeat(100)).await;
        writer.await.unwrap();
        assert!(matches!(sink_rx.recv().await, Some(Message::Text(t)) if t.as_str() == "a"));
        match sink_rx.recv().await {
            Some(Message::Close(Some(f))) => {
                assert!(
                    f.reason.len() <= MAX_CLOSE_REASON && f.reason.len() >= MAX_CLOSE_REASON - 1
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
