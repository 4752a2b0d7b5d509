//! Where the target listens, and the loopback rule: live mode sends traffic only
//! to this machine unless told otherwise.
//!
//! The rule is decided on the URL's text alone, before any name is resolved or any
//! connection is attempted: a host is loopback when it is an IPv4 address in
//! 127.0.0.0/8, the IPv6 address `::1`, or the name `localhost` (which is then
//! used as 127.0.0.1, never looked up).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use url::{Host, Url};

/// A parsed, checked `http://HOST:PORT/…` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as given (with `{port}` filled in).
    pub url: Url,
    /// The socket address to connect to.
    pub addr: SocketAddr,
    /// Whether the host is loopback.
    pub loopback: bool,
}

impl Endpoint {
    /// `scheme://host:port` without a path (goose's base URL).
    pub fn base(&self) -> String {
        let mut u = self.url.clone();
        u.set_path("");
        u.set_query(None);
        u.as_str().trim_end_matches('/').to_string()
    }

    /// The URL's path (with query), `/` when empty.
    pub fn path(&self) -> String {
        let mut p = self.url.path().to_string();
        if let Some(q) = self.url.query() {
            p.push('?');
            p.push_str(q);
        }
        if p.is_empty() {
            "/".into()
        } else {
            p
        }
    }

    /// The `Host:` header value.
    pub fn host_header(&self) -> String {
        match self.url.port() {
            Some(p) => format!("{}:{p}", self.url.host_str().unwrap_or("127.0.0.1")),
            None => self.url.host_str().unwrap_or("127.0.0.1").to_string(),
        }
    }
}

/// Whether `host` is loopback by the rule above.
pub fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Parses `text` (flag `flag` in messages) as an `http://` URL and applies the
/// loopback rule unless `allow_remote`. Never resolves a name: a remote host
/// name is refused as it stands, and is only usable with `allow_remote` when it
/// is an IP address.
pub fn parse(flag: &str, text: &str, allow_remote: bool) -> Result<Endpoint, String> {
    let url = Url::parse(text.trim()).map_err(|e| {
        format!("--{flag} '{text}' is not a URL ({e}); give e.g. http://127.0.0.1:8080")
    })?;
    if url.scheme() != "http" {
        return Err(format!(
            "--{flag} '{text}': only http:// targets are supported (got {}://)",
            url.scheme()
        ));
    }
    let host = url
        .host()
        .ok_or_else(|| format!("--{flag} '{text}' has no host; give e.g. http://127.0.0.1:8080"))?;
    let loopback = is_loopback(&host);
    if !loopback && !allow_remote {
        return Err(format!(
            "--{flag} '{text}': {host} is not a loopback address (127.0.0.0/8, localhost or [::1]); \
             live mode only sends traffic to this machine unless --allow-remote is given"
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = socket_addr(&host, port).ok_or_else(|| {
        format!(
            "--{flag} '{text}': give the remote host as an IP address, not the name '{host}' \
             (soak does not resolve names for remote targets)"
        )
    })?;
    Ok(Endpoint {
        addr,
        url,
        loopback,
    })
}

/// Where to connect for `host`: an IP address as it is, `localhost` as
/// 127.0.0.1, any other name `None` (soak never resolves names).
pub fn socket_addr(host: &Host<&str>, port: u16) -> Option<SocketAddr> {
    let ip = match host {
        Host::Ipv4(ip) => IpAddr::V4(*ip),
        Host::Ipv6(ip) => IpAddr::V6(*ip),
        Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Host::Domain(_) => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9/",
            "http://localhost:1",
            "http://LOCALHOST:1",
            "http://[::1]:8080/x",
        ] {
            let e = parse("url", ok, false).expect(ok);
            assert!(e.loopback, "{ok}");
        }
        for bad in [
            "http://10.0.0.1:80",
            "http://192.168.1.1",
            "http://8.8.8.8",
            "http://example.com",
            "http://localhost.example.com",
            "http://[::2]:80",
            "http://128.0.0.1",
        ] {
            let e = parse("url", bad, false).expect_err(bad);
            assert!(e.contains("--allow-remote"), "{e}");
        }
        assert!(parse("url", "http://10.0.0.1:80", true).is_ok());
        assert!(parse("url", "http://example.com", true).is_err());
        assert!(parse("url", "https://127.0.0.1", false).is_err());
        assert!(parse("url", "127.0.0.1:80", false).is_err());
    }

    #[test]
    fn base_and_path() {
        let e = parse("url", "http://localhost:9000/metrics?x=1", false).expect("ok");
        assert_eq!(e.addr, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(e.base(), "http://localhost:9000");
        assert_eq!(e.path(), "/metrics?x=1");
        assert_eq!(e.host_header(), "localhost:9000");
    }
}
