//! Driving a connection together with the things that may end it (its timeouts, the server
//! stopping) without asking those on every wake-up.
//!
//! `tokio::select!` polls every branch whenever the task wakes, and a busy connection's task
//! wakes at least once per request, for its socket. Its timeouts and the shutdown signal
//! almost never have news, yet polling them (a `Notify`, a `watch`, a timer) cost a few hundred
//! instructions per request. [`Watched`] gives the side its own waker, which only records that
//! the side was woken and wakes the task, and polls the side only then.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

/// Which of the two finished first.
pub enum Either<A, B> {
    Main(A),
    Side(B),
}

/// Polls `main` on every wake-up and `side` only when `side` was woken (and once at first).
pub struct Watched<'a, M, S> {
    main: Pin<&'a mut M>,
    side: Pin<&'a mut S>,
    alarm: Arc<Alarm>,
    side_waker: Waker,
    /// The task waker last handed to `alarm`, to see cheaply whether it changed.
    task: Option<Waker>,
}

impl<'a, M: Future, S: Future> Watched<'a, M, S> {
    pub fn new(main: Pin<&'a mut M>, side: Pin<&'a mut S>) -> Self {
        let alarm = Arc::new(Alarm {
            rang: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        Self {
            main,
            side,
            side_waker: Waker::from(Arc::clone(&alarm)),
            alarm,
            task: None,
        }
    }
}

impl<M: Future, S: Future> Future for Watched<'_, M, S> {
    type Output = Either<M::Output, S::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(out) = this.main.as_mut().poll(cx) {
            return Poll::Ready(Either::Main(out));
        }
        if !this.task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
            this.task = Some(cx.waker().clone());
            *this.alarm.task() = Some(cx.waker().clone());
        }
        if this.alarm.rang.swap(false, Ordering::AcqRel) {
            let mut side_cx = Context::from_waker(&this.side_waker);
            if let Poll::Ready(out) = this.side.as_mut().poll(&mut side_cx) {
                return Poll::Ready(Either::Side(out));
            }
        }
        Poll::Pending
    }
}

/// The side's waker: notes that the side has news and wakes the task.
struct Alarm {
    rang: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Alarm {
    fn task(&self) -> std::sync::MutexGuard<'_, Option<Waker>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Wake for Alarm {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.rang.store(true, Ordering::Release);
        if let Some(task) = self.task().as_ref() {
            task.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// A future that counts its polls and never finishes.
    struct Counted<'a>(&'a AtomicUsize);

    impl Future for Counted<'_> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn the_side_is_polled_only_when_woken() {
        let side_polls = AtomicUsize::new(0);
        let notify = tokio::sync::Notify::new();
        let main = async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            notify.notify_one();
            tokio::time::sleep(Duration::from_millis(20)).await;
            "main"
        };
        let side = async {
            Counted(&side_polls).await;
        };
        let notified = async {
            notify.notified().await;
            side_polls.fetch_add(100, Ordering::Relaxed);
            std::future::pending::<()>().await;
        };
        let side = async { tokio::join!(side, notified) };
        tokio::pin!(main, side);
        match Watched::new(main, side).await {
            Either::Main(out) => assert_eq!(out, "main"),
            Either::Side(_) => panic!("the side never finishes"),
        }
        assert_eq!(
            side_polls.load(Ordering::Relaxed),
            102,
            "polled once at first and once when notified, not on each of main's wake-ups"
        );
    }

    #[tokio::test]
    async fn the_side_can_finish_first() {
        let main = std::future::pending::<()>();
        let side = tokio::time::sleep(Duration::from_millis(10));
        tokio::pin!(main, side);
        assert!(matches!(Watched::new(main, side).await, Either::Side(())));
    }
}
