//! PAC evaluation with a real JavaScript engine (QuickJS): the standard helper functions, with
//! `dnsResolve` bound to the client's resolver, and `FindProxyForURL`'s answer parsed.

use std::time::{Duration, Instant};

use rquickjs::{Context, Function, Runtime};

use crate::check::transport::proxy::ProxyUrl;

/// One entry of a PAC answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacRoute {
    /// DIRECT.
    Direct,
    /// PROXY host:port (or HTTPS host:port).
    Proxy(ProxyUrl),
}

/// Why a PAC script gave no usable answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacError {
    /// The engine could not start.
    #[error("JavaScript engine failed: {0}")]
    Engine(String),
    /// The script throws or has a syntax error.
    #[error("PAC script fails: {0}")]
    Script(String),
    /// FindProxyForURL is missing or returned something unusable.
    #[error("FindProxyForURL returned an unusable answer: {0:?}")]
    Answer(String),
    /// The script ran past its time limit (an endless loop, a catastrophic regular expression).
    #[error("PAC script did not finish in {} ms", limit.as_millis())]
    Timeout {
        /// The limit it ran past.
        limit: Duration,
    },
}

/// How long past its limit a PAC evaluation is waited for: the engine notices its deadline at its next
/// interrupt check, which a long native call (a regular expression) can delay.
const GRACE: Duration = Duration::from_millis(500);

const HELPERS: &str = r#"
function isPlainHostName(h){return h.indexOf('.')<0;}
function dnsDomainIs(h,d){h=String(h).toLowerCase();d=String(d).toLowerCase();return h.length>=d.length&&h.substring(h.length-d.length)==d;}
function localHostOrDomainIs(h,hd){h=String(h).toLowerCase();hd=String(hd).toLowerCase();return h==hd||(h.indexOf('.')<0&&hd.indexOf(h+'.')==0);}
function isResolvable(h){return __egl_resolve(String(h))!==null;}
function dnsResolve(h){var r=__egl_resolve(String(h));return r===null?null:r;}
function myIpAddress(){return __egl_myip;}
function dnsDomainLevels(h){return String(h).split('.').length-1;}
function __egl_ip(s){var p=String(s).split('.');if(p.length!=4)return null;var n=0;for(var i=0;i<4;i++){var v=parseInt(p[i],10);if(isNaN(v)||v<0||v>255)return null;n=n*256+v;}return n;}
function isInNet(h,pat,mask){var a=__egl_ip(h);if(a===null){var r=dnsResolve(h);if(r===null)return false;a=__egl_ip(r);}var p=__egl_ip(pat),m=__egl_ip(mask);if(a===null||p===null||m===null)return false;for(var i=3;i>=0;i--){var d=Math.pow(256,i);var ab=Math.floor(a/d)%256,pb=Math.floor(p/d)%256,mb=Math.floor(m/d)%256;if((ab&mb)!=(pb&mb))return false;}return true;}
function shExpMatch(s,p){var re='^'+String(p).replace(/[.+^${}()|[\]\\]/g,'\\$&').replace(/\*/g,'.*').replace(/\?/g,'.')+'$';return new RegExp(re).test(String(s));}
function weekdayRange(){return true;}
function dateRange(){return true;}
function timeRange(){return true;}
"#;

/// Evaluate `script`'s FindProxyForURL(url, host) on a thread of its own, waiting at most `limit` (and
/// a short grace): the checks never wait for a script without a bound. The engine stops itself at the
/// deadline; a thread held past it inside one native call is left to finish on its own.
pub(crate) async fn evaluate_bounded(
    script: String,
    url: String,
    host: String,
    my_ip: String,
    limit: Duration,
    resolve: impl Fn(&str) -> Option<String> + Send + 'static,
) -> Result<Vec<PacRoute>, PacError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("pac-eval".into())
        .spawn(move || {
            let _ = tx.send(evaluate(&script, &url, &host, &my_ip, limit, resolve));
        })
        .map_err(|e| PacError::Engine(format!("cannot start the PAC thread: {e}")))?;
    match tokio::time::timeout(limit + GRACE, rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => Err(PacError::Engine(
            "the PAC thread ended without an answer".into(),
        )),
        Err(_) => {
            tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "PAC evaluation still running past its limit; no longer waited for"
            );
            Err(PacError::Timeout { limit })
        }
    }
}

/// Evaluate `script`'s FindProxyForURL(url, host), stopping at `limit` (the engine's interrupt handler
/// ends the script). `resolve` answers dnsResolve (IPv4 text or None); `my_ip` is myIpAddress(). Runs
/// synchronously: call it from a thread of its own ([`evaluate_bounded`]).
pub fn evaluate(
    script: &str,
    url: &str,
    host: &str,
    my_ip: &str,
    limit: Duration,
    resolve: impl Fn(&str) -> Option<String> + 'static,
) -> Result<Vec<PacRoute>, PacError> {
    let deadline = Instant::now() + limit;
    let rt = Runtime::new().map_err(|e| PacError::Engine(e.to_string()))?;
    rt.set_memory_limit(32 * 1024 * 1024);
    rt.set_max_stack_size(512 * 1024);
    rt.set_interrupt_handler(Some(Box::new(move || Instant::now() >= deadline)));
    let ctx = Context::full(&rt).map_err(|e| PacError::Engine(e.to_string()))?;
    let answer: Result<String, PacError> = ctx.with(|ctx| {
        let caught = |e: rquickjs::Error, ctx: &rquickjs::Ctx<'_>| {
            if matches!(e, rquickjs::Error::Exception) {
                let v = ctx.catch();
                let msg = v
                    .as_exception()
                    .map(|x| x.message().unwrap_or_default())
                    .or_else(|| v.as_string().and_then(|s| s.to_string().ok()))
                    .unwrap_or_else(|| format!("{v:?}"));
                PacError::Script(msg)
            } else {
                PacError::Script(e.to_string())
            }
        };
        let globals = ctx.globals();
        let f = Function::new(ctx.clone(), move |h: String| resolve(&h))
            .map_err(|e| PacError::Engine(e.to_string()))?;
        globals
            .set("__egl_resolve", f)
            .map_err(|e| PacError::Engine(e.to_string()))?;
        globals
            .set("__egl_myip", my_ip.to_string())
            .map_err(|e| PacError::Engine(e.to_string()))?;
        ctx.eval::<(), _>(HELPERS).map_err(|e| caught(e, &ctx))?;
        ctx.eval::<(), _>(script).map_err(|e| caught(e, &ctx))?;
        let find: Function = globals
            .get("FindProxyForURL")
            .map_err(|_| PacError::Answer("FindProxyForURL is not defined".into()))?;
        let v: rquickjs::Value = find
            .call((url.to_string(), host.to_string()))
            .map_err(|e| caught(e, &ctx))?;
        match v.as_string().and_then(|s| s.to_string().ok()) {
            Some(s) => Ok(s),
            None => Err(PacError::Answer(format!("{v:?}"))),
        }
    });
    match answer {
        // The interrupt handler's uncatchable "interrupted", or whatever the script was doing then.
        Err(PacError::Script(_)) if Instant::now() >= deadline => Err(PacError::Timeout { limit }),
        answer => parse_answer(&answer?),
    }
}

/// Parse "PROXY h:p; DIRECT" (SOCKS entries are skipped: the checks speak HTTP proxies only).
pub fn parse_answer(answer: &str) -> Result<Vec<PacRoute>, PacError> {
    let mut out = Vec::new();
    for part in answer.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        match (
            words.next().map(str::to_ascii_uppercase).as_deref(),
            words.next(),
        ) {
            (Some("DIRECT"), None) => out.push(PacRoute::Direct),
            (Some("PROXY"), Some(hp)) => out.push(PacRoute::Proxy(
                ProxyUrl::parse(&format!("http://{hp}"))
                    .ok_or_else(|| PacError::Answer(answer.into()))?,
            )),
            (Some("HTTPS"), Some(hp)) => out.push(PacRoute::Proxy(
                ProxyUrl::parse(&format!("https://{hp}"))
                    .ok_or_else(|| PacError::Answer(answer.into()))?,
            )),
            (Some("SOCKS" | "SOCKS4" | "SOCKS5"), Some(_)) => {}
            _ => return Err(PacError::Answer(answer.into())),
        }
    }
    if out.is_empty() {
        return Err(PacError::Answer(answer.into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    const PAC: &str = r#"function FindProxyForURL(url, host) {
        if (isPlainHostName(host) || dnsDomainIs(host, ".corp.example")) return "DIRECT";
        if (isInNet(dnsResolve(host), "10.0.0.0", "255.0.0.0")) return "DIRECT";
        if (shExpMatch(host, "*.msappproxy.net")) return "PROXY proxy.corp.example:3128; DIRECT";
        return "PROXY fallback.corp.example:8080";
    }"#;

    fn r(h: &str) -> Option<String> {
        match h {
            "intranet.lab" => Some("10.1.2.3".into()),
            "x.msappproxy.net" | "other.example" => Some("192.0.2.1".into()),
            _ => None,
        }
    }

    #[test]
    fn helpers_and_answers() {
        assert_eq!(
            evaluate(PAC, "https://app/", "app", "10.0.0.5", SECOND, r).unwrap(),
            vec![PacRoute::Direct]
        );
        assert_eq!(
            evaluate(
                PAC,
                "https://intranet.lab/",
                "intranet.lab",
                "10.0.0.5",
                SECOND,
                r
            )
            .unwrap(),
            vec![PacRoute::Direct]
        );
        let v = evaluate(
            PAC,
            "https://x.msappproxy.net/",
            "x.msappproxy.net",
            "10.0.0.5",
            SECOND,
            r,
        )
        .unwrap();
        assert_eq!(
            v[0],
            PacRoute::Proxy(ProxyUrl::parse("http://proxy.corp.example:3128").unwrap())
        );
        assert_eq!(v[1], PacRoute::Direct);
        assert!(matches!(
            evaluate(
                PAC,
                "https://other.example/",
                "other.example",
                "1.1.1.1",
                SECOND,
                r
            )
            .unwrap()[0],
            PacRoute::Proxy(_)
        ));
    }

    #[test]
    fn broken_scripts_are_errors() {
        assert!(
            matches!(evaluate("function FindProxyForURL(u,h){ throw new Error('boom'); }", "http://a/", "a", "1.1.1.1", SECOND, r), Err(PacError::Script(m)) if m.contains("boom"))
        );
        assert!(matches!(
            evaluate("function (", "http://a/", "a", "1.1.1.1", SECOND, r),
            Err(PacError::Script(_))
        ));
        assert!(matches!(
            evaluate("var x = 1;", "http://a/", "a", "1.1.1.1", SECOND, r),
            Err(PacError::Answer(_))
        ));
        assert!(matches!(
            evaluate(
                "function FindProxyForURL(u,h){ return 'BOGUS'; }",
                "http://a/",
                "a",
                "1.1.1.1",
                SECOND,
                r
            ),
            Err(PacError::Answer(_))
        ));
    }

    /// Issue 20, break 2: an endless script hung `egresslab check` at 100 % of a core for ever.
    #[test]
    fn endless_scripts_stop_at_the_limit_with_a_timeout() {
        let limit = Duration::from_millis(200);
        for script in [
            "function FindProxyForURL(u,h){while(true){}}",
            "for(;;){}",
            "function FindProxyForURL(u,h){try{for(;;){}}catch(e){}return 'DIRECT';}",
            "function FindProxyForURL(u,h){return FindProxyForURL(u,h)+'';}",
        ] {
            let start = Instant::now();
            let got = evaluate(script, "http://a/", "a", "1.1.1.1", limit, r);
            let took = start.elapsed();
            assert!(took < Duration::from_secs(3), "{script}: took {took:?}");
            if script.contains("return FindProxyForURL") {
                // Deep recursion hits the stack limit first: an error, not a hang.
                assert!(got.is_err(), "{script}: {got:?}");
            } else {
                assert_eq!(got, Err(PacError::Timeout { limit }), "{script}");
            }
        }
        assert_eq!(
            PacError::Timeout { limit }.to_string(),
            "PAC script did not finish in 200 ms"
        );
    }

    #[tokio::test]
    async fn a_script_stuck_in_native_code_is_not_waited_for_past_the_limit() {
        // A catastrophic regular expression never reaches the engine's interrupt check.
        let script = "function FindProxyForURL(u,h){ var s=''; for (var i=0;i<64;i++) s+='a'; /^(a+)+$/.test(s+'!'); return 'DIRECT'; }";
        let limit = Duration::from_millis(200);
        let start = Instant::now();
        let got = evaluate_bounded(
            script.into(),
            "http://a/".into(),
            "a".into(),
            "1.1.1.1".into(),
            limit,
            r,
        )
        .await;
        assert_eq!(got, Err(PacError::Timeout { limit }));
        assert!(
            start.elapsed() < limit + GRACE + Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        let quick = evaluate_bounded(
            "function FindProxyForURL(u,h){return 'DIRECT';}".into(),
            "http://a/".into(),
            "a".into(),
            "1.1.1.1".into(),
            limit,
            r,
        )
        .await;
        assert_eq!(quick, Ok(vec![PacRoute::Direct]));
    }
}
