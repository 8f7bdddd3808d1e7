//! The control API's toxic bodies: any bytes posted as a new toxic or as an update give a toxic or
//! a 400 with Toxiproxy's error shape, never a panic; what is accepted prints back as JSON that
//! reads again as the same toxic.
#![no_main]

use egresslab::lab::control::Toxic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Toxic::from_body(data) {
        Ok(toxic) => {
            let again = Toxic::from_body(toxic.to_json().to_string().as_bytes())
                .expect("a toxic's own JSON reads back");
            assert_eq!(again, toxic);
            if let Err(error) = toxic.updated(data) {
                assert_eq!(error.status, 400);
            }
        }
        Err(error) => assert!(matches!(error.status, 400 | 409) && !error.message.is_empty()),
    }
});
