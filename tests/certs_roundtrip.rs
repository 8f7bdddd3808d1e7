//! proptest: random host names, validity windows and EKU sets survive mint → PEM → parse.

use ::time::OffsetDateTime;
use egresslab_certs::{Factory, LeafSpec};
use proptest::prelude::*;
use x509_parser::prelude::*;

fn label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,14}[a-z0-9])?"
}

fn host() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), any::<bool>()).prop_map(|(labels, wildcard)| {
        let name = format!("{}.egresslab.test", labels.join("."));
        if wildcard {
            format!("*.{name}")
        } else {
            name
        }
    })
}

const EKUS: &[&str] = &[
    "1.3.6.1.5.5.7.3.1",
    "1.3.6.1.5.5.7.3.2",
    "1.3.6.1.5.5.7.3.4",
    "1.3.6.1.4.1.311.87",
    "1.3.6.1.5.5.8.2.2",
];

fn parsed_ekus(cert: &X509Certificate<'_>) -> Vec<String> {
    let Some(ext) = cert.extended_key_usage().unwrap() else {
        return Vec::new();
    };
    let e = ext.value;
    let mut out: Vec<String> = e.other.iter().map(|o| o.to_id_string()).collect();
    if e.server_auth {
        out.push(EKUS[0].into());
    }
    if e.client_auth {
        out.push(EKUS[1].into());
    }
    if e.email_protection {
        out.push(EKUS[2].into());
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn minted_fields_round_trip(
        hosts in prop::collection::vec(host(), 1..4),
        start_offset_days in -4000i64..4000,
        length_days in 1i64..4000,
        eku_mask in 0u8..32,
    ) {
        let factory = Factory::ephemeral().unwrap();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let not_before = now + ::time::Duration::days(start_offset_days);
        let not_after = not_before + ::time::Duration::days(length_days);
        let mut ekus: Vec<String> = EKUS.iter().enumerate()
            .filter(|(i, _)| eku_mask & (1 << i) != 0)
            .map(|(_, o)| o.to_string())
            .collect();
        let spec = LeafSpec { hosts: hosts.clone(), not_before, not_after, ekus: ekus.clone() };
        let minted = factory.mint_spec(&spec).unwrap();

        let pem_text = minted.chain_pem();
        let blocks = ::pem::parse_many(pem_text.as_bytes()).unwrap();
        prop_assert_eq!(blocks.len(), 2);
        let (_, cert) = X509Certificate::from_der(blocks[0].contents()).unwrap();
        let cn = cert.subject().iter_common_name().next().unwrap().as_str().unwrap().to_string();
        prop_assert_eq!(&cn, &hosts[0]);
        let sans: Vec<String> = cert.subject_alternative_name().unwrap().unwrap().value
            .general_names.iter()
            .filter_map(|g| match g { GeneralName::DNSName(d) => Some(d.to_string()), _ => None })
            .collect();
        prop_assert_eq!(sans, hosts.clone());
        prop_assert_eq!(cert.validity().not_before.to_datetime(), not_before);
        prop_assert_eq!(cert.validity().not_after.to_datetime(), not_after);
        ekus.sort();
        prop_assert_eq!(parsed_ekus(&cert), ekus.clone());

        // The crate's own inspection agrees with the independent parse.
        let info = minted.info().unwrap();
        let mut info_ekus = info.ekus.clone();
        info_ekus.sort();
        prop_assert_eq!(info_ekus, ekus);
        prop_assert_eq!(info.not_before, not_before);
        prop_assert_eq!(info.subject_common_name.as_deref(), Some(hosts[0].as_str()));
    }
}
