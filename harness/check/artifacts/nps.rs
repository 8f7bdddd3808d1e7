//! NPS accounting logs: comma-separated, no header line; the column names are those of seed 003.

use std::collections::BTreeMap;

use super::error::{malformed, ArtifactError};
use crate::check::codes;
use crate::check::finding::{Evidence, Finding};

/// The column names, in order (the header line seed 003 gives).
pub const COLUMNS: &[&str] = &[
    "ComputerName",
    "ServiceName",
    "Record-Date",
    "Record-Time",
    "Packet-Type",
    "User-Name",
    "Fully-Qualified-Distinguished-Name",
    "Called-Station-ID",
    "Calling-Station-ID",
    "Callback-Number",
    "Framed-IP-Address",
    "NAS-Identifier",
    "NAS-IP-Address",
    "NAS-Port",
    "Client-Vendor",
    "Client-IP-Address",
    "Client-Friendly-Name",
    "Event-Timestamp",
    "Port-Limit",
    "NAS-Port-Type",
    "Connect-Info",
    "Framed-Protocol",
    "Service-Type",
    "Authentication-Type",
    "Policy-Name",
    "Reason-Code",
    "Class",
    "Session-Timeout",
    "Idle-Timeout",
    "Termination-Action",
    "EAP-Friendly-Name",
    "Acct-Status-Type",
    "Acct-Delay-Time",
    "Acct-Input-Octets",
    "Acct-Output-Octets",
    "Acct-Session-Id",
    "Acct-Authentic",
    "Acct-Session-Time",
    "Acct-Input-Packets",
    "Acct-Output-Packets",
    "Acct-Terminate-Cause",
    "Acct-Multi-Ssn-ID",
    "Acct-Link-Count",
    "Acct-Interim-Interval",
    "Tunnel-Type",
    "Tunnel-Medium-Type",
    "Tunnel-Client-Endpt",
    "Tunnel-Server-Endpt",
    "Acct-Tunnel-Conn",
    "Tunnel-Pvt-Group-ID",
    "Tunnel-Assignment-ID",
    "Tunnel-Preference",
    "MS-Acct-Auth-Type",
    "MS-Acct-EAP-Type",
    "MS-RAS-Version",
    "MS-RAS-Vendor",
    "MS-CHAP-Error",
    "MS-CHAP-Domain",
    "MS-MPPE-Encryption-Types",
    "MS-MPPE-Encryption-Policy",
    "Proxy-Policy-Name",
    "Provider-Type",
    "Provider-Name",
    "Remote-Server-Address",
    "MS-RAS-Client-Name",
    "MS-RAS-Client-Version",
];

/// NPS reason code 66: the authentication method is not enabled on the matching policy.
pub const REASON_AUTH_METHOD_NOT_ENABLED: &str = "66";

/// One record: the columns by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based line in the file.
    pub line: usize,
    /// Values in column order.
    pub values: Vec<String>,
}

impl Record {
    /// A column's value by name ("" when unknown).
    pub fn get(&self, column: &str) -> &str {
        COLUMNS
            .iter()
            .position(|c| *c == column)
            .and_then(|i| self.values.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Split one CSV line (double-quoted fields, "" as an escaped quote). Err is the byte column of the fault.
fn split(line: &str) -> Result<Vec<String>, usize> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek().map(|(_, n)| *n) == Some('"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.is_empty() => quoted = true,
            (false, '"') => return Err(i),
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(line.len());
    }
    out.push(cur);
    Ok(out)
}

/// Parse a log (a header line equal to seed 003's, if present, is skipped).
pub fn parse(text: &str) -> Result<Vec<Record>, ArtifactError> {
    let mut records = Vec::new();
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let l = line.trim_end_matches(['\r', '\n']);
        if l.trim().is_empty() || (n == 0 && l.starts_with("ComputerName,ServiceName")) {
            continue;
        }
        let values = split(l).map_err(|col| malformed(text, start + col, "unbalanced quote"))?;
        if values.len() != COLUMNS.len() {
            return Err(malformed(
                text,
                start,
                format!(
                    "expected {} comma-separated fields (seed 003's header), found {}",
                    COLUMNS.len(),
                    values.len()
                ),
            ));
        }
        records.push(Record {
            line: n + 1,
            values,
        });
    }
    if records.is_empty() {
        return Err(malformed(text, 0, "no records"));
    }
    Ok(records)
}

/// Packet-Type names.
pub fn packet_type(v: &str) -> &str {
    match v {
        "1" => "Access-Request",
        "2" => "Access-Accept",
        "3" => "Access-Reject",
        "4" => "Accounting-Request",
        other => other,
    }
}

/// Counts per user, policy and reason code.
pub fn summary(
    records: &[Record],
) -> (
    BTreeMap<String, usize>,
    BTreeMap<String, usize>,
    BTreeMap<String, usize>,
) {
    let mut users = BTreeMap::new();
    let mut policies = BTreeMap::new();
    let mut reasons = BTreeMap::new();
    for r in records {
        *users.entry(r.get("User-Name").to_string()).or_insert(0) += 1;
        *policies
            .entry(r.get("Policy-Name").to_string())
            .or_insert(0) += 1;
        *reasons.entry(r.get("Reason-Code").to_string()).or_insert(0) += 1;
    }
    (users, policies, reasons)
}

/// A rejected request is an authentication-method mismatch (812) when its reason code is 66, or when
/// `expected` (the method the profile or policy requires, e.g. "PEAP") is given and the EAP method used
/// (EAP-Friendly-Name) is a different one.
pub fn is_auth_mismatch(r: &Record, expected: Option<&str>) -> bool {
    if r.get("Packet-Type") != "3" {
        return false;
    }
    if r.get("Reason-Code") == REASON_AUTH_METHOD_NOT_ENABLED {
        return true;
    }
    let used = r.get("EAP-Friendly-Name");
    matches!(expected, Some(e) if !used.is_empty() && !used.to_ascii_lowercase().contains(&e.to_ascii_lowercase()))
}

/// Findings: the summary, and 812 for each mismatching user.
pub fn findings(target: &str, records: &[Record], expected: Option<&str>) -> Vec<Finding> {
    let (users, policies, reasons) = summary(records);
    let fmt = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{} ×{v}", if k.is_empty() { "(empty)" } else { k }))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = vec![Finding::new(
        codes::VPN_NPS_SUMMARY,
        target,
        format!(
            "{} records; users: {}; policies: {}; reason codes: {}",
            records.len(),
            fmt(&users),
            fmt(&policies),
            fmt(&reasons)
        ),
    )];
    let bad: Vec<&Record> = records
        .iter()
        .filter(|r| is_auth_mismatch(r, expected))
        .collect();
    if !bad.is_empty() {
        let mut f = Finding::new(
            codes::VPN_AUTH_MISMATCH,
            target,
            format!(
                "{} rejected requests used an authentication method the policy does not accept{} (error 812)",
                bad.len(),
                expected.map(|e| format!(" (expected {e})")).unwrap_or_default()
            ),
        );
        for r in bad.iter().take(10) {
            f.evidence.push(Evidence::new(
                format!(
                    "line {}: {} for {}",
                    r.line,
                    packet_type(r.get("Packet-Type")),
                    r.get("User-Name")
                ),
                format!(
                    "policy {:?}, reason code {}, EAP method {:?}",
                    r.get("Policy-Name"),
                    r.get("Reason-Code"),
                    r.get("EAP-Friendly-Name")
                ),
                std::time::Duration::ZERO,
            ));
        }
        out.push(f);
    }
    out
}
