//! The demo's protected app: a page showing who it thinks the visitor is, from the
//! `X-Auth-Request-*` headers nginx adds after Sekisho's `auth_request` answered 202, and every
//! other header it received. Any path answers with the same page, so `/admin/` (narrowed to
//! the `admins` group in `config/nginx/saml.conf`) shows it too.
//!
//! `./scripts/demo` and `docker compose up` run it behind nginx; it trusts those headers only
//! because nginx sets them on every request and nothing else can reach it.
//!
//! Usage: `cargo run --example whoami -- [ADDR]` (default `127.0.0.1:8001`); prints
//! `whoami listening on ADDR` on stdout once it accepts connections.

#[path = "common/listen.rs"]
mod listen;

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

/// The identity headers nginx copies from Sekisho's answer, with what the page calls them.
const IDENTITY: &[(&str, &str)] = &[
    ("x-auth-request-user", "User"),
    ("x-auth-request-email", "Email"),
    ("x-auth-request-groups", "Groups"),
    ("x-auth-request-preferred-username", "Preferred username"),
];

fn main() -> std::io::Result<()> {
    let addr = listen::address("127.0.0.1:8001")?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = listen::listen(addr, |bound| format!("whoami listening on {bound}")).await?;
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = listen::accept(&listener).await;
        let connection = builder
            .serve_connection(TokioIo::new(stream), service_fn(answer))
            .into_owned();
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from(page(&req))));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The page: who the visitor is, the identity headers, then every header as received.
fn page<B>(req: &Request<B>) -> String {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .filter(|v| !v.is_empty())
    };
    let greeting = match (
        header("x-auth-request-user"),
        header("x-auth-request-email"),
    ) {
        (Some(user), Some(email)) => format!(
            "Signed in as <strong id=\"user\">{}</strong> ({})",
            escape(&user),
            escape(&email)
        ),
        (Some(user), None) => format!(
            "Signed in as <strong id=\"user\">{}</strong>",
            escape(&user)
        ),
        // Sekisho let the request through without a session: a trusted address.
        (None, _) => "Let in without signing in (a trusted address): no identity".to_owned(),
    };
    let identity: String = IDENTITY
        .iter()
        .map(|(name, label)| {
            let value = header(name).unwrap_or_default();
            format!(
                "<tr><th>{label}</th><td><code>{}</code></td><td><code id=\"{name}\">{}</code></td></tr>\n",
                header_case(name),
                escape(&value)
            )
        })
        .collect();
    let received: String = req
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            // Session cookies are credentials: their names only.
            let value = if name == "cookie" {
                value
                    .split(';')
                    .map(|c| format!("{}=…", c.split('=').next().unwrap_or_default().trim()))
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                value.into_owned()
            };
            format!(
                "<li><code>{}: {}</code></li>\n",
                escape(&header_case(name.as_str())),
                escape(&value)
            )
        })
        .collect();
    let request_line = format!("{} {}", req.method(), req.uri());
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>whoami - Sekisho demo</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n\
         <h1>Who am I?</h1>\n<p>{greeting}</p>\n\
         <p>What nginx passed on from Sekisho's answer to <code>/oauth2/auth</code>:</p>\n\
         <table>\n{identity}</table>\n\
         <p><a href=\"/admin/\">/admin/</a> (the <code>admins</code> group only) &middot; \
         <a href=\"/oauth2/userinfo\">/oauth2/userinfo</a> &middot; \
         <a href=\"/oauth2/sign_out?rd=/\">Sign out</a></p>\n\
         <h2>The request as received</h2>\n<p><code id=\"request\">{}</code></p>\n<ul>\n{received}</ul>\n\
         </main>\n</body>\n</html>\n",
        escape(&request_line)
    )
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}\
main{max-width:46rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}\
th,td{text-align:left;padding:.3rem .8rem .3rem 0;border-bottom:1px solid #ddd}\
ul{padding-left:1.2rem}code{font-size:.9em;word-break:break-all}";

/// `x-auth-request-user` → `X-Auth-Request-User`.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
