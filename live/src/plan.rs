//! Traffic plans: what a live run sends, as data.
//!
//! A plan is a TOML file (or one of the built-in plans, [`builtin`]): a daily load
//! curve with bursts (the harness's [`Shape`], played over a compressed day), pools
//! of ids with churn for the `{user}`, `{guild}` and `{session}` placeholders, and a
//! weighted list of actions — HTTP requests and WebSocket sessions. Every event the
//! curve produces picks one action by weight.
//!
//! ```toml
//! about = "cooldown floods"
//! users = 64                      # goose users: requests in flight at once
//! retention = "60s"               # the target's longest TTL, in wall time (optional)
//!
//! [load]                          # events per WALL second, by hour of the compressed day
//! trough = 5.0
//! peak = 40.0
//! peak_hour = 14.0
//! recurring = [{ first = "1h", every = "2h", count = 3000, over = "10m" }]  # day time
//! bursts = [{ at = "20h", count = 2000, over = "5m" }]
//!
//! [pools]                         # churn: share of the pool replaced per virtual hour
//! user = { size = 20000, churn = 0.5 }
//! guild = { size = 200 }
//!
//! [[http]]
//! weight = 9
//! method = "POST"
//! path = "/flag/{guild}/{user}"
//! body = '{"reason": "spam", "by": "{user}"}'      # optional; {user} is the path's id
//! headers = { content-type = "application/json" }   # optional
//!
//! [[ws]]
//! weight = 1
//! path = "/"
//! messages = [2, 6]               # data frames per session; the first joins {session}
//! ask = 0.3                       # share of later frames that open an interaction
//! resolve = 0.6                   # share of interactions the client resolves
//! hold = ["10s", "60s"]           # wall time the socket stays open after its frames
//! graceful = 0.75                 # departures: close handshake,
//! abrupt = 0.10                   #   socket closed without a close frame,
//! half_open = 0.15                #   silence with the socket left open (no pongs)
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use soak_harness::traffic::{Diurnal, Phase, Rng, Shape};
use soak_harness::units::parse_duration;

/// Built-in plans: name and TOML text (`live/plans/`).
pub const BUILTIN: [(&str, &str); 5] = [
    ("ws-churn", include_str!("../plans/ws-churn.toml")),
    ("ws-steady", include_str!("../plans/ws-steady.toml")),
    ("ws-churn-10k", include_str!("../plans/ws-churn-10k.toml")),
    ("cooldowns", include_str!("../plans/cooldowns.toml")),
    ("chat-bot", include_str!("../plans/chat-bot.toml")),
];

/// The built-in plan called `name`, parsed.
pub fn builtin(name: &str) -> Option<Result<Plan, String>> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| Plan::parse(n, text))
}

/// Loads `--plan`: a built-in name or a TOML file.
pub fn load(spec: &str) -> Result<Plan, String> {
    if let Some(p) = builtin(spec) {
        return p;
    }
    let path = Path::new(spec);
    let text = std::fs::read_to_string(path).map_err(|e| {
        let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        format!(
            "--plan '{spec}' is neither a built-in plan ({}) nor a readable file: {e}",
            names.join(", ")
        )
    })?;
    // The name becomes a directory and a scenario name: letters, digits, - and _.
    let name: String = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    let name = if name.is_empty() {
        "plan".to_string()
    } else {
        name
    };
    Plan::parse(&name, &text).map_err(|e| format!("plan {}: {e}", path.display()))
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Short name (built-in name or file stem).
    pub name: String,
    /// One line describing it.
    pub about: String,
    /// Goose users: requests in flight at once.
    pub users: usize,
    /// The load curve, events per wall second by hour of the day.
    pub load: LoadSpec,
    /// Id pools by placeholder name.
    pub pools: BTreeMap<String, Pool>,
    /// Weighted actions.
    pub actions: Vec<Action>,
    /// The target's longest retention (a TTL, a timeout), in wall time: no run
    /// shorter is judged, and the default warm-up waits it out (`retention = "60s"`).
    pub retention: Option<Duration>,
}

/// The load curve: a diurnal base plus bursts, in events per wall second, with
/// times of day in virtual (day) time.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    /// The daily curve (events per wall second).
    pub base: Diurnal,
    /// Bursts and recurring bursts (counts are events; times are day time).
    pub phases: Vec<Phase>,
}

impl LoadSpec {
    /// The curve as a [`Shape`] over *virtual* seconds when one virtual second
    /// lasts `1 / compression` wall seconds: rates per virtual second are the wall
    /// rates divided by the compression; burst counts stay counts.
    pub fn shape(&self, compression: f64) -> Shape {
        let k = compression.max(1e-9);
        let base = Diurnal::new(
            self.base.trough / k,
            self.base.peak / k,
            self.base.peak_hour,
        );
        let mut s = Shape::new(base);
        for p in &self.phases {
            s = s.with(p.clone());
        }
        s
    }
}

/// A pool of ids for one placeholder: `size` ids live at any time; `churn` of
/// them are replaced per virtual hour (new ids arrive, the oldest retire).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool {
    /// Ids live at once.
    pub size: u64,
    /// Share of the pool replaced per virtual hour.
    pub churn: f64,
}

impl Pool {
    /// An id live at virtual hour `hour`.
    pub fn draw(&self, rng: &mut Rng, hour: f64) -> u64 {
        let start = (self.size as f64 * self.churn * hour.max(0.0)).floor() as u64;
        start + rng.below(self.size.max(1))
    }
}

/// One weighted action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Relative weight.
    pub weight: f64,
    /// What it does.
    pub kind: ActionKind,
}

/// An HTTP request or a WebSocket session.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// One HTTP request.
    Http(HttpSpec),
    /// One WebSocket session.
    Ws(WsSpec),
}

/// An HTTP request template.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    /// `GET`, `POST`, `PUT`, `DELETE`, `PATCH` or `HEAD`.
    pub method: String,
    /// Path template with placeholders.
    pub path: String,
    /// Name in goose's report (default: `METHOD path-template`).
    pub name: String,
    /// Body template with placeholders (a placeholder the path has takes the
    /// path's id), if the request has a body.
    pub body: Option<String>,
    /// Headers sent with it, name and value.
    pub headers: Vec<(String, String)>,
}

/// How a WebSocket session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// Close handshake.
    Graceful,
    /// The socket is closed without a close frame.
    Abrupt,
    /// The client goes silent with its socket open (no pongs) until the server
    /// closes it or the run ends.
    HalfOpen,
}

/// A WebSocket session template.
#[derive(Debug, Clone, PartialEq)]
pub struct WsSpec {
    /// Request path of the upgrade.
    pub path: String,
    /// Data frames per session, inclusive range (the first is `join {session}`).
    pub messages: (u32, u32),
    /// Share of frames after the join that are `ask`.
    pub ask: f64,
    /// Share of asks the client resolves with `done ID`.
    pub resolve: f64,
    /// Wall time the socket stays open after the frames, inclusive range.
    pub hold: (Duration, Duration),
    /// Shares of departures: graceful, abrupt, half-open (sum to 1).
    pub departures: [f64; 3],
}

impl WsSpec {
    /// Requests one session makes on average: the connect plus its frames.
    pub fn mean_requests(&self) -> f64 {
        1.0 + (f64::from(self.messages.0) + f64::from(self.messages.1)) / 2.0
    }

    /// Draws a departure.
    pub fn departure(&self, rng: &mut Rng) -> Departure {
        let u = rng.unit();
        if u < self.departures[0] {
            Departure::Graceful
        } else if u < self.departures[0] + self.departures[1] {
            Departure::Abrupt
        } else {
            Departure::HalfOpen
        }
    }
}

impl Plan {
    /// Parses and validates a plan; errors are one line with the field at fault.
    pub fn parse(name: &str, text: &str) -> Result<Plan, String> {
        let raw: RawPlan = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        raw.validate(name)
    }

    /// Requests one event makes on average (HTTP 1, a WebSocket session its
    /// connect plus frames), weighted over the actions.
    pub fn requests_per_event(&self) -> f64 {
        let total: f64 = self.actions.iter().map(|a| a.weight).sum();
        self.actions
            .iter()
            .map(|a| {
                a.weight / total
                    * match &a.kind {
                        ActionKind::Http(_) => 1.0,
                        ActionKind::Ws(w) => w.mean_requests(),
                    }
            })
            .sum()
    }

    /// Picks an action index by weight.
    pub fn pick(&self, rng: &mut Rng) -> usize {
        let total: f64 = self.actions.iter().map(|a| a.weight).sum();
        let mut u = rng.unit() * total;
        for (i, a) in self.actions.iter().enumerate() {
            if u < a.weight {
                return i;
            }
            u -= a.weight;
        }
        self.actions.len() - 1
    }

    /// Fills the placeholders of `template` from the pools at virtual hour `hour`.
    pub fn render(&self, template: &str, rng: &mut Rng, hour: f64) -> String {
        self.render_with(template, rng, hour, |_, _| {})
    }

    /// [`Plan::render`], telling `on_id` each id it draws: the pool's index in
    /// [`PLACEHOLDERS`] and the id (the same draws, in the same order).
    pub fn render_with(
        &self,
        template: &str,
        rng: &mut Rng,
        hour: f64,
        mut on_id: impl FnMut(usize, u64),
    ) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let key = &after[..close];
                    match self.pools.get(key) {
                        Some(p) => {
                            let id = p.draw(rng, hour);
                            if let Some(i) = PLACEHOLDERS.iter().position(|&k| k == key) {
                                on_id(i, id);
                            }
                            out.push_str(&id.to_string());
                        }
                        None => {
                            out.push('{');
                            out.push_str(key);
                            out.push('}');
                        }
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Fills a body template: each `{user}`, `{guild}` and `{session}` gets the id
    /// its pool already gave the request (in `ids`: pool index, id — the path's),
    /// else a new draw, told to `on_id` and added to `ids`. Every other character,
    /// a JSON body's braces included, is sent as written.
    pub fn render_body(
        &self,
        template: &str,
        rng: &mut Rng,
        hour: f64,
        ids: &mut Vec<(usize, u64)>,
    ) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        'scan: while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            for (i, key) in PLACEHOLDERS.iter().enumerate() {
                let Some(tail) = after
                    .strip_prefix('{')
                    .and_then(|a| a.strip_prefix(key))
                    .and_then(|a| a.strip_prefix('}'))
                else {
                    continue;
                };
                let id = match ids.iter().find(|(p, _)| *p == i) {
                    Some(&(_, id)) => Some(id),
                    None => self.pools.get(*key).map(|p| {
                        let id = p.draw(rng, hour);
                        ids.push((i, id));
                        id
                    }),
                };
                if let Some(id) = id {
                    out.push_str(&id.to_string());
                    rest = tail;
                    continue 'scan;
                }
            }
            out.push('{');
            rest = &after[1..];
        }
        out.push_str(rest);
        out
    }

    /// The pools (indices into [`PLACEHOLDERS`], ascending) whose ids the HTTP
    /// actions' paths use.
    pub fn http_pools(&self) -> Vec<usize> {
        (0..PLACEHOLDERS.len())
            .filter(|&i| {
                let key = format!("{{{}}}", PLACEHOLDERS[i]);
                self.actions
                    .iter()
                    .any(|a| matches!(&a.kind, ActionKind::Http(h) if h.path.contains(&key)))
            })
            .collect()
    }

    /// What the `recent_*` load gauges count, if anything: the retention (their
    /// window) and [`Plan::http_pools`] — none without a retention or an HTTP
    /// path that names an id. The dispatcher counts and the load probe records
    /// exactly these.
    pub fn recent_pools(&self) -> Option<(Duration, Vec<usize>)> {
        let r = self.retention.filter(|r| !r.is_zero())?;
        let pools = self.http_pools();
        (!pools.is_empty()).then_some((r, pools))
    }

    /// Whether the plan opens WebSocket sessions.
    pub fn has_ws(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Ws(_)))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 3] = ["user", "guild", "session"];

fn default_pools() -> BTreeMap<String, Pool> {
    let mut m = BTreeMap::new();
    m.insert(
        "user".into(),
        Pool {
            size: 10_000,
            churn: 0.0,
        },
    );
    m.insert(
        "guild".into(),
        Pool {
            size: 100,
            churn: 0.0,
        },
    );
    m.insert(
        "session".into(),
        Pool {
            size: 1_000,
            churn: 0.0,
        },
    );
    m
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    #[serde(default)]
    about: String,
    #[serde(default = "default_users")]
    users: usize,
    load: RawLoad,
    #[serde(default)]
    pools: BTreeMap<String, RawPool>,
    #[serde(default)]
    http: Vec<RawHttp>,
    #[serde(default)]
    ws: Vec<RawWs>,
    #[serde(default)]
    retention: Option<String>,
}

fn default_users() -> usize {
    64
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    trough: f64,
    peak: f64,
    #[serde(default = "default_peak_hour")]
    peak_hour: f64,
    #[serde(default)]
    bursts: Vec<RawBurst>,
    #[serde(default)]
    recurring: Vec<RawRecurring>,
}

fn default_peak_hour() -> f64 {
    14.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBurst {
    at: String,
    count: u64,
    over: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecurring {
    first: String,
    every: String,
    count: u64,
    over: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    size: u64,
    #[serde(default)]
    churn: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    #[serde(default = "one")]
    weight: f64,
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn one() -> f64 {
    1.0
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWs {
    #[serde(default = "one")]
    weight: f64,
    #[serde(default = "slash")]
    path: String,
    messages: [u32; 2],
    #[serde(default)]
    ask: f64,
    #[serde(default)]
    resolve: f64,
    hold: [String; 2],
    #[serde(default = "one")]
    graceful: f64,
    #[serde(default)]
    abrupt: f64,
    #[serde(default)]
    half_open: f64,
}

fn slash() -> String {
    "/".into()
}

fn dur(field: &str, text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| format!("{field}: {e}"))
}

fn share(field: &str, v: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{field} must be between 0 and 1, got {v}"))
    }
}

fn check_template(field: &str, t: &str) -> Result<(), String> {
    if !t.starts_with('/') {
        return Err(format!("{field} '{t}' must start with '/'"));
    }
    check_placeholders(field, t)?;
    if t.contains(|c: char| c.is_whitespace()) {
        return Err(format!("{field} '{t}' must not contain spaces"));
    }
    Ok(())
}

/// Every `{…}` in `t` is one of [`PLACEHOLDERS`], and closed.
fn check_placeholders(field: &str, t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{field} '{t}' has an unclosed '{{'"))?;
        let key = &after[..close];
        if !PLACEHOLDERS.contains(&key) {
            return Err(format!(
                "{field} '{t}' uses {{{key}}}; placeholders are {{user}}, {{guild}}, {{session}}"
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// A header a plan sends: a valid name, and a value of visible characters.
fn check_header(field: &str, name: &str, value: &str) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{field}: '{name}' is not a header name"))?;
    HeaderValue::from_str(value)
        .map_err(|_| format!("{field}: the value of '{name}' is not a header value"))?;
    Ok(())
}

impl RawPlan {
    fn validate(self, name: &str) -> Result<Plan, String> {
        if self.users == 0 || self.users > 100_000 {
            return Err(format!("users must be 1 to 100000, got {}", self.users));
        }
        let load = self.load.validate()?;
        let pools = pools(&self.pools)?;
        let mut actions = Vec::new();
        for (i, h) in self.http.into_iter().enumerate() {
            actions.push(h.validate(i)?);
        }
        for (i, w) in self.ws.into_iter().enumerate() {
            actions.push(w.validate(i)?);
        }
        if actions.is_empty() {
            return Err("the plan has no [[http]] or [[ws]] action".into());
        }
        Ok(Plan {
            name: name.to_string(),
            about: self.about,
            users: self.users,
            load,
            pools,
            actions,
            retention: self
                .retention
                .as_deref()
                .map(|r| dur("retention", r))
                .transpose()?,
        })
    }
}

impl RawLoad {
    fn validate(&self) -> Result<LoadSpec, String> {
        let l = self;
        for (f, v) in [("load.trough", l.trough), ("load.peak", l.peak)] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{f} must be a non-negative rate, got {v}"));
            }
        }
        if l.peak < l.trough {
            return Err(format!(
                "load.peak ({}) must be at least load.trough ({})",
                l.peak, l.trough
            ));
        }
        if !(0.0..=24.0).contains(&l.peak_hour) {
            return Err(format!(
                "load.peak_hour must be between 0 and 24, got {}",
                l.peak_hour
            ));
        }
        let mut phases = Vec::new();
        for (i, b) in l.bursts.iter().enumerate() {
            let f = |k: &str| format!("load.bursts[{i}].{k}");
            let over = dur(&f("over"), &b.over)?;
            if over.is_zero() {
                return Err(format!("{} must be positive", f("over")));
            }
            phases.push(Phase::burst(dur(&f("at"), &b.at)?, b.count, over));
        }
        for (i, r) in l.recurring.iter().enumerate() {
            let f = |k: &str| format!("load.recurring[{i}].{k}");
            let every = dur(&f("every"), &r.every)?;
            let over = dur(&f("over"), &r.over)?;
            if every.is_zero() || over.is_zero() || over > every {
                return Err(format!(
                    "{} and {} must be positive with over ≤ every",
                    f("every"),
                    f("over")
                ));
            }
            phases.push(Phase::recurring(
                dur(&f("first"), &r.first)?,
                every,
                r.count,
                over,
            ));
        }
        Ok(LoadSpec {
            base: Diurnal::new(l.trough, l.peak, l.peak_hour),
            phases,
        })
    }
}

/// The plan's pools over the defaults.
fn pools(raw: &BTreeMap<String, RawPool>) -> Result<BTreeMap<String, Pool>, String> {
    let mut pools = default_pools();
    for (k, p) in raw {
        if !PLACEHOLDERS.contains(&k.as_str()) {
            return Err(format!(
                "pools.{k}: unknown pool; pools are user, guild, session"
            ));
        }
        if p.size == 0 {
            return Err(format!("pools.{k}.size must be at least 1"));
        }
        if !p.churn.is_finite() || p.churn < 0.0 {
            return Err(format!(
                "pools.{k}.churn must be a non-negative share per hour"
            ));
        }
        pools.insert(
            k.clone(),
            Pool {
                size: p.size,
                churn: p.churn,
            },
        );
    }
    Ok(pools)
}

impl RawHttp {
    fn validate(self, i: usize) -> Result<Action, String> {
        let h = self;
        let f = |k: &str| format!("http[{i}].{k}");
        let method = h.method.to_ascii_uppercase();
        if !["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"].contains(&method.as_str()) {
            return Err(format!(
                "{} '{}' is not an HTTP method",
                f("method"),
                h.method
            ));
        }
        check_template(&f("path"), &h.path)?;
        if !h.weight.is_finite() || h.weight <= 0.0 {
            return Err(format!("{} must be positive", f("weight")));
        }
        for (k, v) in &h.headers {
            check_header(&f("headers"), k, v)?;
        }
        let name = h.name.unwrap_or_else(|| format!("{method} {}", h.path));
        Ok(Action {
            weight: h.weight,
            kind: ActionKind::Http(HttpSpec {
                method,
                path: h.path,
                name,
                body: h.body,
                headers: h.headers.into_iter().collect(),
            }),
        })
    }
}

impl RawWs {
    fn validate(self, i: usize) -> Result<Action, String> {
        let w = self;
        let f = |k: &str| format!("ws[{i}].{k}");
        check_template(&f("path"), &w.path)?;
        if !w.weight.is_finite() || w.weight <= 0.0 {
            return Err(format!("{} must be positive", f("weight")));
        }
        if w.messages[0] == 0 || w.messages[0] > w.messages[1] || w.messages[1] > 10_000 {
            return Err(format!(
                "{} must be [min, max] with 1 ≤ min ≤ max ≤ 10000",
                f("messages")
            ));
        }
        let hold = (dur(&f("hold"), &w.hold[0])?, dur(&f("hold"), &w.hold[1])?);
        if hold.0 > hold.1 {
            return Err(format!("{} must be [min, max] with min ≤ max", f("hold")));
        }
        let departures = [
            share(&f("graceful"), w.graceful)?,
            share(&f("abrupt"), w.abrupt)?,
            share(&f("half_open"), w.half_open)?,
        ];
        let sum: f64 = departures.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            return Err(format!(
                "{}, {} and {} must add up to 1, got {sum}",
                f("graceful"),
                f("abrupt"),
                f("half_open")
            ));
        }
        Ok(Action {
            weight: w.weight,
            kind: ActionKind::Ws(WsSpec {
                path: w.path,
                messages: (w.messages[0], w.messages[1]),
                ask: share(&f("ask"), w.ask)?,
                resolve: share(&f("resolve"), w.resolve)?,
                hold,
                departures,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_plans_parse() {
        for (name, _) in BUILTIN {
            let p = builtin(name).expect("listed").expect("valid");
            assert!(p.requests_per_event() >= 1.0, "{name}");
            assert!(p.retention.is_some(), "{name} declares its retention");
        }
        let p = Plan::parse(
            "t",
            "retention = \"90s\"\n[load]\ntrough=1\npeak=1\n[[http]]\npath=\"/\"",
        )
        .expect("valid");
        assert_eq!(p.retention, Some(Duration::from_secs(90)));
    }

    #[test]
    fn bad_plans_say_what_is_wrong() {
        let cases = [
            ("load = 3", "load"),
            (
                "[load]\ntrough = 1\npeak = 2\n[[http]]\npath = \"/x/{nope}\"",
                "{nope}",
            ),
            ("[load]\ntrough = 1\npeak = 2", "no [[http]] or [[ws]]"),
            (
                "[load]\ntrough = 1\npeak = 2\n[[ws]]\nmessages=[1,2]\nhold=[\"1s\",\"2s\"]\ngraceful=0.5",
                "add up to 1",
            ),
            ("[load]\ntrough = 1\npeak = 2\nbogus = 1", "bogus"),
            (
                "retention = \"soon\"\n[load]\ntrough=1\npeak=1\n[[http]]\npath=\"/\"",
                "retention",
            ),
            (
                "[load]\ntrough=1\npeak=1\n[[http]]\npath=\"/\"\nheaders={\"bad name\"=\"x\"}",
                "http[0].headers: 'bad name' is not a header name",
            ),
            (
                "[load]\ntrough=1\npeak=1\n[[http]]\npath=\"/\"\nheaders={a=\"line\\nbreak\"}",
                "the value of 'a' is not a header value",
            ),
            (
                "[load]\ntrough=1\npeak=1\n[[http]]\npath=\"/\"\nbodee=\"x\"",
                "body",
            ),
        ];
        for (text, needle) in cases {
            let e = Plan::parse("t", text).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn a_body_takes_the_paths_ids_and_keeps_its_own_braces() {
        let p = Plan::parse(
            "t",
            "[load]\ntrough=1\npeak=1\n[pools]\nuser={size=1000}\nguild={size=7}\n\
             [[http]]\nmethod=\"POST\"\npath=\"/order/{user}\"\n\
             body='{\"user\": \"{user}\", \"guild\": {guild}, \"x\": \"{nope}\"}'\n\
             headers={content-type=\"application/json\"}",
        )
        .expect("valid");
        let ActionKind::Http(h) = &p.actions[0].kind else {
            panic!("an http action")
        };
        assert_eq!(
            h.headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        let mut rng = Rng::new(3);
        for _ in 0..10 {
            let mut ids = Vec::new();
            let path = p.render_with(&h.path, &mut rng, 1.0, |i, id| ids.push((i, id)));
            let body = p.render_body(h.body.as_deref().expect("a body"), &mut rng, 1.0, &mut ids);
            let (user, guild) = (ids[0].1, ids[1].1);
            assert_eq!(path, format!("/order/{user}"));
            assert_eq!(
                body,
                format!("{{\"user\": \"{user}\", \"guild\": {guild}, \"x\": \"{{nope}}\"}}")
            );
            // The body's new draw is counted among the ids the request named.
            assert_eq!(ids.len(), 2, "{ids:?}");
        }
    }

    #[test]
    fn templates_render_from_churning_pools() {
        let p = Plan::parse(
            "t",
            "[load]\ntrough=1\npeak=1\n[pools]\nuser={size=10,churn=1.0}\n[[http]]\npath=\"/u/{user}/{guild}\"",
        )
        .expect("valid");
        let mut rng = Rng::new(1);
        let early = p.render("/u/{user}", &mut rng, 0.0);
        let n: u64 = early[3..].parse().expect("a number");
        assert!(n < 10);
        let late = p.render("/u/{user}", &mut rng, 5.0);
        let m: u64 = late[3..].parse().expect("a number");
        assert!((50..60).contains(&m), "{late}");
    }

    #[test]
    fn rendering_tells_the_ids_it_drew_and_draws_the_same() {
        let p = Plan::parse(
            "t",
            "[load]\ntrough=1\npeak=1\n[pools]\nuser={size=1000}\nguild={size=7}\n\
             [[http]]\npath=\"/g/{guild}/u/{user}\"\n[[http]]\npath=\"/health\"",
        )
        .expect("valid");
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        for _ in 0..20 {
            let mut ids = Vec::new();
            let told = p.render_with("/g/{guild}/u/{user}/{nope}", &mut a, 1.0, |i, id| {
                ids.push((PLACEHOLDERS[i], id))
            });
            assert_eq!(told, p.render("/g/{guild}/u/{user}/{nope}", &mut b, 1.0));
            assert_eq!(
                told,
                format!("/g/{}/u/{}/{{nope}}", ids[0].1, ids[1].1),
                "{ids:?}"
            );
            assert_eq!((ids[0].0, ids[1].0, ids.len()), ("guild", "user", 2));
        }
        // The draws are the seed's: pinned (values from before `render_with`
        // existed), so a change to rendering cannot quietly change every run's
        // traffic.
        let mut rng = Rng::new(42);
        let paths: Vec<String> = (0..3)
            .map(|_| p.render("/g/{guild}/u/{user}", &mut rng, 2.0))
            .collect();
        assert_eq!(paths, ["/g/5/u/318", "/g/6/u/701", "/g/5/u/588"]);
        // The pools the HTTP paths use, in PLACEHOLDERS order: not `session`.
        let names: Vec<&str> = p.http_pools().iter().map(|&i| PLACEHOLDERS[i]).collect();
        assert_eq!(names, ["user", "guild"]);
    }
}
