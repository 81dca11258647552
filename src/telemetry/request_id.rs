//! Request ids: an incoming `X-Request-Id` is kept, otherwise one is made; either way the
//! request carries it (for logs) and the response echoes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// New ids are a random per-process prefix and a counter: unique across replicas in practice,
/// and cheaper than a UUID per request, which costs a system call for randomness on the path
/// every protected request takes.
#[derive(Clone, Debug)]
pub struct RequestIds {
    /// The prefix in hex, and the dash after it.
    prefix: [u8; 17],
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub fn new() -> Self {
        let mut prefix = [b'-'; 17];
        hex(rand::random(), &mut prefix[..16]);
        Self {
            prefix,
            next: Arc::new(AtomicU64::new(1)),
        }
    }

    /// The request's id: the incoming `X-Request-Id` kept, or a new one.
    pub fn of<B>(&self, req: &Request<B>) -> RequestId {
        match req.headers().get(&X_REQUEST_ID) {
            Some(id) => RequestId {
                value: id.clone(),
                made: false,
            },
            None => RequestId {
                value: self.make(),
                made: true,
            },
        }
    }

    /// `<prefix>-<counter>`, both as 16 hex digits. Written by hand into a buffer because
    /// `format!` costs several times more than the rest of this step. The buffer becomes the
    /// value's owner, so the copy kept for the response shares it instead of making a second
    /// allocation.
    fn make(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = [0; 33];
        id[..17].copy_from_slice(&self.prefix);
        hex(n, &mut id[17..]);
        HeaderValue::from_maybe_shared(Bytes::from_owner(id))
            .expect("hex digits and a dash are a valid header value")
    }
}

fn hex(mut n: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

/// A request's id, and whether Sekisho made it (the request does not carry it then).
#[derive(Clone, Debug)]
pub struct RequestId {
    value: HeaderValue,
    made: bool,
}

impl RequestId {
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }

    /// Writes a made id into a request that goes on to an app, so the app's logs carry it
    /// too. Sekisho's own routes do not need it there: their log lines take it from here.
    pub fn pass_on<B>(&self, req: &mut Request<B>) {
        if self.made {
            req.headers_mut().insert(X_REQUEST_ID, self.value.clone());
        }
    }

    /// The response carries the request's id back.
    pub fn echo<B>(self, response: &mut Response<B>) {
        response.headers_mut().insert(X_REQUEST_ID, self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the request carried on to the app, and what the response echoed.
    fn exchange(ids: &RequestIds, incoming: Option<&str>) -> (Option<String>, Option<String>) {
        let mut req = Request::new(());
        if let Some(id) = incoming {
            req.headers_mut()
                .insert(X_REQUEST_ID, HeaderValue::from_str(id).unwrap());
        }
        let id = ids.of(&req);
        id.pass_on(&mut req);
        let mut response = Response::new(());
        id.echo(&mut response);
        let text = |v: Option<&HeaderValue>| v.map(|v| v.to_str().unwrap().to_owned());
        (
            text(req.headers().get(X_REQUEST_ID)),
            text(response.headers().get(X_REQUEST_ID)),
        )
    }

    #[test]
    fn kept_or_made_and_echoed() {
        let ids = RequestIds::new();
        assert_eq!(
            exchange(&ids, Some("abc")),
            (Some("abc".into()), Some("abc".into()))
        );
        let (seen, echoed) = exchange(&ids, None);
        assert!(seen.is_some());
        assert_eq!(seen, echoed);
        let (other, _) = exchange(&ids, None);
        assert_ne!(seen, other, "each request gets its own id");
    }

    #[test]
    fn made_ids_are_prefix_and_counter() {
        let ids = RequestIds::new();
        let first = ids.make();
        let second = ids.make();
        let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());
        assert_eq!(first.len(), 33);
        assert_eq!(first[..17], second[..17]);
        assert!(first.ends_with("0000000000000001"), "{first}");
        assert!(second.ends_with("0000000000000002"), "{second}");
        assert!(first.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    }
}
