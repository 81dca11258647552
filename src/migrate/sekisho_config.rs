//! The Sekisho configuration the migrated routes need, as a ConfigMap like
//! deploy/kubernetes/configmap.yaml: `public_url` from `auth-signin`, `trusted_ips` from the
//! snippets that let addresses skip the login, and placeholders (marked so) for what no
//! Ingress says: the proxies to trust and the identity provider. It passes `sekisho check`
//! once the secrets are in the environment, as the Deployment gives them.

use std::collections::BTreeMap;

use serde::Serialize;
use url::Url;

use super::Source;
use super::annotations::Cidr;
use super::auth_url::ServiceRef;
use super::cli::{Options, Target};
use super::output::Doc;

/// What the Ingresses say about Sekisho's configuration.
#[derive(Debug, Clone, Default)]
pub struct SekishoConfig {
    /// Sekisho's Service: the first auth-url's (or `--service`).
    service: Option<ServiceRef>,
    /// `public_url`, and where it came from.
    public_url: Option<(Url, String)>,
    /// Other hosts the protected Ingresses serve: `allowed_redirect_domains`.
    other_hosts: Vec<String>,
    /// `session.domain`: the domain `public_url` and the other hosts share, when they do.
    cookie_domain: Option<String>,
    /// `trusted_ips`, each with the Ingresses that asked for it.
    trusted_ips: BTreeMap<Cidr, Vec<String>>,
    warnings: Vec<String>,
}

impl SekishoConfig {
    pub fn from_sources(sources: &[Source], options: &Options) -> SekishoConfig {
        let protected: Vec<&Source> = sources
            .iter()
            .filter(|s| s.reading.auth.is_some())
            .collect();
        let Some(first) = protected.first() else {
            return SekishoConfig::default();
        };
        let mut config = SekishoConfig {
            service: options
                .service
                .clone()
                .or_else(|| first.reading.auth.as_ref().map(|a| a.service.clone())),
            ..SekishoConfig::default()
        };
        config.public_url = public_url(&protected, &mut config.warnings);
        if config.public_url.is_none() {
            config.warnings.push(
                "no Ingress says where browsers sign in (an absolute auth-signin, or a host): \
                 set public_url in Sekisho's configuration"
                    .to_owned(),
            );
        }
        let public_host = config.public_host();
        for source in &protected {
            for host in source.ingress.hosts() {
                if Some(host) != public_host.as_deref()
                    && !config.other_hosts.iter().any(|h| h == host)
                {
                    config.other_hosts.push(host.to_owned());
                }
            }
        }
        if let (false, Some(public_host)) = (config.other_hosts.is_empty(), &public_host) {
            let hosts: Vec<&str> = std::iter::once(public_host.as_str())
                .chain(config.other_hosts.iter().map(String::as_str))
                .collect();
            config.cookie_domain = shared_domain(&hosts);
            if config.cookie_domain.is_none() {
                config.warnings.push(format!(
                    "Sekisho signs in at one public_url ({public_host}); the other hosts ({}) \
                     share no domain with it, so its session cookie cannot reach them: give \
                     them a Sekisho of their own",
                    config.other_hosts.join(", ")
                ));
            }
        }
        for source in sources {
            for cidr in &source.reading.trusted_ips {
                config
                    .trusted_ips
                    .entry(*cidr)
                    .or_default()
                    .push(source.ingress.display_name());
            }
        }
        config.warn_about_global_trust(sources);
        config
    }

    /// Sekisho's `trusted_ips` holds for every app behind it: ranges only some Ingresses let
    /// skip the login now skip it everywhere Sekisho guards.
    fn warn_about_global_trust(&mut self, sources: &[Source]) {
        let protected = sources.iter().filter(|s| s.reading.auth.is_some()).count();
        for (cidr, from) in &self.trusted_ips {
            if from.len() < protected {
                self.warnings.push(format!(
                    "trusted_ips is global in Sekisho: {cidr}, which skipped the login only on \
                     {}, now skips it on every app Sekisho guards",
                    from.join(", ")
                ));
            }
        }
    }

    pub fn service(&self) -> Option<&ServiceRef> {
        self.service.as_ref()
    }

    pub fn public_host(&self) -> Option<String> {
        self.public_url
            .as_ref()
            .and_then(|(url, _)| url.host_str().map(str::to_owned))
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The configuration file.
    pub fn toml(&self, options: &Options) -> String {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let list = |items: Vec<String>| {
            let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
            format!("[{}]", quoted.join(", "))
        };
        let mut out = String::from(
            "# Written by `sekisho migrate` from the Ingresses' annotations. Secrets are not here:\n\
             # SEKISHO_SESSION__SECRET and SEKISHO_OIDC__CLIENT_SECRET come from the environment\n\
             # (deploy/kubernetes/deployment.yaml).\n\
             listen = \"0.0.0.0:4180\"\n",
        );
        if let Some((url, why)) = &self.public_url {
            out.push_str(&format!("# {why}\n"));
            out.push_str(&format!(
                "public_url = {}\n",
                quote(url.as_str().trim_end_matches('/'))
            ));
        }
        if !self.other_hosts.is_empty() {
            out.push_str("# The other hosts of the protected Ingresses, where `rd` may lead.\n");
            out.push_str(&format!(
                "allowed_redirect_domains = {}\n",
                list(self.other_hosts.clone())
            ));
        }
        if !self.trusted_ips.is_empty() {
            out.push_str(
                "# From `satisfy any; allow ...; deny all;` snippets: these addresses pass without signing in.\n",
            );
            out.push_str(&format!(
                "trusted_ips = {}\n",
                list(self.trusted_ips.keys().map(ToString::to_string).collect())
            ));
        }
        out.push_str(&format!(
            "\n[client_ip]\nheader = \"x-forwarded-for\"\n\
             # PLACEHOLDER: who may report a client address, read from the right of\n\
             # X-Forwarded-For: the pod network {} ask from, and the load\n\
             # balancer in front of them. Put yours here, or trusted_ips matches no one.\n\
             trusted_proxies = [\"10.244.0.0/16\"]\n",
            match options.target {
                Target::Traefik => "Traefik's pods",
                Target::GatewayApi(_) => "the gateway's proxies",
            }
        ));
        out.push_str(&session_section(
            &options.target,
            self.cookie_domain.as_deref(),
        ));
        out.push_str(
            "\n# PLACEHOLDER: your identity provider (docs/keycloak.md).\n\
             [oidc]\n\
             issuer_url = \"https://keycloak.example.com/realms/demo\"\n\
             client_id = \"sekisho\"\n",
        );
        out
    }

    /// The ConfigMap holding the file, in Sekisho's namespace; None when no Ingress asks
    /// Sekisho anything.
    pub fn document(&self, options: &Options) -> Option<Doc> {
        let service = self.service.as_ref()?;
        let config_map = ConfigMap {
            api_version: "v1",
            kind: "ConfigMap",
            metadata: Metadata {
                name: "sekisho".to_owned(),
                namespace: service.namespace.clone(),
                labels: BTreeMap::from([("app.kubernetes.io/name", "sekisho")]),
            },
            data: BTreeMap::from([("sekisho.toml", self.toml(options))]),
        };
        Some(Doc::new(
            vec![
                "Sekisho's configuration for the routes above (merge it into yours: deploy/kubernetes/configmap.yaml)."
                    .to_owned(),
            ],
            &config_map,
        ))
    }
}

/// Where browsers sign in: the first absolute auth-signin, else the first protected host.
fn public_url(protected: &[&Source], warnings: &mut Vec<String>) -> Option<(Url, String)> {
    let mut found: Option<(Url, String)> = None;
    for source in protected {
        let sign_in = source
            .reading
            .auth
            .as_ref()
            .and_then(|a| a.sign_in.as_ref())
            .and_then(|s| s.public_url.clone());
        match (&found, sign_in) {
            (None, Some(url)) => {
                found = Some((
                    url,
                    format!(
                        "From the auth-signin of Ingress {}: the host browsers sign in at.",
                        source.ingress.display_name()
                    ),
                ))
            }
            (Some((first, _)), Some(url)) if url != *first => warnings.push(format!(
                "Ingress {} signs in at {url}, but Sekisho has one public_url ({first})",
                source.ingress.display_name()
            )),
            _ => {}
        }
    }
    if found.is_some() {
        return found;
    }
    let source = protected.iter().find(|s| !s.ingress.hosts().is_empty())?;
    let host = source.ingress.hosts()[0];
    let scheme = if source.ingress.tls_covers(host) {
        "https"
    } else {
        "http"
    };
    let url = Url::parse(&format!("{scheme}://{host}")).ok()?;
    Some((
        url,
        format!(
            "From the host of Ingress {} (no absolute auth-signin): where browsers sign in.",
            source.ingress.display_name()
        ),
    ))
}

/// The parent domain every host shares (`.example.com`), with at least two labels.
fn shared_domain(hosts: &[&str]) -> Option<String> {
    let reversed: Vec<Vec<&str>> = hosts.iter().map(|h| h.rsplit('.').collect()).collect();
    let shortest = reversed.iter().map(Vec::len).min()?;
    let mut labels = Vec::new();
    for i in 0..shortest {
        let label = reversed[0][i];
        if reversed.iter().any(|r| r[i] != label) {
            break;
        }
        labels.push(label);
    }
    // A host itself is not a parent domain of the others.
    if labels.len() == shortest {
        labels.pop();
    }
    (labels.len() >= 2).then(|| {
        labels.reverse();
        format!(".{}", labels.join("."))
    })
}

fn session_section(target: &Target, cookie_domain: Option<&str>) -> String {
    let why = match target {
        Target::Traefik => {
            "# Sessions: Traefik hands a refreshed session cookie back to the browser\n\
             # (addAuthCookiesToResponse in the Middleware). With several replicas keep them in\n\
             # Redis (SEKISHO_SESSION__STORE=redis, as deploy/kubernetes does).\n"
        }
        Target::GatewayApi(_) => {
            "# Sessions: the gateway passes no header of Sekisho's answer to the browser when it\n\
             # lets a request through, so a refreshed cookie session cannot reach it. Keep them in\n\
             # Redis (SEKISHO_SESSION__STORE=redis, as deploy/kubernetes does): the cookie then\n\
             # holds a ticket that never changes.\n"
        }
    };
    let domain = match cookie_domain {
        Some(domain) => format!(
            "# The hosts share {domain}: the session cookie must reach all of them.\ndomain = {}\n",
            toml::Value::String(domain.to_owned())
        ),
        None => String::new(),
    };
    format!("\n{why}[session]\ncookie_name = \"_sekisho\"\nsecure = true\n{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_share_a_parent_domain_or_not() {
        for (hosts, expected) in [
            (
                vec!["app.example.com", "admin.example.com"],
                Some(".example.com"),
            ),
            (
                vec!["a.b.example.com", "c.b.example.com", "example.com"],
                None,
            ),
            (
                vec!["a.b.example.com", "c.b.example.com"],
                Some(".b.example.com"),
            ),
            (vec!["app.example.com", "app.example.org"], None),
            (vec!["example.com", "www.example.com"], None),
        ] {
            assert_eq!(shared_domain(&hosts).as_deref(), expected, "{hosts:?}");
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigMap {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    data: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    labels: BTreeMap<&'static str, &'static str>,
}
