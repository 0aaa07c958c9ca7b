//! The operator console: one self-contained page (`dataplane/console/index.html`,
//! compiled into the binary, no CDN, no build step) served by the admin
//! listener at `/` and `/console`. Everything it shows comes from the admin
//! API and `/metrics`; every change it makes goes through the API's
//! token-protected endpoints, so the page itself holds no authority.

/// The page.
pub const INDEX_HTML: &[u8] = include_bytes!("../console/index.html");

/// Headers that keep the page from being framed or fed foreign content: its
/// script and styles are inline, it talks only to the listener it came from.
pub const SECURITY_HEADERS: &[&str] = &[
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options: nosniff",
    "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer",
    "Cache-Control: no-cache",
];

/// True for the paths the console answers.
pub fn is_console_path(path: &str) -> bool {
    matches!(path, "/" | "/console" | "/console/")
}
