//! The few HTML pages the authorization server shows (consent and errors): one small stylesheet,
//! every value escaped, and headers that keep them out of frames, caches and referrers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::errors::no_store;

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1d1d1f}\
h1{font-size:1.3rem}code{background:#f2f2f5;padding:.1rem .3rem;border-radius:4px}\
ul{padding-left:1.2rem}.muted{color:#6e6e73;font-size:.9rem}.box{border:1px solid #d2d2d7;border-radius:10px;padding:1rem 1.2rem}\
button{font:inherit;padding:.5rem 1.2rem;border-radius:8px;border:1px solid #0071e3;margin-right:.5rem;cursor:pointer}\
.approve{background:#0071e3;color:#fff}.deny{background:#fff;color:#0071e3}";

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

/// A complete page. `form_targets` are the origins a form on it may submit (and redirect) to,
/// besides this server: browsers apply CSP `form-action` to the redirects after a POST too.
pub(super) fn html(status: StatusCode, title: &str, body: &str, form_targets: &[String]) -> Response {
    let document = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head>\
         <body>{body}</body></html>",
        escape(title)
    );
    let mut response =
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], document).into_response();
    let headers = response.headers_mut();
    no_store(headers);
    let mut csp = String::from(
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    for target in form_targets {
        // Origins only: a path or anything odd would not be a valid source expression.
        if target.chars().all(|c| c.is_ascii_alphanumeric() || ":/.-[]".contains(c)) {
            csp.push(' ');
            csp.push_str(target);
        }
    }
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn pages_refuse_framing_and_caching() {
        let r =
            html(StatusCode::OK, "t", "<p>x</p>", &["https://idp.example.com".into(), "bad value;".into()]);
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap_or_default().to_owned();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("form-action 'self' https://idp.example.com")
        );
        assert!(!csp.contains("bad value"), "{csp}");
    }
}
