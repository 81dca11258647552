//! Which upstream serves a request: the most specific host pattern that matches.

use std::sync::Arc;

use super::host::RequestHost;
use crate::config::UpstreamConfig;

/// One upstream, with the name logs and errors give it.
#[derive(Debug)]
pub struct Route {
    pub config: UpstreamConfig,
    pub label: Arc<str>,
}

#[derive(Clone, Debug)]
pub struct Routes(Arc<[Route]>);

impl Routes {
    pub fn new(upstreams: &[UpstreamConfig]) -> Self {
        let mut routes: Vec<Route> = upstreams
            .iter()
            .map(|config| Route {
                label: config.label().into(),
                config: config.clone(),
            })
            .collect();
        // Stable: among equally specific patterns (which validation keeps distinct) the
        // configuration's order stays.
        routes.sort_by_key(|r| std::cmp::Reverse(r.config.host.specificity()));
        Self(routes.into())
    }

    pub fn select(&self, host: Option<&RequestHost>) -> Option<&Route> {
        self.0.iter().find(|r| r.config.host.matches(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn routes() -> Routes {
        let config = Config::from_toml(
            r#"
            [session]
            secret = "0123456789abcdef0123456789abcdef"
            [[upstream]]
            host = "*"
            url = "http://127.0.0.1:1"
            [[upstream]]
            host = "gitlab.example.com"
            url = "http://127.0.0.1:2"
            [[upstream]]
            host = "gitlab.example.com:8443"
            url = "http://127.0.0.1:3"
            "#,
            std::iter::empty(),
        )
        .unwrap();
        Routes::new(&config.upstreams)
    }

    fn port_for(host: Option<&str>) -> Option<u16> {
        let mut req = http::Request::builder();
        if let Some(host) = host {
            req = req.header(http::header::HOST, host);
        }
        let req = req.body(()).unwrap();
        let host = RequestHost::of(&req).unwrap();
        routes()
            .select(host.as_ref())
            .and_then(|r| r.config.authority.port_u16())
    }

    #[test]
    fn the_most_specific_pattern_wins() {
        assert_eq!(port_for(Some("gitlab.example.com:8443")), Some(3));
        assert_eq!(port_for(Some("GitLab.example.com")), Some(2));
        assert_eq!(port_for(Some("gitlab.example.com:80")), Some(2));
        assert_eq!(port_for(Some("chat.example.com")), Some(1));
        assert_eq!(port_for(None), Some(1));
        let none = Routes::new(&[]);
        assert!(none.select(None).is_none());
    }
}
