//! Timing the app's side of an exchange, and only its side: a client that uploads or reads
//! slowly is not the app being slow. The app must make progress within the timeout:
//! accept the next part of the request body, send the response head, send the next part of
//! the response body.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// While the client is the one keeping us waiting, the watch looks again this often.
const CLIENT_RECHECK: Duration = Duration::from_secs(1);

/// Where sending a request to an app stands.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    /// Milliseconds after `start` of the last step forward.
    last: AtomicU64,
    waiting_on_client: AtomicBool,
    client_failed: AtomicBool,
}

impl Progress {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            waiting_on_client: AtomicBool::new(false),
            client_failed: AtomicBool::new(false),
        })
    }

    fn step(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(elapsed, Ordering::Relaxed);
        self.waiting_on_client.store(false, Ordering::Relaxed);
    }

    /// Whether the request body failed on the client's side (it went away mid-upload).
    pub fn client_failed(&self) -> bool {
        self.client_failed.load(Ordering::Relaxed)
    }

    /// Resolves once the app has gone `timeout` without taking request data or answering.
    pub async fn stalled(&self, timeout: Duration) {
        loop {
            if self.waiting_on_client.load(Ordering::Relaxed) {
                tokio::time::sleep(timeout.min(CLIENT_RECHECK)).await;
                continue;
            }
            let last = self.start + Duration::from_millis(self.last.load(Ordering::Relaxed));
            let deadline = last + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A request body on its way to an app, reporting each step to [`Progress`]. The client
/// hands us data and the app takes it, one frame at a time: nothing is buffered here.
#[derive(Debug)]
pub struct WatchedBody {
    inner: Body,
    progress: Arc<Progress>,
}

impl WatchedBody {
    pub fn new(inner: Body, progress: Arc<Progress>) -> Self {
        Self { inner, progress }
    }
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Pending => self
                .progress
                .waiting_on_client
                .store(true, Ordering::Relaxed),
            Poll::Ready(Some(Err(_))) => self.progress.client_failed.store(true, Ordering::Relaxed),
            // The app took the previous frame, since it asks for the next: its turn again.
            Poll::Ready(_) => self.progress.step(),
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The app stopped sending its response body.
#[derive(Debug, thiserror::Error)]
#[error("the app sent nothing for {}", humantime::format_duration(*.0))]
pub struct Stalled(pub Duration);

/// A response body from an app that fails when the app sends nothing for `timeout` while the
/// client is waiting for more. Time the client spends not asking does not count.
pub struct IdleTimeout<B> {
    inner: B,
    timeout: Duration,
    /// Made the first time the body keeps its reader waiting: a small response is usually read
    /// whole with its head, and then never needs a timer.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
    upstream: Arc<str>,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, timeout: Duration, upstream: Arc<str>) -> Self {
        Self {
            inner,
            timeout,
            sleep: None,
            armed: false,
            upstream,
        }
    }
}

impl<B> http_body::Body for IdleTimeout<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if !this.armed {
                    let deadline = Instant::now() + this.timeout;
                    match &mut this.sleep {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => this.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    this.armed = true;
                }
                let Some(sleep) = this.sleep.as_mut() else {
                    return Poll::Pending;
                };
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        tracing::warn!(upstream = %this.upstream, timeout = ?this.timeout, "app stopped sending its response; closing the connection");
                        Poll::Ready(Some(Err(Stalled(this.timeout).into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_silent_app_stalls_the_request() {
        let progress = Progress::new();
        let started = Instant::now();
        progress.stalled(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_client_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, axum::Error>>(1);
        let body = Body::from_stream(ReceiverStream(rx));
        let progress = Progress::new();
        let mut watched = WatchedBody::new(body, progress.clone());
        let started = Instant::now();
        // The app asks for data the client does not have yet.
        assert!(futures_poll(&mut watched).is_pending());
        let watch = tokio::spawn({
            let progress = progress.clone();
            async move { progress.stalled(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!watch.is_finished(), "a slow client is not a slow app");
        tx.send(Ok(Bytes::from_static(b"x"))).await.unwrap();
        assert!(futures_poll(&mut watched).is_ready());
        // Now the app holds the data and does not ask for more.
        watch.await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(35));
        assert!(!progress.client_failed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_response_body_fails_after_the_timeout() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, axum::Error>>(1);
        let inner = Body::from_stream(ReceiverStream(rx));
        let mut body = IdleTimeout::new(inner, Duration::from_secs(5), "app".into());
        tx.send(Ok(Bytes::from_static(b"first"))).await.unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "first");
        // The client took its time before asking again: that does not count.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let started = Instant::now();
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert!(error.to_string().contains("5s"), "{error}");
        drop(tx);
    }

    fn futures_poll(body: &mut WatchedBody) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        http_body::Body::poll_frame(Pin::new(body), &mut cx)
    }

    /// A `Stream` over an mpsc receiver, for `Body::from_stream`.
    struct ReceiverStream(tokio::sync::mpsc::Receiver<Result<Bytes, axum::Error>>);

    impl futures_util::Stream for ReceiverStream {
        type Item = Result<Bytes, axum::Error>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
}
