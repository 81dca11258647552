use std::task::{Context, Poll};

use http::Request;
use tower::{Layer, Service};

use super::Principal;
use crate::net::{ClientIp, Networks};

/// Lets requests from trusted networks through without a session, by marking them with
/// [`Principal::TrustedNetwork`]. Needs nothing but the resolved [`ClientIp`], so it keeps
/// answering while session stores and identity providers are down.
#[derive(Clone, Debug)]
pub struct TrustedIpLayer {
    networks: Networks,
}

impl TrustedIpLayer {
    pub fn new(networks: Networks) -> Self {
        Self { networks }
    }
}

impl<S> Layer<S> for TrustedIpLayer {
    type Service = TrustedIp<S>;
    fn layer(&self, inner: S) -> TrustedIp<S> {
        TrustedIp {
            inner,
            networks: self.networks.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TrustedIp<S> {
    inner: S,
    networks: Networks,
}

impl<S, B> Service<Request<B>> for TrustedIp<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        // A principal set by anyone before us is not trusted: only this layer grants it.
        req.extensions_mut().remove::<Principal>();
        if let Some(&ClientIp(ip)) = req.extensions().get() {
            if self.networks.contains(ip) {
                req.extensions_mut().insert(Principal::TrustedNetwork(ip));
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt};

    async fn principal_for(client: Option<&str>) -> Option<Principal> {
        let svc = ServiceBuilder::new()
            .layer(TrustedIpLayer::new(
                Networks::parse(&["198.51.100.0/24"]).unwrap(),
            ))
            .service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(req.extensions().get::<Principal>().cloned())
            });
        let mut req = Request::new(());
        if let Some(ip) = client {
            req.extensions_mut().insert(ClientIp(ip.parse().unwrap()));
        }
        svc.oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn trusted_client_becomes_a_principal() {
        assert_eq!(
            principal_for(Some("198.51.100.7")).await,
            Some(Principal::TrustedNetwork("198.51.100.7".parse().unwrap()))
        );
        assert!(principal_for(Some("::ffff:198.51.100.7")).await.is_some());
    }

    #[tokio::test]
    async fn others_and_unresolved_clients_are_not() {
        assert_eq!(principal_for(Some("203.0.113.1")).await, None);
        assert_eq!(principal_for(None).await, None);
    }
}
