//! The few HTML pages Sekisho shows people itself, in English or Japanese.
//!
//! Self-contained documents: inline CSS, no scripts, nothing fetched from elsewhere.

use http::HeaderValue;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ja,
}

impl Lang {
    /// From an `Accept-Language` value: the supported language with the highest q-value (ties go
    /// to the one listed first); `*` counts as English; anything else or nothing is English.
    pub fn from_accept_language(value: Option<&HeaderValue>) -> Lang {
        let Some(header) = value.and_then(|v| v.to_str().ok()) else {
            return Lang::En;
        };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let lang = match parts.next().unwrap_or("").split('-').next().unwrap_or("") {
                p if p.eq_ignore_ascii_case("ja") => Lang::Ja,
                p if p.eq_ignore_ascii_case("en") || p == "*" => Lang::En,
                _ => continue,
            };
            let q = match parts.find_map(|p| p.strip_prefix("q=").or(p.strip_prefix("Q="))) {
                None => 1.0,
                Some(q) => match q.trim().parse::<f32>() {
                    Ok(q) if (0.0..=1.0).contains(&q) => q,
                    _ => continue,
                },
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    /// The language tag, as in `<html lang>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Ja => &JA,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    /// Sign-in at the identity provider failed, or its callback was invalid.
    LoginFailed { reason: String, retry_href: String },
    /// Signed in, but authorization refused.
    NotAllowed {
        user: String,
        reason: String,
        sign_out_href: String,
    },
    /// The identity provider cannot be reached right now.
    ProviderUnavailable { retry_href: String },
    /// The request was malformed; `reason` is short and technical.
    BadRequest { reason: String },
    /// Several providers configured: one button per `(label, href)`.
    ChooseProvider { options: Vec<(String, String)> },
    /// Signed out, with no provider logout to send the browser to.
    SignedOut { sign_in_href: String },
    /// Any other error status.
    Error { status: u16, reason: String },
}

/// Every human-readable string, per language: `(title, text)` pairs per page, then link labels.
/// Plain text: it is escaped like everything else.
struct Texts {
    login_failed: (&'static str, &'static str),
    /// The text contains `{user}`.
    not_allowed: (&'static str, &'static str),
    ask_admin: &'static str,
    unavailable: (&'static str, &'static str),
    bad_request: (&'static str, &'static str),
    choose: (&'static str, &'static str),
    signed_out: (&'static str, &'static str),
    error: (&'static str, &'static str),
    details: &'static str,
    retry: &'static str,
    sign_out: &'static str,
    sign_in_again: &'static str,
}

const EN: Texts = Texts {
    login_failed: (
        "Sign-in failed",
        "Signing in with the identity provider could not be completed. This can happen when \
         sign-in takes too long or was started in another tab. Please try again.",
    ),
    not_allowed: (
        "You don't have access to this page",
        "You are signed in as {user}, but you are not allowed here.",
    ),
    ask_admin: "If you need access, please contact your administrator.",
    unavailable: (
        "Sign-in is temporarily unavailable",
        "The identity provider cannot be reached right now. Please try again in a few minutes.",
    ),
    bad_request: ("Bad request", "The request could not be processed."),
    choose: ("Sign in", "Choose how you would like to sign in."),
    signed_out: (
        "You have been signed out",
        "You can close this window or sign in again.",
    ),
    error: (
        "Something went wrong",
        "The request could not be completed.",
    ),
    details: "Details: ",
    retry: "Try again",
    sign_out: "Sign out",
    sign_in_again: "Sign in again",
};

const JA: Texts = Texts {
    login_failed: (
        "サインインに失敗しました",
        "認証プロバイダーでのサインインを完了できませんでした。サインインに時間がかかった場合や、\
         別のタブでサインインを始めた場合に起こることがあります。もう一度お試しください。",
    ),
    not_allowed: (
        "このページへのアクセス権がありません",
        "{user} としてサインインしていますが、このページへのアクセスは許可されていません。",
    ),
    ask_admin: "アクセスが必要な場合は、管理者にお問い合わせください。",
    unavailable: (
        "現在サインインできません",
        "認証プロバイダーに接続できません。しばらくしてからもう一度お試しください。",
    ),
    bad_request: (
        "リクエストが正しくありません",
        "リクエストを処理できませんでした。",
    ),
    choose: ("サインイン", "サインイン方法を選択してください。"),
    signed_out: (
        "サインアウトしました",
        "このウィンドウを閉じるか、もう一度サインインしてください。",
    ),
    error: ("エラーが発生しました", "リクエストを完了できませんでした。"),
    details: "詳細：",
    retry: "もう一度試す",
    sign_out: "サインアウト",
    sign_in_again: "もう一度サインイン",
};

const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#f3f3f1;--fg:#1f2328;--muted:#5f6670;--card:#fff;--line:#dddcd6;
--accent:#35595e}
@media (prefers-color-scheme:dark){:root{--bg:#17191c;--fg:#e7e7e4;--muted:#a2a7ae;--card:#212428;
--line:#363a40;--accent:#93bcc0}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1rem;
background:var(--bg);color:var(--fg);font:16px/1.7 system-ui,-apple-system,"Segoe UI",
"Hiragino Sans","Hiragino Kaku Gothic ProN","Noto Sans JP",Meiryo,sans-serif}
main{width:100%;max-width:30rem;background:var(--card);border:1px solid var(--line);
border-radius:12px;padding:2rem 1.75rem}
header{display:flex;align-items:center;gap:.7rem;margin-bottom:1.5rem;color:var(--muted);
font-weight:600;letter-spacing:.05em}
.mark{border:2px solid var(--accent);border-radius:6px;color:var(--accent);padding:.15rem .4rem;
font-size:.9rem;letter-spacing:.1em}
h1{font-size:1.3rem;line-height:1.45;margin:0 0 .8rem}p{margin:0 0 1rem}
.small{font-size:.85rem;color:var(--muted);overflow-wrap:anywhere}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em}
.btn{display:block;text-align:center;padding:.7rem 1rem;margin:.6rem 0 0;border-radius:8px;
background:var(--accent);color:var(--card);text-decoration:none;font-weight:600}
.btn:hover{opacity:.9}.btn:focus-visible{outline:3px solid var(--fg);outline-offset:2px}
"#;

/// The complete HTML document for `page`.
pub fn render(page: &Page, lang: Lang) -> String {
    let t = lang.texts();
    let label = escape(t.details);
    let detail = |s: &str| format!("<p class=\"small\">{label}<code>{}</code></p>\n", escape(s));
    let ((title, text), more) = match page {
        Page::LoginFailed { reason, retry_href } => (
            t.login_failed,
            detail(reason) + &button(t.retry, retry_href),
        ),
        Page::NotAllowed {
            reason,
            sign_out_href,
            ..
        } => {
            let more = format!("<p>{}</p>\n", escape(t.ask_admin)) + &detail(reason);
            (t.not_allowed, more + &button(t.sign_out, sign_out_href))
        }
        Page::ProviderUnavailable { retry_href } => (t.unavailable, button(t.retry, retry_href)),
        Page::BadRequest { reason } => (t.bad_request, detail(reason)),
        Page::ChooseProvider { options } => (
            t.choose,
            options.iter().map(|(l, h)| button(l, h)).collect(),
        ),
        Page::SignedOut { sign_in_href } => (t.signed_out, button(t.sign_in_again, sign_in_href)),
        Page::Error { status, reason } => (t.error, detail(&format!("HTTP {status}: {reason}"))),
    };
    let user = match page {
        Page::NotAllowed { user, .. } => user.as_str(),
        _ => "",
    };
    let text = escape(text).replace("{user}", &format!("<strong>{}</strong>", escape(user)));
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title} - Sekisho</title>\n\
         <style>{CSS}</style>\n</head>\n<body>\n<main>\n\
         <header><span class=\"mark\" lang=\"ja\">関所</span><span>Sekisho</span></header>\n\
         <h1>{title}</h1>\n<p>{text}</p>\n{more}</main>\n</body>\n</html>\n",
        lang = lang.as_str(),
        title = escape(title),
    )
}

/// A link styled as a button.
fn button(label: &str, href: &str) -> String {
    let (href, label) = (safe_href(href), escape(label));
    format!("<a class=\"btn\" href=\"{href}\">{label}</a>\n")
}

/// `href` escaped for an attribute; a scheme other than http(s) (`javascript:`, `data:`...)
/// becomes `/`, in case a caller ever passes something a visitor chose.
fn safe_href(href: &str) -> String {
    // Browsers skip tabs, newlines and leading controls when they read the scheme.
    let compact: String = href
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .collect();
    let scheme = compact.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.filter(|s| !s.contains(['/', '?', '#'])).as_deref() {
        None | Some("http" | "https") => escape(href),
        Some(_) => "/".into(),
    }
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language() {
        use Lang::{En, Ja};
        #[rustfmt::skip]
        let cases = [
            ("ja", Ja), ("JA-jp", Ja), ("ja-JP,ja;q=0.9,en;q=0.8", Ja), ("fr;q=1, ja;q=0.9", Ja),
            ("de, ja;q=0.1", Ja), ("ja ; q=0.5, en;q=0.5", Ja), ("*;q=0.1, ja;q=0.2", Ja),
            ("en;q=0, ja;q=0.001", Ja), ("en-US,ja;q=0.5", En), ("en;q=0.5, ja;q=0.5", En),
            ("*", En), ("*, ja", En), ("ja;q=0", En), ("ja;q=oops", En), ("ja;q=2", En),
            ("jav, jax-JP", En), ("fr", En), ("", En), (" , ;q=1", En),
        ];
        for (header, want) in cases {
            let value = HeaderValue::from_str(header).unwrap();
            assert_eq!(Lang::from_accept_language(Some(&value)), want, "{header:?}");
        }
        assert_eq!(Lang::from_accept_language(None), En);
        let opaque = HeaderValue::from_bytes(b"ja, \xff").unwrap();
        assert_eq!(Lang::from_accept_language(Some(&opaque)), En);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape(r#"<p a="x">'&'"#),
            "&lt;p a=&quot;x&quot;&gt;&#39;&amp;&#39;"
        );
        for bad in [
            "javascript:alert(1)",
            " JavaScript:x",
            "java\tscript:x",
            "data:text/html,",
        ] {
            assert_eq!(safe_href(bad), "/", "{bad:?}");
        }
        for good in [
            "/start?rd=%2Fa:b",
            "https://idp.example/out?a=1&b=2",
            "x#y:z",
        ] {
            assert_eq!(safe_href(good), escape(good));
        }
    }

    /// Every page in both languages, every dynamic field set to hostile text.
    #[test]
    fn every_page() {
        let (x, h) = (
            || "<script>alert('&\"')</script>".to_string(),
            || "/x?a&b=\"><script>".to_string(),
        );
        #[rustfmt::skip]
        let pages = [
            Page::LoginFailed { reason: x(), retry_href: h() },
            Page::NotAllowed { user: x(), reason: x(), sign_out_href: h() },
            Page::ProviderUnavailable { retry_href: h() },
            Page::BadRequest { reason: x() },
            Page::ChooseProvider { options: vec![(x(), h()), ("GitHub".into(), "/gh".into())] },
            Page::SignedOut { sign_in_href: h() },
            Page::Error { status: 502, reason: x() },
        ];
        for page in &pages {
            for lang in [Lang::En, Lang::Ja] {
                let html = render(page, lang);
                assert!(html.starts_with("<!doctype html>\n"));
                assert!(html.contains(&format!("<html lang=\"{}\">", lang.as_str())));
                assert!(html.contains("<meta charset=\"utf-8\">") && html.contains("viewport"));
                assert!(html.contains("<title>") && html.contains("関所</span>"));
                let forbidden = ["<script", "{user}", "http://", "https://"];
                assert!(!forbidden.iter().any(|f| html.contains(f)), "{html}");
                let wanted = match page {
                    Page::ProviderUnavailable { .. } | Page::SignedOut { .. } => h(),
                    _ => x(),
                };
                assert!(html.contains(&escape(&wanted)), "{html}");
            }
        }
        let html = render(&pages[4], Lang::En);
        assert!(html.contains(&format!("href=\"{}\"", escape(&h()))) && html.contains("\"/gh\""));
        assert!(render(&pages[6], Lang::Ja).contains("HTTP 502: &lt;script"));
        let user = Page::NotAllowed {
            user: "alice".into(),
            reason: "not in admins".into(),
            sign_out_href: "/out".into(),
        };
        let ja = render(&user, Lang::Ja);
        assert!(ja.contains("<strong>alice</strong> としてサインインしていますが、"));
        assert!(ja.contains("not in admins") && ja.contains("href=\"/out\""));
        let en = render(&user, Lang::En);
        assert!(en.contains("You are signed in as <strong>alice</strong>, but"));
    }
}
