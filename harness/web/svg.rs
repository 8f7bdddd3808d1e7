//! The topology of [`super::plan_json`] drawn as inline SVG on the server, for the report (no
//! script runs there): client, proxies, firewall per vantage, endpoints, names and UDP, each box
//! coloured by its state and the expected failure framed.

use std::fmt::Write as _;

use serde_json::Value;

use super::report::escape;

const WIDTH: u32 = 760;
const BOX_W: u32 = 170;
const LINE: u32 = 14;

struct Placed {
    x: u32,
    y: u32,
    height: u32,
}

/// The kinds of element an expected diagnosis code points at (`proxy.auth_required` → proxies).
fn expected_kind(topology: &Value, kind: &str) -> bool {
    topology["expected"]["diagnoses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|code| {
            let area = code.split('.').next().unwrap_or_default();
            let pointed = match area {
                "proxy" | "pac" => "proxy",
                "firewall" | "net" | "tcp" => "firewall",
                "dns" => "dns",
                "udp" | "vpn" | "ike" => "udp",
                _ => "endpoint",
            };
            pointed == kind
        })
}

fn draw_box(
    out: &mut String,
    x: u32,
    y: u32,
    kind: &str,
    lines: &[String],
    status: &str,
    expected: bool,
) -> Placed {
    let height = 10 + LINE * lines.len() as u32;
    let (fill, stroke, dash) = match status {
        "down" => ("#f6d2d2", "#333", ""),
        "warn" => ("#fde9bf", "#333", ""),
        _ => ("#d9f2dc", "#333", ""),
    };
    let (stroke, width, dash) = if expected {
        ("#b00020", 3, " stroke-dasharray=\"6 3\"")
    } else {
        (stroke, 1, dash)
    };
    let _ = write!(
        out,
        "<g class=\"node {status}\" data-kind=\"{kind}\"><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{height}\" rx=\"5\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}/>"
    );
    for (i, line) in lines.iter().enumerate() {
        let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
        let short: String = line.chars().take(26).collect();
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\"{weight}>{}</text>",
            x + 6,
            y + 16 + LINE * i as u32,
            escape(&short)
        );
    }
    out.push_str("</g>");
    Placed { x, y, height }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The picture, as an `<svg>` element.
pub(super) fn topology(topology: &Value) -> String {
    let list = |key: &str| topology[key].as_array().cloned().unwrap_or_default();
    let (proxies, endpoints, firewall, udp) = (
        list("proxies"),
        list("endpoints"),
        list("firewall"),
        list("udp"),
    );
    let mut body = String::new();
    let client_line = match topology["client"]["mode"].as_str() {
        Some("proxy") => format!("via {}", text(&topology["client"]["proxy"])),
        Some(mode) => mode.to_owned(),
        None => String::new(),
    };
    let client = draw_box(
        &mut body,
        5,
        10,
        "client",
        &["client".to_owned(), client_line],
        "ok",
        false,
    );
    let mut proxy_boxes = Vec::new();
    let mut y = 10;
    for proxy in &proxies {
        let mut lines = vec![
            format!("proxy {}", text(&proxy["name"])),
            text(&proxy["personality"]),
        ];
        let auth = proxy["auth"]
            .as_array()
            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(","));
        lines.push(format!(
            "auth: {}",
            auth.clone().unwrap_or_else(|| "none".into())
        ));
        if proxy["interception"] == true {
            lines.push("interception: on".into());
        }
        if !proxy["parent"].is_null() {
            lines.push(format!("parent: {}", text(&proxy["parent"])));
        }
        if !proxy["fault"].is_null() {
            lines.push(format!("fault: {}", text(&proxy["fault"])));
        }
        let status = if proxy["down"] == true {
            "down"
        } else if auth.is_some() || !proxy["fault"].is_null() {
            "warn"
        } else {
            "ok"
        };
        let placed = draw_box(
            &mut body,
            195,
            y,
            "proxy",
            &lines,
            status,
            expected_kind(topology, "proxy"),
        );
        y += placed.height + 12;
        proxy_boxes.push(placed);
    }
    let mut wall_boxes = Vec::new();
    let mut vantages: Vec<(String, Vec<&Value>)> = Vec::new();
    for rule in &firewall {
        let from = text(&rule["from"]);
        match vantages.iter_mut().find(|(v, _)| *v == from) {
            Some((_, rules)) => rules.push(rule),
            None => vantages.push((from, vec![rule])),
        }
    }
    let mut y = 10;
    for (from, rules) in &vantages {
        let mut lines = vec![format!("firewall {from}")];
        lines.extend(rules.iter().take(4).map(|r| {
            let port = r["port"]
                .as_u64()
                .map(|p| format!(":{p}"))
                .unwrap_or_default();
            format!("{} {}{port}", text(&r["action"]), text(&r["hosts"]))
        }));
        let status = if rules.iter().any(|r| r["action"] != "allow") {
            "warn"
        } else {
            "ok"
        };
        let placed = draw_box(
            &mut body,
            385,
            y,
            "firewall",
            &lines,
            status,
            expected_kind(topology, "firewall"),
        );
        y += placed.height + 12;
        wall_boxes.push(placed);
    }
    let mut end_boxes = Vec::new();
    let mut y = 10;
    for endpoint in &endpoints {
        let hosts = endpoint["hosts"]
            .as_array()
            .map(|h| h.iter().map(text).collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        let mut lines = vec![
            format!("endpoint {}", text(&endpoint["name"])),
            format!("{hosts}:{}", text(&endpoint["port"])),
        ];
        let tls = &endpoint["tls"];
        let status = if tls.is_null() {
            lines.push(text(&endpoint["kind"]));
            "ok"
        } else {
            lines.push(format!(
                "TLS {} {}",
                text(&tls["profile"]),
                text(&tls["versions"])
            ));
            if tls["profile"] != "valid" {
                lines.push(text(&tls["defect"]));
            }
            if !tls["client_auth"].is_null() {
                lines.push(format!("client cert: {}", text(&tls["client_auth"])));
            }
            if tls["profile"] == "valid" {
                "ok"
            } else {
                "warn"
            }
        };
        let placed = draw_box(
            &mut body,
            580,
            y,
            "endpoint",
            &lines,
            status,
            expected_kind(topology, "endpoint"),
        );
        y += placed.height + 12;
        end_boxes.push(placed);
    }
    let columns_bottom = [&proxy_boxes, &wall_boxes, &end_boxes]
        .iter()
        .flat_map(|boxes| boxes.last())
        .map(|b| b.y + b.height)
        .max()
        .unwrap_or(40)
        .max(client.y + client.height);
    let mut bottom = columns_bottom + 14;
    let mut x = 5;
    if topology["names"]["dns"] == true {
        let count = topology["names"]["nxdomain"].as_array().map_or(0, Vec::len);
        draw_box(
            &mut body,
            x,
            bottom,
            "dns",
            &["names (DNS)".into(), format!("NXDOMAIN: {count}")],
            "ok",
            expected_kind(topology, "dns"),
        );
        x += BOX_W + 20;
    }
    for responder in &udp {
        let status = if responder["behaviour"] == "silent" {
            "down"
        } else {
            "ok"
        };
        draw_box(
            &mut body,
            x,
            bottom,
            "udp",
            &[
                format!("udp {}", text(&responder["name"])),
                format!(
                    "{}:{} {}",
                    text(&responder["host"]),
                    text(&responder["port"]),
                    text(&responder["behaviour"])
                ),
            ],
            status,
            expected_kind(topology, "udp"),
        );
        x += BOX_W + 20;
    }
    if topology["names"]["dns"] == true || !udp.is_empty() {
        bottom += 10 + 2 * LINE + 10;
    }
    // Edges: client → its proxy (or the next column), proxies → the firewall or endpoints.
    let mut lines = String::new();
    let mut edge = |from: &Placed, to: &Placed| {
        let _ = write!(
            lines,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#555\"/>",
            from.x + BOX_W,
            from.y + from.height / 2,
            to.x,
            to.y + to.height / 2
        );
    };
    let targets = if wall_boxes.is_empty() {
        &end_boxes
    } else {
        &wall_boxes
    };
    let first_proxy = proxies
        .iter()
        .position(|p| p["name"] == topology["client"]["proxy"]);
    match first_proxy.and_then(|i| proxy_boxes.get(i)) {
        Some(first) => edge(&client, first),
        None => targets.iter().for_each(|t| edge(&client, t)),
    }
    for placed in &proxy_boxes {
        targets.iter().for_each(|t| edge(placed, t));
    }
    if !wall_boxes.is_empty() {
        for wall in &wall_boxes {
            end_boxes.iter().for_each(|t| edge(wall, t));
        }
    }
    let height = bottom.max(60);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"topology\">{lines}{body}</svg>"
    )
}
