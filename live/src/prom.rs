//! The Prometheus text exposition format, read: every numeric series of a
//! target's `/metrics` becomes a column of `samples.csv`; and a scrape over a plain
//! loopback TCP connection (HTTP/1.1, `Connection: close`).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::addr::Endpoint;

/// Most series taken from one target (the rest are counted, not sampled).
pub const MAX_SERIES: usize = 64;

/// One series of a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Column name: the metric name and label values, `[a-z0-9_]`.
    pub column: String,
    /// The metric name as exposed (without labels).
    pub metric: String,
    /// Whether it has labels.
    pub labelled: bool,
    /// The value.
    pub value: f64,
    /// `# TYPE … counter` (monotonic: reported, never listed as a grown gauge).
    pub counter: bool,
}

/// Parses an exposition. Histogram buckets and `_created` series are skipped;
/// malformed lines are ignored (a scrape is evidence, not input to validate).
pub fn parse(text: &str) -> Vec<Series> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(n), Some(t)) = (it.next(), it.next()) {
                types.insert(n.to_string(), t.to_string());
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((metric, labels, rest)) = split_series(line) else {
            continue;
        };
        if metric.ends_with("_bucket") || metric.ends_with("_created") {
            continue;
        }
        let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let base = metric
            .strip_suffix("_total")
            .filter(|b| types.contains_key(*b))
            .unwrap_or(metric);
        let counter = types
            .get(metric)
            .or_else(|| types.get(base))
            .is_some_and(|t| t == "counter");
        let mut column = sanitize(metric);
        for v in labels.values() {
            column.push('_');
            column.push_str(&sanitize(v));
        }
        out.push(Series {
            column,
            metric: metric.to_string(),
            labelled: !labels.is_empty(),
            value,
            counter,
        });
    }
    out
}

/// `name{a="x",b="y"} rest` → (name, labels, rest).
fn split_series(line: &str) -> Option<(&str, BTreeMap<String, String>, &str)> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut key = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '}' => {
                    end = Some(i + 1);
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return None;
                    }
                    let mut val = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '\\')) => match chars.next() {
                                Some((_, 'n')) => val.push('\n'),
                                Some((_, c)) => val.push(c),
                                None => return None,
                            },
                            Some((_, '"')) => break,
                            Some((_, c)) => val.push(c),
                            None => return None,
                        }
                    }
                    labels.insert(std::mem::take(&mut key), val);
                }
                c => key.push(c),
            }
        }
        rest = &body[end?..];
    }
    Some((name, labels, rest))
}

/// Lower-case, every character outside `[a-z0-9_]` replaced by `_`.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// GETs `endpoint` and returns the body of a 200 answer.
pub async fn scrape(endpoint: &Endpoint, timeout: Duration) -> Result<String, String> {
    tokio::time::timeout(timeout, get(endpoint))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

/// Largest answer read (a `/metrics` page or an inspector's target list):
/// past it the answer is refused, not read on.
pub const MAX_ANSWER: usize = 64 << 20;

async fn get(endpoint: &Endpoint) -> Result<String, String> {
    let mut s = TcpStream::connect(endpoint.addr)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", endpoint.addr))?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: soak-live\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        endpoint.path(),
        endpoint.host_header()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // Read to the end, or to the length the answer gives: a server may keep the
    // connection open after it (Node's inspector does).
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16 << 10];
    loop {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_ANSWER {
            return Err(format!("an answer past {} MiB", MAX_ANSWER >> 20));
        }
        if whole(&buf) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "the answer is not HTTP".to_string())?;
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    if status != "200" {
        return Err(format!("status {status}"));
    }
    Ok(
        if header(head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

/// The value of the header `name` in an answer's head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Whether `reply` holds a whole answer by its `Content-Length` (one without a
/// length ends when the server closes).
fn whole(reply: &[u8]) -> bool {
    let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&reply[..end]);
    header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .and_then(|n| (end + 4).checked_add(n))
        .is_some_and(|total| reply.len() >= total)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_whole_at_its_content_length_or_its_close() {
        let mut reply = b"HTTP/1.0 200 OK\r\ncontent-length: 4\r\n\r\n[1,".to_vec();
        assert!(!whole(&reply), "a body still arriving");
        reply.extend_from_slice(b"2]");
        assert!(whole(&reply));
        // No length (read to the close), headers not ended, an absurd length.
        assert!(!whole(b"HTTP/1.1 200 OK\r\n\r\nabc"));
        assert!(!whole(b"HTTP/1.1 200 OK\r\nContent-Length: 2"));
        assert!(!whole(
            b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"
        ));
        assert_eq!(
            header(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked",
                "transfer-encoding"
            ),
            Some("chunked")
        );
    }

    #[test]
    fn parses_types_labels_and_skips_buckets() {
        let text = "# HELP a_total things\n# TYPE a_total counter\na_total 12\n\
                    # TYPE g gauge\ng{kind=\"x y\",b=\"q\\\"z\"} 3.5 1700000000\n\
                    h_bucket{le=\"1\"} 4\nbad line here\nuntyped +Inf\n";
        let s = parse(text);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0].column, "a_total");
        assert!(s[0].counter);
        assert_eq!(s[1].column, "g_q_z_x_y");
        assert!(s[1].labelled && !s[1].counter);
        assert_eq!(s[1].value, 3.5);
        assert!(s[2].value.is_infinite());
    }

    #[test]
    fn dechunks() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}
