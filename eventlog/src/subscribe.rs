//! Subscriptions: every record after a position, first from disk, then live, with no gap and
//! no duplicate.
//!
//! A subscription never receives records pushed by the writer. It watches the durable head (a
//! `tokio::sync::watch`, which holds one value, so the writer never blocks and nothing is
//! buffered per subscriber) and reads what lies between its last delivered position and the
//! head from disk, in chunks of at most `CHUNK_RECORDS`, on a blocking thread. Catching up and
//! following live appends are the same loop, so the hand-over cannot lose or repeat a record,
//! and a slow subscriber simply reads more from disk (the page cache, usually) when it comes
//! back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use crate::api::{EventStream, Head, Position, ReadError, RecordedEvent};
use crate::file_log::Shared;

/// The most records a subscription holds in memory at once.
const CHUNK_RECORDS: u64 = 512;

struct State {
    shared: Arc<Shared>,
    head: watch::Receiver<Head>,
    /// The next position to deliver.
    next: Position,
    buffer: VecDeque<RecordedEvent>,
    done: bool,
}

pub fn subscribe(shared: Arc<Shared>, after: Position) -> EventStream {
    let state = State {
        head: shared.head.subscribe(),
        shared,
        next: after + 1,
        buffer: VecDeque::new(),
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            if let Some(event) = st.buffer.pop_front() {
                return Some((Ok(event), st));
            }
            // Read `closed` before the head: the writer publishes its last head before
            // setting `closed`, so a head read after seeing `closed` is final.
            let closed = st.shared.closed.load(Ordering::SeqCst);
            let head = st.head.borrow_and_update().position;
            if head >= st.next {
                let shared = st.shared.clone();
                let from = st.next;
                let to = head.min(from + CHUNK_RECORDS - 1);
                let read = tokio::task::spawn_blocking(move || {
                    crate::reader::read_all(&shared, from, to)?.collect::<Result<Vec<_>, _>>()
                })
                .await
                .unwrap_or_else(|e| Err(ReadError::Io(format!("reader task failed: {e}"))));
                match read {
                    Ok(events) => {
                        debug_assert!(
                            events.iter().zip(from..).all(|(e, p)| e.position == p),
                            "a subscription delivers dense positions"
                        );
                        if events.len() as u64 != to - from + 1 {
                            st.done = true;
                            let reason = format!("expected records {from} to {to} on disk");
                            return Some((
                                Err(ReadError::Corrupt {
                                    position: from,
                                    reason,
                                }),
                                st,
                            ));
                        }
                        st.next = to + 1;
                        st.buffer = events.into();
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
                continue;
            }
            if closed || st.head.changed().await.is_err() {
                st.done = true;
                return Some((Err(ReadError::Closed), st));
            }
        }
    }))
}
