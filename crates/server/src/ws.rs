//! Websocket plumbing shared by the media endpoints.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, Stream, StreamExt};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Largest websocket message accepted on the media endpoints, in bytes.
pub const MAX_WS_MESSAGE: usize = 1 << 20;
/// How long a media websocket may wait before its first (header / `start`) message.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// Outbound messages queued per connection before senders wait.
pub const OUTBOUND_QUEUE: usize = 256;
/// Longest close reason sent (RFC 6455 allows 123 bytes).
pub const MAX_CLOSE_REASON: usize = 123;

/// One task owns the socket's sending half; everyone else sends through the channel.
/// The task ends after sending a Close frame or when every sender is dropped.
pub fn spawn_writer(
    mut sink: SplitSink<WebSocket, Message>,
) -> (mpsc::Sender<Message>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
    let handle = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let is_close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || is_close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    (tx, handle)
}

/// Queue a Close frame with `code` and `reason` (cut to 123 bytes on a char boundary).
pub async fn close_with(tx: &mpsc::Sender<Message>, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason[..end].into(),
    };
    let _ = tx.send(Message::Close(Some(frame))).await;
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
